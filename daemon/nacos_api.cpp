#include "daemon/nacos_api.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "daemon/acl_guard.hpp"
#include "daemon/ascii.hpp"
#include "daemon/caller_address.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"
#include "svckit/http/url.hpp"

namespace svckit::daemon {

using http::Awaitable;
using http::Response;
using http::RouteContext;
using http::Status;
using nlohmann::json;

namespace {

Response text_ok(const std::string& body) {
  Response r{Status::ok, 11};
  r.set(http::beast_http::field::content_type, "text/plain; charset=utf-8");
  r.body() = body;
  r.prepare_payload();
  return r;
}

long long now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

NacosApi::NacosApi(MemoryRegistry& registry, RegistrationCheck check, int cache_millis)
    : registry_(registry), check_(std::move(check)), cache_millis_(cache_millis) {}

void NacosApi::add_routes(http::Router& router) {
  using V = http::Verb;
  const auto bind = [this](Awaitable<Response> (NacosApi::*handler)(RouteContext&)) {
    return [this, handler](RouteContext& ctx) { return (this->*handler)(ctx); };
  };
  router.add(V::post, "/nacos/v1/ns/instance", bind(&NacosApi::register_instance));
  router.add(V::put, "/nacos/v1/ns/instance", bind(&NacosApi::update_instance));
  router.add(V::delete_, "/nacos/v1/ns/instance", bind(&NacosApi::deregister));
  router.add(V::get, "/nacos/v1/ns/instance", bind(&NacosApi::get_instance));
  router.add(V::get, "/nacos/v1/ns/instance/list", bind(&NacosApi::list));
  router.add(V::put, "/nacos/v1/ns/instance/beat", bind(&NacosApi::beat));
  router.add(V::get, "/nacos/v1/ns/service/list", bind(&NacosApi::services));
  router.add(V::get, "/nacos/v1/ns/operator/metrics", bind(&NacosApi::metrics));
  router.add(V::post, "/nacos/v1/auth/login", bind(&NacosApi::login));
  router.add(V::post, "/nacos/v1/auth/users/login", bind(&NacosApi::login));
}

Result<nacos::Params> nacos_params(const RouteContext& ctx) {
  nacos::Params out(ctx.target.query.begin(), ctx.target.query.end());
  const auto type = ascii_lower(ctx.request[http::beast_http::field::content_type]);
  if (type.starts_with("application/x-www-form-urlencoded") && !ctx.request.body().empty()) {
    auto form = http::parse_target("/?" + ctx.request.body());
    if (!form) return make_error(ErrorCode::invalid_argument, "the form body is not URL-encoded", "body");
    out.insert(form->query.begin(), form->query.end());
  }
  return out;
}

Awaitable<Result<ServiceInstance>> NacosApi::find(nacos::Params params) const {
  auto scope = nacos::scope_of(params);
  if (!scope) co_return scope.error();
  const auto* ip = nacos::param(params, "ip");
  const auto* port = nacos::param(params, "port");
  if (ip == nullptr || ip->empty()) co_return make_error(ErrorCode::invalid_argument, "ip is required", "ip");
  if (port == nullptr || port->empty()) co_return make_error(ErrorCode::invalid_argument, "port is required", "port");
  const auto id = nacos::instance_id(*ip, *port);
  // Nacos names an instance by its address: the one with the id "ip:port" (how svckitd names the
  // instances Nacos clients register; found by id), else the first at that address (one
  // registered by another API, with an id of its own; found by a scan of the service).
  if (auto by_id = co_await registry_.get(scope->service, id); by_id && scope->holds(*by_id))
    co_return std::move(*by_id);
  std::optional<ServiceInstance> found;
  registry_.for_each(scope->service, {}, [&](const ServiceInstance& in, const std::string&) {
    if (!found && scope->holds(in) && in.host == *ip && std::to_string(in.port) == *port) found = in;
  });
  if (!found) {
    co_return make_error(ErrorCode::not_found, "no instance " + id + " of service '" + scope->grouped_name() + "'",
                         "ip");
  }
  co_return std::move(*found);
}

Awaitable<Response> NacosApi::store(RouteContext& ctx, ServiceInstance instance) {
  if (auto refused = require_service(ctx, instance.service, Access::write)) co_return std::move(*refused);
  if (check_) {
    if (auto r = check_(instance); !r) co_return http::error_response(r.error());
  }
  const auto service = instance.service;
  const auto id = instance.id;
  auto stored = co_await registry_.register_instance(std::move(instance));
  if (!stored) co_return http::error_response(stored.error());
  logs::debug("nacos-api", "event=nacos_register service={} id={}", service, id);
  co_return text_ok("ok");
}

Awaitable<Response> NacosApi::register_instance(RouteContext& ctx) {
  auto params = nacos_params(ctx);
  if (!params) co_return http::error_response(params.error());
  auto in = nacos::instance_from_params(*params, caller_host(ctx.peer()));
  if (!in) co_return http::error_response(in.error());
  co_return co_await store(ctx, std::move(*in));
}

Awaitable<Response> NacosApi::update_instance(RouteContext& ctx) {
  auto params = nacos_params(ctx);
  if (!params) co_return http::error_response(params.error());
  auto in = nacos::instance_from_params(*params, caller_host(ctx.peer()));
  if (!in) co_return http::error_response(in.error());
  if (auto refused = require_service(ctx, in->service, Access::write)) co_return std::move(*refused);
  auto existing = co_await find(*params);
  if (!existing) co_return http::error_response(existing.error());
  // An update keeps what it does not name: the lease kind, the registration's own metadata.
  if (nacos::param(*params, "ephemeral") == nullptr) in->ttl = existing->ttl;
  if (nacos::param(*params, "metadata") == nullptr) {
    for (const auto& [key, value] : existing->metadata) in->metadata.emplace(key, value);
  }
  co_return co_await store(ctx, std::move(*in));
}

Awaitable<Response> NacosApi::deregister(RouteContext& ctx) {
  auto params = nacos_params(ctx);
  if (!params) co_return http::error_response(params.error());
  auto found = co_await find(*params);
  if (!found) co_return http::error_response(found.error());
  if (auto refused = require_service(ctx, found->service, Access::write)) co_return std::move(*refused);
  auto removed = co_await registry_.deregister(found->service, found->id);
  if (!removed) co_return http::error_response(removed.error());
  co_return text_ok("ok");
}

Awaitable<Response> NacosApi::get_instance(RouteContext& ctx) {
  auto params = nacos_params(ctx);
  if (!params) co_return http::error_response(params.error());
  auto scope = nacos::scope_of(*params);
  if (!scope) co_return http::error_response(scope.error());
  if (auto refused = require_service(ctx, scope->service, Access::read)) co_return std::move(*refused);
  auto found = co_await find(*params);
  if (!found) co_return http::error_response(found.error());
  auto host = nacos::host_json(*found, *scope);
  host["service"] = scope->grouped_name();
  co_return http::json_response(Status::ok, host);
}

Awaitable<Response> NacosApi::list(RouteContext& ctx) {
  auto params = nacos_params(ctx);
  if (!params) co_return http::error_response(params.error());
  auto scope = nacos::scope_of(*params);
  if (!scope) co_return http::error_response(scope.error());
  if (auto refused = require_service(ctx, scope->service, Access::read)) co_return std::move(*refused);
  const auto* clusters_param = nacos::param(*params, "clusters");
  const std::string clusters = clusters_param != nullptr ? *clusters_param : std::string();
  std::vector<std::string> wanted;
  for (std::size_t start = 0; !clusters.empty() && start <= clusters.size();) {
    const auto comma = clusters.find(',', start);
    wanted.push_back(clusters.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  const auto* healthy_only = nacos::param(*params, "healthyOnly");
  const bool only_healthy = healthy_only != nullptr && *healthy_only == "true";
  std::vector<ServiceInstance> hosts;
  registry_.for_each(scope->service, {}, [&](const ServiceInstance& in, const std::string&) {
    if (!scope->holds(in)) return;
    const auto cluster = in.zone.empty() ? std::string(nacos::kDefaultCluster) : in.zone;
    if (!wanted.empty() && std::find(wanted.begin(), wanted.end(), cluster) == wanted.end()) return;
    if (only_healthy && in.status != InstanceStatus::healthy) return;
    hosts.push_back(in);
  });
  co_return http::json_response(Status::ok, nacos::list_json(*scope, clusters, hosts, now_ms(), cache_millis_));
}

Awaitable<Response> NacosApi::beat(RouteContext& ctx) {
  auto params = nacos_params(ctx);
  if (!params) co_return http::error_response(params.error());
  // The beat's JSON carries the instance (ip, port, cluster, weight, metadata): its fields fill
  // in what the query does not say.
  if (const auto* beat = nacos::param(*params, "beat"); beat != nullptr && !beat->empty()) {
    const auto info = json::parse(*beat, nullptr, false);
    if (!info.is_object()) {
      co_return http::error_response(make_error(ErrorCode::invalid_argument, "beat must be a JSON object", "beat"));
    }
    const auto text = [&](const char* key) -> std::optional<std::string> {
      if (!info.contains(key) || info[key].is_null()) return std::nullopt;
      return info[key].is_string() ? info[key].get<std::string>() : info[key].dump();
    };
    for (const auto& [from, to] :
         {std::pair{"ip", "ip"}, std::pair{"port", "port"}, std::pair{"cluster", "clusterName"},
          std::pair{"weight", "weight"}, std::pair{"serviceName", "serviceName"}}) {
      if (nacos::param(*params, to) == nullptr) {
        if (auto v = text(from)) params->emplace(to, *v);
      }
    }
    if (nacos::param(*params, "metadata") == nullptr && info.contains("metadata") && info["metadata"].is_object()) {
      params->emplace("metadata", info["metadata"].dump());
    }
  }
  auto scope = nacos::scope_of(*params);
  if (!scope) co_return http::error_response(scope.error());
  if (auto refused = require_service(ctx, scope->service, Access::write)) co_return std::move(*refused);
  const json answer{
      {"clientBeatInterval", nacos::kDefaultBeatIntervalMs}, {"code", 10200}, {"lightBeatEnabled", false}};
  auto found = co_await find(*params);
  if (found) {
    auto renewed = co_await registry_.renew(found->service, found->id);
    if (!renewed) co_return http::error_response(renewed.error());
    co_return http::json_response(Status::ok, answer);
  }
  if (found.error().code != ErrorCode::not_found) co_return http::error_response(found.error());
  // Unknown (svckitd restarted, or the instance expired and was removed): the beat registers it.
  auto in = nacos::instance_from_params(*params, caller_host(ctx.peer()));
  if (!in) co_return http::error_response(in.error());
  auto stored = co_await store(ctx, std::move(*in));
  if (stored.result() != Status::ok) co_return stored;
  co_return http::json_response(Status::ok, answer);
}

Awaitable<Response> NacosApi::services(RouteContext& ctx) {
  auto params = nacos_params(ctx);
  if (!params) co_return http::error_response(params.error());
  const auto number = [&](const char* key, long long fallback) -> Result<long long> {
    const auto* v = nacos::param(*params, key);
    if (v == nullptr || v->empty()) return fallback;
    if (v->size() > 9 || v->find_first_not_of("0123456789") != std::string::npos) {
      return make_error(ErrorCode::invalid_argument, std::string(key) + " must be a whole number", key);
    }
    return std::stoll(*v);
  };
  auto page = number("pageNo", 1);
  auto size = number("pageSize", 10);
  if (!page) co_return http::error_response(page.error());
  if (!size) co_return http::error_response(size.error());
  nacos::Scope probe;
  if (const auto* g = nacos::param(*params, "groupName"); g != nullptr && *g != nacos::kDefaultGroup) probe.group = *g;
  if (const auto* ns = nacos::param(*params, "namespaceId");
      ns != nullptr && !ns->empty() && *ns != nacos::kDefaultNamespace) {
    probe.namespace_ = *ns;
  }
  std::vector<std::string> names;
  for (const auto& s : registry_.services_now()) {
    if (!may_access_service(ctx, s.name, Access::read)) continue;
    bool held = false;
    probe.service = s.name;
    registry_.for_each(s.name, {},
                       [&](const ServiceInstance& in, const std::string&) { held = held || probe.holds(in); });
    if (held) names.push_back(s.name);
  }
  json doms = json::array();
  const auto first = static_cast<std::size_t>(std::max(0LL, (*page - 1) * *size));
  for (std::size_t i = first; i < names.size() && i < first + static_cast<std::size_t>(*size); ++i)
    doms.push_back(names[i]);
  co_return http::json_response(Status::ok, json{{"count", names.size()}, {"doms", std::move(doms)}});
}

Awaitable<Response> NacosApi::login(RouteContext& ctx) {
  auto params = nacos_params(ctx);
  if (!params) co_return http::error_response(params.error());
  const auto* password = nacos::param(*params, "password");
  const auto* who = acl_principal(ctx);
  if (who == nullptr) {  // ACLs off: any login works, and no token is needed
    co_return http::json_response(Status::ok, json{{"accessToken", ""}, {"tokenTtl", 18'000}, {"globalAdmin", true}});
  }
  // With ACLs on the guard already resolved the password as a token: an unknown one got 401.
  if (password == nullptr || password->empty() || who->anonymous()) {
    co_return http::error_response(
        make_error(ErrorCode::unauthenticated, "password must be the secret of an svckitd ACL token", "password"));
  }
  co_return http::json_response(Status::ok, json{{"accessToken", *password},
                                                 {"tokenTtl", 18'000},
                                                 {"globalAdmin", who->rules->keys_under("", Access::write)}});
}

Awaitable<Response> NacosApi::metrics(RouteContext&) {
  std::size_t instances = 0;
  const auto services = registry_.services_now();
  for (const auto& s : services) instances += s.instances;
  co_return http::json_response(
      Status::ok, json{{"status", "UP"}, {"serviceCount", services.size()}, {"instanceCount", instances}});
}

}  // namespace svckit::daemon
