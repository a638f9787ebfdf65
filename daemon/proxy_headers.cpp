#include "daemon/proxy_headers.hpp"

#include <strings.h>

#include "svckit/resilience/deadline.hpp"

namespace svckit::daemon {

namespace beast_http = http::beast_http;

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

bool upgrade_field(std::string_view name) { return iequals(name, "connection") || iequals(name, "upgrade"); }

/// Fields in which a proxy states facts about the original request.
bool forwarding_claim(std::string_view name) {
  for (const char* h :
       {"x-forwarded-host", "x-forwarded-proto", "x-forwarded-port", "x-forwarded-prefix", "x-real-ip", "forwarded"}) {
    if (iequals(name, h)) return true;
  }
  return false;
}
}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

bool hop_by_hop(std::string_view name, std::string_view connection_tokens) {
  for (const char* h : {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "transfer-encoding", "upgrade"}) {
    if (iequals(name, h)) return true;
  }
  return has_token(connection_tokens, name);
}

std::string connection_tokens(const beast_http::fields& fields) {
  std::string out;
  for (auto [it, end] = fields.equal_range(beast_http::field::connection); it != end; ++it) {
    out += std::string(it->value()) + ",";
  }
  return out;
}

bool wants_upgrade(const http::RequestHead& head) {
  return has_token(connection_tokens(head), "upgrade") && !head[beast_http::field::upgrade].empty();
}

beast_http::fields upstream_fields(const http::RequestHead& head, const Forwarding& forwarding) {
  const bool keep_upgrade = forwarding.keep_upgrade;
  const bool trusted_peer = forwarding.trusted_peer;
  beast_http::fields out;  // built once and moved into the upstream request: no list of pairs between
  const auto connection = connection_tokens(head);
  std::string forwarded_for;
  bool kept_proto = false;
  bool kept_host = false;
  std::string prefix;  // a trusted proxy's X-Forwarded-Prefix, then ours
  for (const auto& field : head) {
    const std::string_view name = field.name_string();
    const auto id = field.name();
    if (keep_upgrade && upgrade_field(name)) {
      out.insert(id, name, field.value());
      continue;
    }
    if (hop_by_hop(name, connection) || id == beast_http::field::host || id == beast_http::field::content_length ||
        id == beast_http::field::content_type || id == beast_http::field::expect || iequals(name, kDeadlineHeader)) {
      continue;
    }
    if (iequals(name, "x-forwarded-for")) {
      forwarded_for.append(field.value()).append(", ");
      continue;
    }
    if (forwarding_claim(name)) {
      if (!trusted_peer) continue;  // a client's word about the original request is not taken
      if (iequals(name, "x-forwarded-prefix")) {
        prefix = field.value();
        continue;
      }
      kept_proto = kept_proto || iequals(name, "x-forwarded-proto");
      kept_host = kept_host || iequals(name, "x-forwarded-host");
    }
    out.insert(id, name, field.value());
  }
  forwarded_for += forwarding.remote_address;
  out.insert("X-Forwarded-For", forwarded_for);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  prefix += forwarding.prefix;
  if (!prefix.empty()) out.insert("X-Forwarded-Prefix", prefix);
  if (!kept_proto) out.insert("X-Forwarded-Proto", forwarding.https ? "https" : "http");
  if (const auto host = head[beast_http::field::host]; !host.empty() && !kept_host) {
    out.insert("X-Forwarded-Host", host);
  }
  return out;
}

void strip_hop_by_hop(http::Response& response, bool keep_upgrade) {
  const auto connection = connection_tokens(response);
  for (auto it = response.begin(); it != response.end();) {
    const auto name = it->name_string();
    const bool keep = keep_upgrade && upgrade_field(name);
    it = !keep && hop_by_hop(name, connection) ? response.erase(it) : std::next(it);
  }
}

}  // namespace svckit::daemon
