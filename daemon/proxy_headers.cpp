#include "daemon/proxy_headers.hpp"

#include <strings.h>

#include "svckit/resilience/deadline.hpp"

namespace svckit::daemon {

namespace beast_http = http::beast_http;
using namespace std::string_view_literals;

namespace {

bool has_token(std::string_view list, std::string_view token) {
  std::size_t start = 0;
  while (start < list.size()) {
    auto comma = list.find(',', start);
    if (comma == std::string_view::npos) comma = list.size();
    auto item = list.substr(start, comma - start);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (!item.empty() && iequals(item, token)) return true;
    start = comma + 1;
  }
  return false;
}

bool upgrade_field(beast_http::field id) {
  return id == beast_http::field::connection || id == beast_http::field::upgrade;
}

/// The fixed hop-by-hop fields (RFC 9110 7.6.1), all of which Beast knows by id: Beast maps every
/// name it knows to its id whatever the case, so a field whose id is `unknown` is none of them.
bool fixed_hop_by_hop(beast_http::field id) {
  switch (id) {
    case beast_http::field::connection:
    case beast_http::field::keep_alive:
    case beast_http::field::proxy_connection:
    case beast_http::field::proxy_authenticate:
    case beast_http::field::proxy_authorization:
    case beast_http::field::te:
    case beast_http::field::trailer:
    case beast_http::field::transfer_encoding:
    case beast_http::field::upgrade:
      return true;
    default:
      return false;
  }
}

/// Fields in which a proxy states facts about the original request: Forwarded (known to Beast)
/// and the X- ones (not), compared only for fields Beast does not know.
bool forwarding_claim(beast_http::field id, std::string_view name) {
  if (id == beast_http::field::forwarded) return true;
  if (id != beast_http::field::unknown) return false;
  for (const auto h :
       {"x-forwarded-host"sv, "x-forwarded-proto"sv, "x-forwarded-port"sv, "x-forwarded-prefix"sv, "x-real-ip"sv}) {
    if (iequals(name, h)) return true;
  }
  return false;
}

/// The hop-by-hop test of a field whose id is known (no name comparisons for the fixed list).
bool hop_by_hop(beast_http::field id, std::string_view name, std::string_view connection_tokens) {
  return fixed_hop_by_hop(id) || (!connection_tokens.empty() && has_token(connection_tokens, name));
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool hop_by_hop(std::string_view name, std::string_view connection_tokens) {
  return hop_by_hop(beast_http::string_to_field(name), name, connection_tokens);
}

ConnectionTokens::ConnectionTokens(const beast_http::fields& fields) {
  // A walk over the few fields a message has, comparing ids: Beast's lookup by field compares
  // names case-insensitively down its tree.
  int seen = 0;
  for (const auto& field : fields) {
    if (field.name() != beast_http::field::connection) continue;
    if (++seen == 1) {
      single_ = field.value();
      continue;
    }
    if (seen == 2) joined_.assign(single_);
    joined_.append(",").append(field.value());
  }
}

bool wants_upgrade(const http::RequestHead& head) {
  const ConnectionTokens connection(head);
  return !connection.text().empty() && has_token(connection.text(), "upgrade") &&
         !head[beast_http::field::upgrade].empty();
}

HeadFacts scan_head(const http::RequestHead& head) {
  HeadFacts facts;
  // Beast's values point into their field even when empty: a null data() is "not seen yet".
  const auto first = [](std::string_view& slot, std::string_view value) {
    if (slot.data() == nullptr) slot = value;
  };
  for (const auto& field : head) {
    switch (field.name()) {
      case beast_http::field::host:
        first(facts.host, field.value());
        break;
      case beast_http::field::content_type:
        first(facts.content_type, field.value());
        break;
      case beast_http::field::unknown: {
        const std::string_view name = field.name_string();
        if (name.size() == 11 && iequals(name, "traceparent"sv)) {
          first(facts.traceparent, field.value());
        } else if (name.size() == 10 && iequals(name, "tracestate"sv)) {
          first(facts.tracestate, field.value());
        } else if (name.size() == kDeadlineHeader.size() && iequals(name, kDeadlineHeader)) {
          first(facts.deadline, field.value());
        }
        break;
      }
      default:
        break;
    }
  }
  return facts;
}

beast_http::fields upstream_fields(const http::RequestHead& head, const Forwarding& forwarding) {
  const bool keep_upgrade = forwarding.keep_upgrade;
  const bool trusted_peer = forwarding.trusted_peer;
  beast_http::fields out;  // built once and moved into the upstream request: no list of pairs between
  const ConnectionTokens tokens(head);
  const auto connection = tokens.text();
  std::string forwarded_for;
  bool kept_proto = false;
  bool kept_host = false;
  std::string prefix;     // a trusted proxy's X-Forwarded-Prefix, then ours
  std::string_view host;  // the first Host field (a request has one; the server refuses two)
  for (const auto& field : head) {
    const std::string_view name = field.name_string();
    const auto id = field.name();
    if (id == beast_http::field::host && host.empty()) host = field.value();
    if (keep_upgrade && upgrade_field(id)) {
      out.insert(id, name, field.value());
      continue;
    }
    if (hop_by_hop(id, name, connection) || id == beast_http::field::host || id == beast_http::field::content_length ||
        id == beast_http::field::content_type || id == beast_http::field::expect ||
        (id == beast_http::field::unknown && iequals(name, kDeadlineHeader))) {
      continue;
    }
    if (id == beast_http::field::unknown && iequals(name, "x-forwarded-for"sv)) {
      forwarded_for.append(field.value()).append(", ");
      continue;
    }
    if (forwarding_claim(id, name)) {
      if (!trusted_peer) continue;  // a client's word about the original request is not taken
      if (iequals(name, "x-forwarded-prefix"sv)) {
        prefix = field.value();
        continue;
      }
      kept_proto = kept_proto || iequals(name, "x-forwarded-proto"sv);
      kept_host = kept_host || iequals(name, "x-forwarded-host"sv);
    }
    out.insert(id, name, field.value());
  }
  // Beast has no ids for the X-Forwarded-* names: inserted as `unknown` without looking them up.
  constexpr auto kUnknown = beast_http::field::unknown;
  if (forwarded_for.empty()) {
    out.insert(kUnknown, "X-Forwarded-For", forwarding.remote_address);
  } else {
    forwarded_for += forwarding.remote_address;
    out.insert(kUnknown, "X-Forwarded-For", forwarded_for);
  }
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  prefix += forwarding.prefix;
  if (!prefix.empty()) out.insert(kUnknown, "X-Forwarded-Prefix", prefix);
  if (!kept_proto) out.insert(kUnknown, "X-Forwarded-Proto", forwarding.https ? "https" : "http");
  if (!kept_host && !host.empty()) out.insert(kUnknown, "X-Forwarded-Host", host);
  return out;
}

void strip_hop_by_hop(http::Response& response, bool keep_upgrade) {
  // A copy: the loop erases the Connection fields the tokens would otherwise point into (short
  // values, "keep-alive", stay in the string's own buffer).
  const std::string connection(ConnectionTokens(response).text());
  for (auto it = response.begin(); it != response.end();) {
    const auto id = it->name();
    const bool keep = keep_upgrade && upgrade_field(id);
    it = !keep && hop_by_hop(id, it->name_string(), connection) ? response.erase(it) : std::next(it);
  }
}

}  // namespace svckit::daemon
