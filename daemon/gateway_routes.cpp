#include "daemon/gateway_routes.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>

#include "daemon/ascii.hpp"
#include "svckit/registry/registry.hpp"

namespace svckit::daemon {

namespace {

/// "Example.com:8080" -> "example.com"; "[::1]:80" -> "[::1]".
std::string host_only(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    const auto end = host.find(']');
    return ascii_lower(host.substr(0, end == std::string_view::npos ? host.size() : end + 1));
  }
  return ascii_lower(host.substr(0, host.find(':')));
}

bool host_matches(const std::string& pattern, const std::string& host) {
  if (pattern.empty()) return true;
  if (pattern.size() > 2 && pattern.starts_with("*.")) {
    const std::string_view suffix(pattern.data() + 1, pattern.size() - 1);  // ".example.com"
    return host.size() > suffix.size() && host.ends_with(suffix);
  }
  return pattern == host;
}

/// The rest of `path` after `prefix` if it matches by whole segments.
std::optional<std::string_view> strip(std::string_view path, std::string_view prefix) {
  if (prefix == "/") return path;
  if (!path.starts_with(prefix)) return std::nullopt;
  auto rest = path.substr(prefix.size());
  if (!rest.empty() && rest.front() != '/' && rest.front() != '?') return std::nullopt;
  return rest;
}

Error route_error(const std::string& source, const std::string& field, const std::string& message) {
  return make_error(ErrorCode::invalid_argument, source + ": " + field + ": " + message, field);
}

}  // namespace

Result<std::vector<GatewayRoute>> parse_routes(const YAML::Node& node, const std::string& source) {
  std::vector<GatewayRoute> routes;
  if (node.IsNull()) return routes;
  if (!node.IsSequence()) return route_error(source, "gateway.routes", "must be a list of routes");
  for (std::size_t i = 0; i < node.size(); ++i) {
    const auto where = "gateway.routes[" + std::to_string(i) + "]";
    const auto& entry = node[i];
    if (!entry.IsMap()) return route_error(source, where, "must be a mapping (host, prefix, service, strip_prefix)");
    GatewayRoute route;
    for (const auto& kv : entry) {
      const auto key = kv.first.as<std::string>();
      const auto field = where + "." + key;
      if (!kv.second.IsScalar()) return route_error(source, field, "must be a single value");
      const auto value = kv.second.as<std::string>();
      if (key == "host") {
        route.host = ascii_lower(value);
        if (route.host.find_first_of(" /:") != std::string::npos)
          return route_error(source, field, "'" + value + "' is not a host name (no port, no path)");
      } else if (key == "prefix") {
        if (value.empty() || value.front() != '/' || value.find_first_of("?# ") != std::string::npos)
          return route_error(source, field, "'" + value + "' must be a path starting with /");
        route.prefix = value.size() > 1 && value.back() == '/' ? value.substr(0, value.size() - 1) : value;
      } else if (key == "service") {
        route.service = value;
        if (auto valid = validate_service_name(value, field); !valid)
          return route_error(source, field, valid.error().message);
      } else if (key == "strip_prefix") {
        if (value != "true" && value != "false") return route_error(source, field, "must be true or false");
        route.strip_prefix = value == "true";
      } else {
        return route_error(source, field, "unknown key (expected host, prefix, service, strip_prefix)");
      }
    }
    if (route.service.empty()) return route_error(source, where + ".service", "is required");
    routes.push_back(std::move(route));
  }
  return routes;
}

std::optional<RouteMatch> match_route(const RouteTable& table, std::string_view host, std::string_view target) {
  if (!table.routes.empty()) {
    const auto name = host_only(host);
    for (const auto& route : table.routes) {
      if (!host_matches(route.host, name)) continue;
      const auto rest = strip(target, route.prefix);
      if (!rest) continue;
      RouteMatch match{route.service, std::string(route.strip_prefix ? *rest : target), true, {}};
      if (match.path.empty() || match.path.front() != '/') match.path.insert(0, "/");
      if (route.strip_prefix) {
        match.stripped_prefix = route.prefix;
        while (!match.stripped_prefix.empty() && match.stripped_prefix.back() == '/') match.stripped_prefix.pop_back();
      }
      return match;
    }
  }
  if (!table.service_paths || target.size() < 2 || target.front() != '/') return std::nullopt;
  // /{service}/{rest...}: the service is the first segment; the rest (with the query) goes upstream.
  const auto end = target.find_first_of("/?", 1);
  RouteMatch match{
      std::string(target.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1)), "/", false, {}};
  match.stripped_prefix = "/" + match.service;
  if (end != std::string_view::npos)
    match.path = target[end] == '?' ? "/" + std::string(target.substr(end)) : std::string(target.substr(end));
  return match;
}

}  // namespace svckit::daemon
