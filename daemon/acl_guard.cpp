#include "daemon/acl_guard.hpp"

#include <array>

#include "daemon/ascii.hpp"
#include "svckit/etcd/etcd_client.hpp"  // base64_decode

namespace svckit::daemon {

using http::Response;
using http::RouteContext;
using http::Verb;
using nlohmann::json;

namespace {

/// What a route needs. `caller`: any principal (anonymous included); the handler filters what it
/// answers or checks the resource only it can name.
enum class Need { open, caller, service, key, config, operator_, acl };

struct RouteRule {
  Verb method;
  std::string_view pattern;
  Need need;
  Access access;
};

// Every route svckitd serves. A route missing here is refused (see uncovered()).
constexpr std::array kRules{
    // Native registry API
    RouteRule{Verb::post, "/v1/instances", Need::caller, Access::write},  // service named in the body
    RouteRule{Verb::get, "/v1/services", Need::caller, Access::read},     // filtered
    RouteRule{Verb::get, "/v1/services/{service}/instances", Need::service, Access::read},
    RouteRule{Verb::get, "/v1/services/{service}/instances/{id}", Need::service, Access::read},
    RouteRule{Verb::delete_, "/v1/services/{service}/instances/{id}", Need::service, Access::write},
    RouteRule{Verb::put, "/v1/services/{service}/instances/{id}/heartbeat", Need::service, Access::write},
    RouteRule{Verb::put, "/v1/services/{service}/instances/{id}/status", Need::service, Access::write},
    RouteRule{Verb::get, "/v1/watch", Need::caller, Access::read},  // ?service= checked, else filtered
    RouteRule{Verb::get, "/healthz", Need::open, Access::deny},
    // The dashboard's static files (no data: it reads through the API with the user's token)
    RouteRule{Verb::get, "/", Need::open, Access::deny},
    RouteRule{Verb::get, "/ui", Need::open, Access::deny},
    RouteRule{Verb::get, "/ui/{file}", Need::open, Access::deny},
    RouteRule{Verb::get, "/metrics", Need::operator_, Access::read},
    RouteRule{Verb::get, "/v1/prometheus/sd", Need::caller, Access::read},  // filtered
    // Traces: ingestion is open (bounded store, like a collector's endpoint); reading shows traffic
    RouteRule{Verb::post, "/v1/traces", Need::open, Access::deny},
    RouteRule{Verb::get, "/v1/traces", Need::operator_, Access::read},
    RouteRule{Verb::get, "/v1/traces/{trace_id}", Need::operator_, Access::read},
    // Health of checked instances
    RouteRule{Verb::get, "/v1/health", Need::caller, Access::read},  // filtered
    RouteRule{Verb::get, "/v1/health/{service}", Need::service, Access::read},
    // Configuration store
    RouteRule{Verb::get, "/v1/config", Need::caller, Access::read},  // filtered to readable keys
    RouteRule{Verb::put, "/v1/config", Need::config, Access::write},
    RouteRule{Verb::get, "/v1/config/keys/{key}", Need::key, Access::read},
    RouteRule{Verb::put, "/v1/config/keys/{key}", Need::key, Access::write},
    RouteRule{Verb::delete_, "/v1/config/keys/{key}", Need::key, Access::write},
    RouteRule{Verb::get, "/v1/config/history", Need::config, Access::read},
    RouteRule{Verb::get, "/v1/config/history/{version}", Need::config, Access::read},
    RouteRule{Verb::post, "/v1/config/rollback/{version}", Need::config, Access::write},
    // Consul-compatible API: IDs name no service, so the handler checks the one it finds
    RouteRule{Verb::put, "/v1/agent/service/register", Need::caller, Access::write},
    RouteRule{Verb::put, "/v1/agent/service/deregister/{id}", Need::caller, Access::write},
    RouteRule{Verb::put, "/v1/agent/check/pass/{id}", Need::caller, Access::write},
    RouteRule{Verb::put, "/v1/agent/check/warn/{id}", Need::caller, Access::write},
    RouteRule{Verb::put, "/v1/agent/check/fail/{id}", Need::caller, Access::write},
    RouteRule{Verb::put, "/v1/agent/check/update/{id}", Need::caller, Access::write},
    RouteRule{Verb::put, "/v1/agent/service/maintenance/{id}", Need::caller, Access::write},
    RouteRule{Verb::get, "/v1/agent/services", Need::caller, Access::read},  // filtered
    RouteRule{Verb::get, "/v1/agent/service/{id}", Need::caller, Access::read},
    RouteRule{Verb::get, "/v1/agent/checks", Need::caller, Access::read},      // filtered
    RouteRule{Verb::get, "/v1/catalog/services", Need::caller, Access::read},  // filtered
    RouteRule{Verb::get, "/v1/catalog/service/{service}", Need::service, Access::read},
    RouteRule{Verb::get, "/v1/health/service/{service}", Need::service, Access::read},
    RouteRule{Verb::get, "/v1/status/leader", Need::open, Access::deny},
    RouteRule{Verb::get, "/v1/agent/self", Need::operator_, Access::read},
    RouteRule{Verb::get, "/v1/cluster/members", Need::operator_, Access::read},
    RouteRule{Verb::get, "/v1/gateway/routes", Need::operator_, Access::read},
    RouteRule{Verb::put, "/v1/gateway/routes", Need::operator_, Access::write},
    RouteRule{Verb::get, "/v1/gateway/services/{service}", Need::service, Access::read},
    // Eureka's REST API: the handlers check the app's service (reads are filtered)
    RouteRule{Verb::post, "/eureka/apps/{app}", Need::caller, Access::write},
    RouteRule{Verb::put, "/eureka/apps/{app}/{id}", Need::caller, Access::write},
    RouteRule{Verb::delete_, "/eureka/apps/{app}/{id}", Need::caller, Access::write},
    RouteRule{Verb::get, "/eureka/apps", Need::caller, Access::read},
    RouteRule{Verb::get, "/eureka/apps/{app}", Need::caller, Access::read},
    RouteRule{Verb::get, "/eureka/apps/{app}/{id}", Need::caller, Access::read},
    RouteRule{Verb::get, "/eureka/instances/{id}", Need::caller, Access::read},
    RouteRule{Verb::get, "/eureka/vips/{vip}", Need::caller, Access::read},
    RouteRule{Verb::get, "/eureka/svips/{vip}", Need::caller, Access::read},
    RouteRule{Verb::put, "/eureka/apps/{app}/{id}/status", Need::caller, Access::write},
    RouteRule{Verb::delete_, "/eureka/apps/{app}/{id}/status", Need::caller, Access::write},
    RouteRule{Verb::put, "/eureka/apps/{app}/{id}/metadata", Need::caller, Access::write},
    RouteRule{Verb::post, "/eureka/v2/apps/{app}", Need::caller, Access::write},
    RouteRule{Verb::put, "/eureka/v2/apps/{app}/{id}", Need::caller, Access::write},
    RouteRule{Verb::delete_, "/eureka/v2/apps/{app}/{id}", Need::caller, Access::write},
    RouteRule{Verb::get, "/eureka/v2/apps", Need::caller, Access::read},
    RouteRule{Verb::get, "/eureka/v2/apps/{app}", Need::caller, Access::read},
    RouteRule{Verb::get, "/eureka/v2/apps/{app}/{id}", Need::caller, Access::read},
    RouteRule{Verb::get, "/eureka/v2/instances/{id}", Need::caller, Access::read},
    RouteRule{Verb::get, "/eureka/v2/vips/{vip}", Need::caller, Access::read},
    RouteRule{Verb::get, "/eureka/v2/svips/{vip}", Need::caller, Access::read},
    RouteRule{Verb::put, "/eureka/v2/apps/{app}/{id}/status", Need::caller, Access::write},
    RouteRule{Verb::delete_, "/eureka/v2/apps/{app}/{id}/status", Need::caller, Access::write},
    RouteRule{Verb::put, "/eureka/v2/apps/{app}/{id}/metadata", Need::caller, Access::write},
    // Nacos's Open API (naming): the handlers check the service named in the parameters
    RouteRule{Verb::post, "/nacos/v1/ns/instance", Need::caller, Access::write},
    RouteRule{Verb::put, "/nacos/v1/ns/instance", Need::caller, Access::write},
    RouteRule{Verb::delete_, "/nacos/v1/ns/instance", Need::caller, Access::write},
    RouteRule{Verb::get, "/nacos/v1/ns/instance", Need::caller, Access::read},
    RouteRule{Verb::get, "/nacos/v1/ns/instance/list", Need::caller, Access::read},
    RouteRule{Verb::put, "/nacos/v1/ns/instance/beat", Need::caller, Access::write},
    RouteRule{Verb::get, "/nacos/v1/ns/service/list", Need::caller, Access::read},
    RouteRule{Verb::get, "/nacos/v1/ns/operator/metrics", Need::operator_, Access::read},
    RouteRule{Verb::post, "/nacos/v1/auth/login", Need::caller, Access::read},  // the password is the token
    RouteRule{Verb::post, "/nacos/v1/auth/users/login", Need::caller, Access::read},
    // Nacos's config API: the handlers check key `nacos`
    RouteRule{Verb::get, "/nacos/v1/cs/configs", Need::caller, Access::read},
    RouteRule{Verb::post, "/nacos/v1/cs/configs", Need::caller, Access::write},
    RouteRule{Verb::delete_, "/nacos/v1/cs/configs", Need::caller, Access::write},
    RouteRule{Verb::post, "/nacos/v1/cs/configs/listener", Need::caller, Access::read},
    // Token management (Consul's paths)
    RouteRule{Verb::put, "/v1/acl/token", Need::acl, Access::write},
    RouteRule{Verb::get, "/v1/acl/tokens", Need::acl, Access::read},
    RouteRule{Verb::get, "/v1/acl/token/self", Need::caller, Access::read},  // any token, for itself
    RouteRule{Verb::get, "/v1/acl/token/{accessor}", Need::acl, Access::read},
    RouteRule{Verb::delete_, "/v1/acl/token/{accessor}", Need::acl, Access::write},
};

const RouteRule* rule_for(Verb method, std::string_view pattern) {
  for (const auto& r : kRules) {
    if (r.method == method && r.pattern == pattern) return &r;
  }
  return nullptr;
}

std::string_view bearer(std::string_view header) {
  if (header.size() > 7 && ascii_lower(header.substr(0, 7)) == "bearer ") {
    auto secret = header.substr(7);
    while (!secret.empty() && secret.front() == ' ') secret.remove_prefix(1);
    return secret;
  }
  return {};
}

Response unauthenticated(const std::string& message) {
  auto response = http::error_response(make_error(ErrorCode::unauthenticated, message, "token"));
  response.set(http::beast_http::field::www_authenticate, "Bearer realm=\"svckitd\"");
  return response;
}

Response denied(const AclPrincipal& who, const std::string& permission, const std::string& on) {
  if (who.anonymous()) {
    return unauthenticated("this request needs an ACL token with " + permission +
                           " (send Authorization: Bearer <secret>, X-Svckit-Token or X-Consul-Token)");
  }
  std::string message =
      "Permission denied: token with AccessorID '" + who.accessor + "' lacks permission '" + permission + "'";
  if (!on.empty()) message += " on \"" + on + "\"";
  return http::error_response(make_error(ErrorCode::permission_denied, message, "token"));
}

std::string permission(const char* kind, Access access) {
  return std::string(kind) + ":" + std::string(to_string(access));
}

}  // namespace

AclGuard::AclGuard(AclTokenStore& tokens, AclRules anonymous, MetricsRegistry& metrics)
    : tokens_(tokens),
      anonymous_(std::make_shared<const AclPrincipal>(
          AclPrincipal{"anonymous", std::make_shared<const AclRules>(std::move(anonymous)), nullptr})),
      refusals_(metrics.counter("svckit_acl_refusals_total",
                                "API requests refused by ACLs, by status (401 no or unknown token, 403 not allowed).",
                                {"code"})) {}

std::string AclGuard::presented_secret(const http::Request& request) {
  if (auto s = bearer(request[http::beast_http::field::authorization]); !s.empty()) return std::string(s);
  // HTTP basic auth, as Eureka clients send it (http://user:secret@host:8761/eureka): the
  // password is an ACL token's secret, the user name is only a label.
  if (const std::string_view auth = request[http::beast_http::field::authorization];
      auth.size() > 6 && ascii_lower(auth.substr(0, 6)) == "basic ") {
    if (auto decoded = etcd::base64_decode(auth.substr(6)); decoded && decoded->find(':') != std::string::npos) {
      return decoded->substr(decoded->find(':') + 1);
    }
  }
  if (auto s = request["X-Svckit-Token"]; !s.empty()) return std::string(s);
  if (auto s = request["X-Consul-Token"]; !s.empty()) return std::string(s);
  const std::string_view target = request.target();
  if (target.find("token=") != std::string_view::npos || target.find("Token=") != std::string_view::npos) {
    if (auto parsed = http::parse_target(target)) {
      if (const auto* t = parsed->param("token")) return *t;
      if (const auto* t = parsed->param("accessToken")) return *t;  // Nacos clients' spelling
    }
  }
  // Nacos clients log in with a user name and password (sent on login, and by some clients on
  // every request): the password is an ACL token's secret.
  if (target.starts_with("/nacos/")) {
    if (auto parsed = http::parse_target(target)) {
      if (const auto* p = parsed->param("password")) return *p;
    }
    const auto type = ascii_lower(request[http::beast_http::field::content_type]);
    if (type.starts_with("application/x-www-form-urlencoded") &&
        request.body().find("password=") != std::string::npos) {
      if (auto form = http::parse_target("/?" + request.body())) {
        if (const auto* p = form->param("password")) return *p;
      }
    }
  }
  return {};
}

std::shared_ptr<const AclPrincipal> AclGuard::principal_for(const http::Request& request, bool& unknown) const {
  unknown = false;
  const auto secret = presented_secret(request);
  if (secret.empty()) return anonymous_;
  auto principal = tokens_.resolve(secret);
  if (!principal) unknown = true;
  return principal;
}

std::string AclGuard::accessor_of(const http::Request& request) const {
  bool unknown = false;
  auto principal = principal_for(request, unknown);
  return unknown ? "unknown" : principal->accessor;
}

std::optional<Response> AclGuard::operator()(RouteContext& ctx) const {
  const auto* rule = rule_for(ctx.request.method(), ctx.route);
  if (rule != nullptr && rule->need == Need::open) return std::nullopt;
  bool unknown = false;
  auto principal = principal_for(ctx.request, unknown);
  std::optional<Response> refused;
  if (unknown) {
    refused = unauthenticated("ACL not found: the token is unknown or was revoked");
  } else if (rule == nullptr) {  // fail closed: a route nobody wrote a rule for
    refused = denied(*principal, "a rule for " + ctx.route, "");
  } else {
    const auto& rules = *principal->rules;
    switch (rule->need) {
      case Need::open:
      case Need::caller:
        break;
      case Need::service: {
        const auto& service = ctx.params.at("service");
        if (rules.service(service) < rule->access)
          refused = denied(*principal, permission("service", rule->access), service);
        break;
      }
      case Need::key: {
        const auto& key = ctx.params.at("key");
        const bool ok =
            rule->access == Access::write ? rules.keys_under(key, Access::write) : rules.key(key) >= Access::read;
        if (!ok) refused = denied(*principal, permission("key", rule->access), key);
        break;
      }
      case Need::config:
        if (!rules.keys_under("", rule->access)) refused = denied(*principal, permission("key", rule->access), "*");
        break;
      case Need::operator_:
        if (rules.operator_access() < rule->access)
          refused = denied(*principal, permission("operator", rule->access), "");
        break;
      case Need::acl:
        if (rules.acl() < rule->access) refused = denied(*principal, permission("acl", rule->access), "");
        break;
    }
  }
  if (refused) {
    refusals_.with({std::to_string(refused->result_int())}).inc();
    return refused;
  }
  ctx.principal = std::move(principal);
  return std::nullopt;
}

std::vector<std::string> AclGuard::uncovered(const http::Router& router) {
  std::vector<std::string> out;
  for (const auto& [method, pattern] : router.routes()) {
    if (rule_for(method, pattern) == nullptr)
      out.push_back(std::string(http::beast_http::to_string(method)) + " " + pattern);
  }
  return out;
}

const AclPrincipal* acl_principal(const RouteContext& ctx) {
  return static_cast<const AclPrincipal*>(ctx.principal.get());
}

bool may_access_service(const RouteContext& ctx, const std::string& service, Access need) {
  const auto* who = acl_principal(ctx);
  return who == nullptr || who->rules->service(service) >= need;
}

std::optional<Response> require_service(const RouteContext& ctx, const std::string& service, Access need) {
  if (may_access_service(ctx, service, need)) return std::nullopt;
  return denied(*acl_principal(ctx), permission("service", need), service);
}

std::optional<Response> require_found_service(const RouteContext& ctx, const std::string* service, Access need,
                                              const Error& not_found) {
  const auto* who = acl_principal(ctx);
  if (service == nullptr || !may_access_service(ctx, *service, Access::read)) {
    if (who != nullptr && who->anonymous() && !who->rules->services_under("", Access::read)) {
      return denied(*who, permission("service", need), "");
    }
    return http::error_response(not_found);
  }
  return require_service(ctx, *service, need);
}

bool may_access_key(const RouteContext& ctx, const std::string& key, Access need) {
  const auto* who = acl_principal(ctx);
  return who == nullptr || who->rules->key(key) >= need;
}

std::optional<Response> require_key(const RouteContext& ctx, const std::string& key, Access need) {
  if (may_access_key(ctx, key, need)) return std::nullopt;
  return denied(*acl_principal(ctx), permission("key", need), key);
}

namespace {
json filter_tree(const AclRules& rules, const json& node, const std::string& path) {
  if (rules.keys_under(path, Access::read)) return node;  // all of it: no copy per leaf
  if (!node.is_object()) return rules.key(path) >= Access::read ? node : json();
  json out = json::object();
  for (const auto& [name, child] : node.items()) {
    const auto child_path = path.empty() ? name : path + "." + name;
    auto kept = filter_tree(rules, child, child_path);
    if (!kept.is_null() || (child.is_null() && rules.key(child_path) >= Access::read)) out[name] = std::move(kept);
  }
  if (out.empty() && !path.empty() && rules.key(path) < Access::read) return json();
  return out;
}
}  // namespace

json visible_config(const RouteContext& ctx, const json& tree, const std::string& prefix) {
  const auto* who = acl_principal(ctx);
  if (who == nullptr) return tree;
  auto kept = filter_tree(*who->rules, tree, prefix);
  return kept.is_null() && tree.is_object() ? json::object() : kept;
}

std::shared_ptr<CancelToken> long_poll_cancel(const RouteContext& ctx) {
  auto gone = ctx.client_gone();
  const auto* who = acl_principal(ctx);
  if (who == nullptr || who->anonymous()) return gone;
  auto combined = std::make_shared<CancelToken>();
  if (gone && !gone->set_hook([combined] { combined->cancel(); })) combined->cancel();
  who->revocation->attach(combined);
  return combined;
}

std::optional<Response> refuse_if_revoked(const RouteContext& ctx) {
  const auto* who = acl_principal(ctx);
  if (who == nullptr || who->anonymous() || !who->revocation->revoked()) return std::nullopt;
  return unauthenticated("ACL not found: the token was revoked while the request waited");
}

}  // namespace svckit::daemon
