// Gateway access: per route, who may call it (a JWT or an API key, verified before anything goes
// upstream) and how often (a token bucket per client: its address, its API key or a JWT claim).
// Pure request logic over a route and its limiter; gateway.cpp calls it for every request.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "daemon/gateway_routes.hpp"
#include "daemon/peer_rate_limiter.hpp"
#include "svckit/http/types.hpp"

namespace svckit::daemon {

/// What an admitted request carries upstream besides its own headers.
struct AccessGrant {
  std::vector<std::pair<std::string, std::string>> add_headers;  // verified claims
  std::vector<std::string> drop_headers;                         // credentials, and client copies of the claim headers
  std::string identity;                                          // for the access log: the key's name, the JWT's sub
};

/// nullopt: admitted (`grant` filled in). Otherwise the answer: 401 with WWW-Authenticate (no, bad
/// or expired credential), or 429 with Retry-After and RateLimit-Limit/-Remaining/-Reset (the
/// client is over the route's rate). `limiter` may be null (no rate limit).
std::optional<http::Response> check_access(const GatewayRoute& route, PeerRateLimiter* limiter,
                                           const http::RequestHead& head, const std::string& peer, SystemTime now,
                                           AccessGrant& grant);

/// The headers going upstream with the grant applied: `drop_headers` removed (names compared
/// case-insensitively), `add_headers` appended. For proxied requests and WebSocket handshakes alike.
void apply_grant(http::beast_http::fields& fields, const AccessGrant& grant);

}  // namespace svckit::daemon
