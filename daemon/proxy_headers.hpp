// Header hygiene for a reverse proxy (RFC 9110 7.6.1): what crosses a hop and what does not.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "svckit/http/types.hpp"

namespace svckit::daemon {

bool iequals(std::string_view a, std::string_view b);

/// Hop-by-hop: the fixed list, plus any field the Connection header names (`connection_tokens`).
bool hop_by_hop(std::string_view name, std::string_view connection_tokens);

/// Every Connection field's value, joined with commas: a view of the one field's value when there
/// is one (the usual case: no copy), an owned string only when a message repeats the field. The
/// view is valid while `fields` is unchanged: copy it before erasing fields.
class ConnectionTokens {
 public:
  explicit ConnectionTokens(const http::beast_http::fields& fields);
  ConnectionTokens(const ConnectionTokens&) = delete;
  ConnectionTokens& operator=(const ConnectionTokens&) = delete;
  std::string_view text() const noexcept { return joined_.empty() ? single_ : std::string_view(joined_); }

 private:
  std::string_view single_;  // the only Connection field's value (views into `fields`)
  std::string joined_;       // several fields: their values joined
};

/// A request asking for a protocol upgrade (WebSocket): Connection names "upgrade" and Upgrade is set.
bool wants_upgrade(const http::RequestHead& head);

/// The fields the gateway reads from every request, found in one walk over its head (Beast's
/// lookups compare names case-insensitively down a tree, one walk per field asked for). The first
/// of a repeated field, as `head[name]` gives. Views into the head: valid while it is.
struct HeadFacts {
  std::string_view host;
  std::string_view content_type;
  std::string_view traceparent;
  std::string_view tracestate;
  std::string_view deadline;  // the svckit deadline header (kDeadlineHeader)
};
HeadFacts scan_head(const http::RequestHead& head);

/// How the request reached the gateway, for the X-Forwarded-* fields.
struct Forwarding {
  std::string_view remote_address;  // the client's address (appended to X-Forwarded-For)
  /// The path prefix the gateway removed ("/orders" of /orders/api/x), sent as X-Forwarded-Prefix
  /// so frameworks that build absolute URLs (redirects) put it back. Empty: nothing was removed.
  std::string_view prefix;
  bool keep_upgrade = false;  // keep Connection: upgrade and Upgrade (a WebSocket handshake)
  bool trusted_peer = false;  // the peer is a configured trusted proxy
  bool https = false;         // the client reached the gateway over TLS (X-Forwarded-Proto: https)
};

/// The request's end-to-end fields for the upstream (Host, Content-Length, Content-Type and the
/// deadline header left out: the client sets them; Expect too: the gateway answers 100-continue), with
/// X-Forwarded-For appended to (the client's chain, then its address) and X-Forwarded-Proto/-Host
/// and -Prefix set. X-Forwarded-Host/-Proto/-Port/-Prefix, X-Real-IP and Forwarded from the client are
/// dropped (a client could otherwise claim another host or https) unless the peer is trusted, in
/// which case they pass, the gateway's own Proto/Host are added only where missing, and its prefix
/// is appended to the one received (a proxy in front removed /a, the gateway /b: "/a/b").
http::beast_http::fields upstream_fields(const http::RequestHead& head, const Forwarding& forwarding);

/// Removes hop-by-hop fields from an upstream answer; `keep_upgrade` keeps those of a 101.
void strip_hop_by_hop(http::Response& response, bool keep_upgrade = false);

}  // namespace svckit::daemon
