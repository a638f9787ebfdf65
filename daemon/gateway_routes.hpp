// Gateway routes: which service a request goes to, by Host header and path prefix (from YAML),
// then by the default /{service}/{rest...} form. Pure functions; a RouteTable is immutable.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "daemon/jwt.hpp"
#include "svckit/core/result.hpp"

namespace YAML {  // NOLINT(readability-identifier-naming): yaml-cpp's name
class Node;
}

namespace svckit::daemon {

/// Who may call a route. Immutable once parsed (keys loaded), shared by the route's copies.
struct RouteAuth {
  enum class Kind { none, jwt, api_key };
  Kind kind = Kind::none;
  std::vector<JwtKey> jwt_keys;  // jwt: from jwt_keys_file (JWKS or PEM) or jwt_secret_file (HS256)
  JwtChecks jwt_checks;          // jwt_issuer, jwt_audience, jwt_leeway
  /// jwt_forward_claims "sub=X-User-Id,scope=X-Scopes": a verified claim → a header to the
  /// upstream (a client's own header of that name is always dropped).
  std::vector<std::pair<std::string, std::string>> forward_claims;
  std::string api_key_header = "X-Api-Key";          // api_key: the header carrying the key
  std::map<std::string, std::string> api_key_names;  // SHA-256 of a key → its name (api_keys_file)
  /// forward_authorization: pass the client's Authorization (or API key header) upstream.
  /// Default false: dropped once verified.
  bool forward_credentials = false;
  /// The key files read (jwt_keys_file, jwt_secret_file, api_keys_file): svckitd reloads the routes
  /// when one of them changes, as when the config file does.
  std::vector<std::string> files;
  /// Unique per parse: the gateway's per-thread cache of verified tokens is valid for one id only,
  /// so a reload (new keys) never serves a token verified with the old ones.
  std::uint64_t id = 0;
};

/// rate_limit (requests/s), rate_limit_burst, rate_limit_by: peer (default), api_key, claim:<name>.
struct RouteLimit {
  double per_second = 0;  // 0 = none
  double burst = 0;       // 0 = 2 x per_second
  std::string by = "peer";
  std::size_t max_clients = 10'000;  // rate_limit_clients: buckets kept (least recently seen go)
};

/// One configured route. YAML:  gateway.routes: [{host: shop.example.com, prefix: /api, service: x}]
struct GatewayRoute {
  /// Host header to match, case-insensitive, port ignored; "*.example.com" matches any subdomain
  /// (not example.com itself). Empty: any host.
  std::string host;
  /// Path prefix, matched by whole segments ("/api" matches /api, /api/x and /api?q, not /apix).
  std::string prefix = "/";
  std::string service;  // REQUIRES: a valid service name (parse_routes checks; the gateway trusts it)
  /// Default true: the prefix is removed before the request goes upstream (/api/x -> /x).
  bool strip_prefix = true;
  std::shared_ptr<const RouteAuth> auth;  // null: anyone may call it
  RouteLimit limit;
};

class PeerRateLimiter;

struct RouteTable {
  std::vector<GatewayRoute> routes;  // tried in order: the first match wins
  /// Default true: requests no route matched are routed as /{service}/{rest...}.
  bool service_paths = true;
  /// One per route, set by the gateway when it takes the table (null: the route has no
  /// rate_limit). A reload starts every client's bucket full again.
  std::vector<std::shared_ptr<PeerRateLimiter>> limiters;
  /// Services some route guards (auth or rate_limit), set by the gateway with the limiters: the
  /// /{service}/{path} form does not reach them, or it would go around the guard.
  std::vector<std::string> guarded_services;
};

struct RouteMatch {
  std::string service;
  std::string path;  // what goes upstream: path and query
  bool by_route = false;
  /// The prefix removed from the path ("/{service}", or a route's prefix when it strips it; no
  /// trailing slash); empty when nothing was removed. Sent upstream as X-Forwarded-Prefix.
  std::string stripped_prefix;
  std::size_t route_index = 0;  // with by_route: which of the table's routes
};

/// Every key file the routes' authentication read (RouteAuth::files).
std::vector<std::string> route_key_files(const std::vector<GatewayRoute>& routes);

/// Parses a gateway.routes YAML sequence. Errors name the entry and field ("gateway.routes[1].service").
Result<std::vector<GatewayRoute>> parse_routes(const YAML::Node& node, const std::string& source);

/// Where a request for `target` (path and query) with Host `host` goes; nullopt: no route, and the
/// default form does not apply (service_paths off, or the target is "/").
std::optional<RouteMatch> match_route(const RouteTable& table, std::string_view host, std::string_view target);

}  // namespace svckit::daemon
