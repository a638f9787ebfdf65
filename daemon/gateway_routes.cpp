#include "daemon/gateway_routes.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "daemon/acl_tokens.hpp"
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

Result<double> positive_number(const std::string& source, const std::string& field, const std::string& value) {
  char* end = nullptr;
  const double v = std::strtod(value.c_str(), &end);
  if (value.empty() || *end != '\0' || !(v > 0) || v > 1e9) {
    return route_error(source, field, "'" + value + "' is not a positive number");
  }
  return v;
}

/// The authentication and rate-limit keys of a route (jwt_*, api_key*, auth, rate_limit*).
Result<void> apply_access_key(GatewayRoute& route, RouteAuth& auth, const std::string& key, const std::string& value,
                              const std::string& field, const std::string& source) {
  if (key == "auth") {
    if (value == "none") {
      auth.kind = RouteAuth::Kind::none;
    } else if (value == "jwt") {
      auth.kind = RouteAuth::Kind::jwt;
    } else if (value == "api_key") {
      auth.kind = RouteAuth::Kind::api_key;
    } else {
      return route_error(source, field, "'" + value + "' is not none, jwt or api_key");
    }
  } else if (key == "jwt_keys_file" || key == "jwt_secret_file") {
    auto keys = key == "jwt_keys_file" ? load_jwt_keys(value, field) : load_jwt_secret(value, field);
    if (!keys) return route_error(source, field, keys.error().message);
    auth.files.push_back(value);
    auth.jwt_keys.insert(auth.jwt_keys.end(), keys->begin(), keys->end());
  } else if (key == "jwt_issuer") {
    auth.jwt_checks.issuer = value;
  } else if (key == "jwt_audience") {
    auth.jwt_checks.audience = value;
  } else if (key == "jwt_leeway") {
    auto seconds = positive_number(source, field, value);
    if (!seconds || *seconds > 3600) return route_error(source, field, "must be 1..3600 seconds");
    auth.jwt_checks.leeway = std::chrono::seconds(static_cast<std::int64_t>(*seconds));
  } else if (key == "jwt_forward_claims") {
    std::size_t start = 0;
    while (start < value.size()) {
      auto comma = value.find(',', start);
      if (comma == std::string::npos) comma = value.size();
      const auto item = value.substr(start, comma - start);
      const auto eq = item.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == item.size() ||
          item.find_first_of(" :\r\n", eq + 1) != std::string::npos) {
        return route_error(source, field, "'" + item + "' is not claim=Header-Name");
      }
      auth.forward_claims.emplace_back(item.substr(0, eq), item.substr(eq + 1));
      start = comma + 1;
    }
  } else if (key == "api_key_header") {
    if (value.empty() || value.find_first_of(" :\r\n") != std::string::npos) {
      return route_error(source, field, "'" + value + "' is not a header name");
    }
    auth.api_key_header = value;
  } else if (key == "api_keys_file") {
    std::ifstream in(value);
    if (!in) return route_error(source, field, "cannot read " + value);
    auth.files.push_back(value);
    std::string line;
    int number = 0;
    while (std::getline(in, line)) {
      ++number;
      if (line.empty() || line.front() == '#') continue;
      std::istringstream words(line);
      std::string name, secret, extra;
      words >> name >> secret;
      if (secret.size() < 16 || (words >> extra)) {
        return route_error(
            source, field,
            value + " line " + std::to_string(number) + ": expected '<name> <key>' with a key of 16+ bytes");
      }
      auth.api_key_names[AclTokenStore::digest(secret)] = name;
    }
  } else if (key == "forward_authorization") {
    if (value != "true" && value != "false") return route_error(source, field, "must be true or false");
    auth.forward_credentials = value == "true";
  } else if (key == "rate_limit" || key == "rate_limit_burst") {
    auto v = positive_number(source, field, value);
    if (!v) return v.error();
    (key == "rate_limit" ? route.limit.per_second : route.limit.burst) = *v;
  } else if (key == "rate_limit_by") {
    if (value != "peer" && value != "api_key" && !(value.starts_with("claim:") && value.size() > 6)) {
      return route_error(source, field, "'" + value + "' is not peer, api_key or claim:<name>");
    }
    route.limit.by = value;
  } else if (key == "rate_limit_clients") {
    auto v = positive_number(source, field, value);
    if (!v) return v.error();
    route.limit.max_clients = static_cast<std::size_t>(*v);
  } else {
    return route_error(source, field,
                       "unknown key (expected host, prefix, service, strip_prefix, auth, jwt_keys_file, "
                       "jwt_secret_file, jwt_issuer, jwt_audience, jwt_leeway, jwt_forward_claims, api_keys_file, "
                       "api_key_header, forward_authorization, rate_limit, rate_limit_burst, rate_limit_by, "
                       "rate_limit_clients)");
  }
  return {};
}

/// Cross-key rules of a route's access settings; attaches the auth when there is one.
Result<void> finish_access(GatewayRoute& route, RouteAuth& auth, const std::string& where, const std::string& source) {
  using Kind = RouteAuth::Kind;
  if (auth.kind == Kind::jwt && auth.jwt_keys.empty()) {
    return route_error(source, where + ".jwt_keys_file", "auth: jwt needs jwt_keys_file or jwt_secret_file");
  }
  if (auth.kind == Kind::api_key && auth.api_key_names.empty()) {
    return route_error(source, where + ".api_keys_file", "auth: api_key needs an api_keys_file with keys");
  }
  if (auth.kind != Kind::jwt && (!auth.jwt_keys.empty() || !auth.forward_claims.empty())) {
    return route_error(source, where + ".auth", "jwt_* settings need auth: jwt");
  }
  if (route.limit.per_second == 0 && (route.limit.burst > 0 || route.limit.by != "peer")) {
    return route_error(source, where + ".rate_limit", "rate_limit_burst and rate_limit_by need rate_limit");
  }
  if (route.limit.by == "api_key" && auth.kind != Kind::api_key) {
    return route_error(source, where + ".rate_limit_by", "api_key needs auth: api_key");
  }
  if (route.limit.by.starts_with("claim:") && auth.kind != Kind::jwt) {
    return route_error(source, where + ".rate_limit_by", "claim:<name> needs auth: jwt");
  }
  static std::atomic<std::uint64_t> next_id{1};
  auth.id = next_id.fetch_add(1);
  if (auth.kind != Kind::none) route.auth = std::make_shared<const RouteAuth>(std::move(auth));
  return {};
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
    RouteAuth auth;
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
      } else if (auto applied = apply_access_key(route, auth, key, value, field, source); !applied) {
        return applied.error();
      }
    }
    if (route.service.empty()) return route_error(source, where + ".service", "is required");
    if (auto checked = finish_access(route, auth, where, source); !checked) return checked.error();
    routes.push_back(std::move(route));
  }
  return routes;
}

std::vector<std::string> route_key_files(const std::vector<GatewayRoute>& routes) {
  std::vector<std::string> out;
  for (const auto& route : routes) {
    if (route.auth) out.insert(out.end(), route.auth->files.begin(), route.auth->files.end());
  }
  return out;
}

std::optional<RouteMatch> match_route(const RouteTable& table, std::string_view host, std::string_view target) {
  if (!table.routes.empty()) {
    const auto name = host_only(host);
    for (const auto& route : table.routes) {
      if (!host_matches(route.host, name)) continue;
      const auto rest = strip(target, route.prefix);
      if (!rest) continue;
      RouteMatch match{route.service,
                       std::string(route.strip_prefix ? *rest : target),
                       true,
                       {},
                       static_cast<std::size_t>(&route - table.routes.data())};
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
  RouteMatch match{std::string(target.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1)),
                   "/",
                   false,
                   {},
                   0};
  match.stripped_prefix = "/" + match.service;
  if (end != std::string_view::npos)
    match.path = target[end] == '?' ? "/" + std::string(target.substr(end)) : std::string(target.substr(end));
  return match;
}

}  // namespace svckit::daemon
