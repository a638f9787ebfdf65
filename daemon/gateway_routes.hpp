// Gateway routes: which service a request goes to, by Host header and path prefix (from YAML),
// then by the default /{service}/{rest...} form. Pure functions; a RouteTable is immutable.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/core/result.hpp"

namespace YAML {  // NOLINT(readability-identifier-naming): yaml-cpp's name
class Node;
}

namespace svckit::daemon {

/// One configured route. YAML:  gateway.routes: [{host: shop.example.com, prefix: /api, service: x}]
struct GatewayRoute {
  /// Host header to match, case-insensitive, port ignored; "*.example.com" matches any subdomain
  /// (not example.com itself). Empty: any host.
  std::string host;
  /// Path prefix, matched by whole segments ("/api" matches /api, /api/x and /api?q, not /apix).
  std::string prefix = "/";
  std::string service;
  /// Default true: the prefix is removed before the request goes upstream (/api/x -> /x).
  bool strip_prefix = true;
};

struct RouteTable {
  std::vector<GatewayRoute> routes;  // tried in order: the first match wins
  /// Default true: requests no route matched are routed as /{service}/{rest...}.
  bool service_paths = true;
};

struct RouteMatch {
  std::string service;
  std::string path;  // what goes upstream: path and query
  bool by_route = false;
  /// The prefix removed from the path ("/{service}", or a route's prefix when it strips it; no
  /// trailing slash); empty when nothing was removed. Sent upstream as X-Forwarded-Prefix.
  std::string stripped_prefix;
};

/// Parses a gateway.routes YAML sequence. Errors name the entry and field ("gateway.routes[1].service").
Result<std::vector<GatewayRoute>> parse_routes(const YAML::Node& node, const std::string& source);

/// Where a request for `target` (path and query) with Host `host` goes; nullopt: no route, and the
/// default form does not apply (service_paths off, or the target is "/").
std::optional<RouteMatch> match_route(const RouteTable& table, std::string_view host, std::string_view target);

}  // namespace svckit::daemon
