#include "daemon/consul_api.hpp"

#include <charconv>
#include <set>

#include <spdlog/spdlog.h>

#include "daemon/acl_guard.hpp"
#include "daemon/caller_address.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"

namespace svckit::daemon {

using http::Awaitable;
using http::Response;
using http::RouteContext;
using http::Status;
using nlohmann::json;

namespace {

Response consul_json(const json& body, std::uint64_t index) {
  Response res{Status::ok, 11};
  res.set(http::beast_http::field::content_type, "application/json");
  res.set("X-Consul-Index", std::to_string(index));
  res.set("X-Consul-KnownLeader", "true");
  res.set("X-Consul-LastContact", "0");
  res.body() = body.dump();
  return res;
}

Response empty_ok() {
  Response res{Status::ok, 11};
  res.set(http::beast_http::field::content_type, "application/json");
  return res;
}

Error invalid(std::string message, std::string field) {
  return make_error(ErrorCode::invalid_argument, std::move(message), std::move(field));
}

/// Consul's filter expressions are not implemented: refuse rather than answer unfiltered.
Result<void> refuse_filter(const http::Target& target) {
  if (target.param("filter") != nullptr) {
    return invalid("filter expressions are not supported by svckitd; use ?tag= or ?passing", "filter");
  }
  return {};
}

/// "?passing", "?passing=true", "?passing=1" (Consul's spellings); "false"/"0" turn it off.
bool flag(const http::Target& target, const std::string& name) {
  const auto* v = target.param(name);
  return v != nullptr && *v != "false" && *v != "0";
}

bool has_tags(const ServiceInstance& in, const http::Target& target) {
  auto [begin, end] = target.query.equal_range("tag");
  for (auto it = begin; it != end; ++it) {
    if (!in.has_tag(it->second)) return false;
  }
  return true;
}

bool critical(InstanceStatus s) { return s != InstanceStatus::healthy && s != InstanceStatus::maintenance; }

/// An IPv4 caller on a dual-stack listener shows as ::ffff:a.b.c.d: store the IPv4 address.
}  // namespace

ConsulApi::ConsulApi(MemoryRegistry& registry, const TimeSource& time, RegistrationCheck check,
                     ConsulApiOptions options, WatchSlots& watches)
    : registry_(registry), time_(time), check_(std::move(check)), options_(std::move(options)), watches_(watches) {}

void ConsulApi::add_routes(http::Router& router) {
  using V = http::Verb;
  auto bind = [this](auto method) {
    return [this, method](RouteContext& ctx) -> Awaitable<Response> { return (this->*method)(ctx); };
  };
  router.add(V::put, "/v1/agent/service/register", bind(&ConsulApi::register_service));
  router.add(V::put, "/v1/agent/service/deregister/{id}", bind(&ConsulApi::deregister_service));
  for (const char* status : {"pass", "warn", "fail", "update"}) {
    router.add(V::put, std::string("/v1/agent/check/") + status + "/{id}",
               [this, s = std::string(status)](RouteContext& ctx) { return update_check(ctx, s); });
  }
  router.add(V::put, "/v1/agent/service/maintenance/{id}", bind(&ConsulApi::maintenance));
  router.add(V::get, "/v1/agent/services", bind(&ConsulApi::agent_services));
  router.add(V::get, "/v1/agent/service/{id}", bind(&ConsulApi::agent_service));
  router.add(V::get, "/v1/agent/checks", bind(&ConsulApi::agent_checks));
  router.add(V::get, "/v1/catalog/services", bind(&ConsulApi::catalog_services));
  router.add(V::get, "/v1/catalog/service/{service}", bind(&ConsulApi::catalog_service));
  router.add(V::get, "/v1/health/service/{service}", bind(&ConsulApi::health_service));
  router.add(V::get, "/v1/status/leader", [this](RouteContext&) -> Awaitable<Response> {
    co_return consul_json(json(options_.node.address + ":8300"), registry_.index());
  });
  router.add(V::get, "/v1/agent/self", [this](RouteContext&) -> Awaitable<Response> {
    const auto& n = options_.node;
    json self{{"Config", {{"Datacenter", n.datacenter}, {"NodeName", n.name}, {"NodeID", n.id}, {"Server", true}}},
              {"Member", {{"Name", n.name}, {"Addr", n.address}, {"Status", 1}}}};
    co_return consul_json(self, registry_.index());
  });
}

std::vector<ServiceInstance> ConsulApi::all_instances() const {
  std::vector<ServiceInstance> out;
  for (const auto& s : registry_.services_now()) {
    registry_.for_each(s.name, {}, [&](const ServiceInstance& in, const std::string&) { out.push_back(in); });
  }
  return out;
}

std::vector<ServiceInstance> ConsulApi::find_by_id(const std::string& id) const {
  // Visits the records in place (no copy of the registry): a heartbeat of one of 10k instances
  // costs string compares, not 10k instance copies.
  std::vector<ServiceInstance> out;
  for (const auto& s : registry_.services_now()) {
    registry_.for_each(s.name, {}, [&](const ServiceInstance& in, const std::string&) {
      if (in.id == id) out.push_back(in);
    });
  }
  return out;
}

std::optional<std::pair<ServiceInstance, std::size_t>> ConsulApi::find_check(const std::string& check_id) const {
  auto position_in = [&](const ServiceInstance& in) -> std::optional<std::size_t> {
    const auto ids = consul::check_ids(in);
    for (std::size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] == check_id) return i;
    }
    return std::nullopt;
  };
  // Consul's default IDs name the service: "service:<id>" or "service:<id>:<n>".
  if (check_id.starts_with("service:")) {
    const auto rest = check_id.substr(8);
    std::vector<std::string> candidates{rest};
    if (const auto colon = rest.rfind(':'); colon != std::string::npos) candidates.push_back(rest.substr(0, colon));
    for (const auto& id : candidates) {
      for (auto& in : find_by_id(id)) {
        if (auto at = position_in(in)) return std::pair{std::move(in), *at};
      }
    }
  }
  // Custom check IDs: look through every instance.
  std::optional<std::pair<ServiceInstance, std::size_t>> found;
  for (const auto& s : registry_.services_now()) {
    registry_.for_each(s.name, {}, [&](const ServiceInstance& in, const std::string&) {
      if (found || in.metadata.count(consul::kCheckIdsMeta) == 0) return;
      if (auto at = position_in(in)) found = std::pair{in, *at};
    });
  }
  return found;
}

Awaitable<Response> ConsulApi::register_service(RouteContext& ctx) {
  auto body = parse_json(ctx.request.body());
  if (!body) co_return http::error_response(body.error());
  // Without Address the service is on the caller's machine (Consul: the agent's node address,
  // and a Consul agent runs on the service's machine), never on svckitd's.
  auto node = options_.node;
  if (auto peer = ctx.peer(); !peer.empty()) node.address = caller_host(std::move(peer));
  auto instance = consul::instance_from_registration(*body, node);
  if (!instance) co_return http::error_response(instance.error());
  if (auto refused = require_service(ctx, instance->service, Access::write)) co_return std::move(*refused);
  if (check_) {
    if (auto r = check_(*instance); !r) co_return http::error_response(r.error());
  }
  // Consul IDs are unique per agent: the same ID under another name replaces that registration.
  const auto previous = find_by_id(instance->id);
  for (const auto& old : previous) {  // replacing them deregisters them: that needs write there too
    if (auto refused = require_service(ctx, old.service, Access::write)) co_return std::move(*refused);
  }
  const auto service = instance->service;
  const auto id = instance->id;
  auto stored = co_await registry_.register_instance(std::move(*instance));
  if (!stored) co_return http::error_response(stored.error());
  for (const auto& old : previous) {
    if (old.service == service) continue;
    auto removed = co_await registry_.deregister(old.service, old.id);
    if (!removed && removed.error().code != ErrorCode::not_found) co_return http::error_response(removed.error());
  }
  logs::debug("consul-api", "event=consul_register service={} id={}", service, id);
  co_return empty_ok();
}

std::optional<Response> ConsulApi::refusal_by_id(const RouteContext& ctx, const std::string& id,
                                                 const Result<ServiceInstance>& found, Access need) {
  const auto unknown = make_error(ErrorCode::not_found, "Unknown service ID '" + id + "'", "id");
  if (found) return require_found_service(ctx, &found->service, need, unknown);
  if (found.error().code == ErrorCode::not_found) return require_found_service(ctx, nullptr, need, unknown);
  return http::error_response(found.error());
}

Result<ServiceInstance> ConsulApi::one_by_id(const std::string& id) const {
  auto found = find_by_id(id);
  if (found.empty()) return make_error(ErrorCode::not_found, "Unknown service ID '" + id + "'", "id");
  if (found.size() > 1) {
    // Consul's IDs are unique per agent, and registrations through this API keep them so; the
    // native API allows one ID in several services. Acting on all of them would touch services
    // the caller never named: refuse, naming them.
    std::string services;
    for (const auto& in : found) services += (services.empty() ? "" : ", ") + in.service;
    return invalid("service ID '" + id + "' is used by several services (" + services +
                       "); use /v1/services/{service}/instances/{id}",
                   "id");
  }
  return std::move(found.front());
}

Awaitable<Response> ConsulApi::deregister_service(RouteContext& ctx) {
  const auto& id = ctx.params.at("id");
  const auto one = one_by_id(id);
  if (auto refused = refusal_by_id(ctx, id, one, Access::write)) co_return std::move(*refused);
  for (const auto& in : {*one}) {
    auto r = co_await registry_.deregister(in.service, in.id);
    if (!r && r.error().code != ErrorCode::not_found) co_return http::error_response(r.error());
  }
  co_return empty_ok();
}

Awaitable<Response> ConsulApi::update_check(RouteContext& ctx, std::string action) {
  const auto& check_id = ctx.params.at("id");
  if (action == "update") {  // body {"Status": "passing|warning|critical", "Output": "..."}
    auto body = parse_json(ctx.request.body());
    if (!body) co_return http::error_response(body.error());
    if (!body->is_object() || !body->contains("Status") || !(*body)["Status"].is_string()) {
      co_return http::error_response(invalid("body must carry a Status string", "Status"));
    }
    const auto status = (*body)["Status"].get<std::string>();
    if (status == "passing") {
      action = "pass";
    } else if (status == "warning") {
      action = "warn";
    } else if (status == "critical") {
      action = "fail";
    } else {
      co_return http::error_response(invalid("must be passing, warning or critical", "Status"));
    }
  }
  auto found = find_check(check_id);
  const auto unknown = make_error(ErrorCode::not_found, "Unknown check ID '" + check_id + "'", "check_id");
  if (auto refused = require_found_service(ctx, found ? &found->first.service : nullptr, Access::write, unknown)) {
    co_return std::move(*refused);
  }
  const auto& [in, position] = *found;
  if (in.ttl.count() == 0 || position != 0) {
    co_return http::error_response(invalid("check '" + check_id + "' is not a TTL check", "check_id"));
  }
  // Any update of a TTL check restarts its timer; pass and warn count as passing (traffic goes to
  // an instance in warning, as Consul's weights do), fail takes it out. Maintenance stays. A note
  // "svckit status: <status>" (what consul:// sends) sets that exact status.
  auto wanted = action == "fail" ? InstanceStatus::unhealthy : InstanceStatus::healthy;
  if (const auto* note = ctx.target.param("note"); note != nullptr && note->starts_with(consul::kStatusOutputPrefix)) {
    const auto named = parse_instance_status(note->substr(std::string_view(consul::kStatusOutputPrefix).size()));
    if (!named || *named == InstanceStatus::maintenance) {
      co_return http::error_response(invalid("names no svckit status other than maintenance", "note"));
    }
    wanted = *named;
  }
  auto renewed = co_await registry_.renew(in.service, in.id);
  if (!renewed) co_return http::error_response(renewed.error());
  auto now = co_await registry_.get(in.service, in.id);
  if (!now) co_return http::error_response(now.error());
  if (now->status != wanted && now->status != InstanceStatus::maintenance) {
    auto r = co_await registry_.set_status(in.service, in.id, wanted);
    if (!r) co_return http::error_response(r.error());
  }
  co_return empty_ok();
}

Awaitable<Response> ConsulApi::maintenance(RouteContext& ctx) {
  const auto& id = ctx.params.at("id");
  const auto* enable = ctx.target.param("enable");
  if (enable == nullptr || (*enable != "true" && *enable != "false")) {
    co_return http::error_response(invalid("enable must be true or false", "enable"));
  }
  const auto one = one_by_id(id);
  if (auto refused = refusal_by_id(ctx, id, one, Access::write)) co_return std::move(*refused);
  for (const auto& in : {*one}) {
    InstanceStatus target = InstanceStatus::maintenance;
    if (*enable == "false") {
      if (in.status != InstanceStatus::maintenance) continue;
      // Out of maintenance: checks (or the next TTL pass) decide; without checks it is passing.
      target = in.checks.empty() && in.ttl.count() == 0 ? InstanceStatus::healthy : InstanceStatus::starting;
    }
    auto r = co_await registry_.set_status(in.service, in.id, target);
    if (!r) co_return http::error_response(r.error());
  }
  co_return empty_ok();
}

Awaitable<Response> ConsulApi::agent_services(RouteContext& ctx) {
  if (auto r = refuse_filter(ctx.target); !r) co_return http::error_response(r.error());
  const auto index = registry_.index();
  json out = json::object();
  for (const auto& in : all_instances()) {
    if (may_access_service(ctx, in.service, Access::read)) out[in.id] = consul::agent_service(in, options_.node);
  }
  co_return consul_json(out, index);
}

Awaitable<Response> ConsulApi::agent_service(RouteContext& ctx) {
  const auto index = registry_.index();
  const auto found = find_by_id(ctx.params.at("id"));
  const auto unknown = make_error(ErrorCode::not_found, "Unknown service ID '" + ctx.params.at("id") + "'", "id");
  if (auto refused =
          require_found_service(ctx, found.empty() ? nullptr : &found.front().service, Access::read, unknown)) {
    co_return std::move(*refused);
  }
  co_return consul_json(consul::agent_service(found.front(), options_.node), index);
}

Awaitable<Response> ConsulApi::agent_checks(RouteContext& ctx) {
  if (auto r = refuse_filter(ctx.target); !r) co_return http::error_response(r.error());
  const auto index = registry_.index();
  json out = json::object();
  for (const auto& in : all_instances()) {
    if (!may_access_service(ctx, in.service, Access::read)) continue;
    for (auto& check : consul::service_checks(in, options_.node, index)) {
      check.erase("CreateIndex");  // the agent endpoint has no raft indexes
      check.erase("ModifyIndex");
      const auto id = check["CheckID"].get<std::string>();
      out[id] = std::move(check);
    }
  }
  co_return consul_json(out, index);
}

Awaitable<Result<std::uint64_t>> ConsulApi::block(const RouteContext& ctx, const std::string& service) {
  const auto& target = ctx.target;
  if (auto r = refuse_filter(target); !r) co_return r.error();
  const auto* index_text = target.param("index");
  if (index_text == nullptr) co_return registry_.index();
  std::uint64_t after = 0;
  auto [ptr, ec] = std::from_chars(index_text->data(), index_text->data() + index_text->size(), after);
  if (ec != std::errc{} || ptr != index_text->data() + index_text->size()) {
    co_return invalid("index must be a non-negative integer", "index");
  }
  auto wait = std::min(options_.default_wait, options_.max_wait);
  if (const auto* w = target.param("wait")) {
    auto d = consul::parse_go_duration(*w, "wait");
    if (!d) co_return d.error();
    wait = std::min(*d, options_.max_wait);
  }
  if (after == 0 || wait.count() == 0) co_return registry_.index();
  auto slot = watches_.take(ctx.peer());
  if (!slot) co_return slot.error();
  WatchRequest request(service, after, wait, long_poll_cancel(ctx));  // named: no temporaries in the co_await
  auto waited = co_await registry_.watch(std::move(request));
  if (refuse_if_revoked(ctx))
    co_return make_error(ErrorCode::unauthenticated, "ACL not found: the token was revoked", "token");
  if (!waited) co_return waited.error();
  co_return registry_.index();
}

std::vector<ServiceInstance> ConsulApi::instances_of(const std::string& service, const http::Target& target,
                                                     bool passing_only) const {
  std::vector<ServiceInstance> out;
  registry_.for_each(service, {}, [&](const ServiceInstance& in, const std::string&) {
    if (passing_only && in.status != InstanceStatus::healthy) return;
    if (has_tags(in, target)) out.push_back(in);
  });
  return out;
}

json ConsulApi::catalog_json(const RouteContext& ctx) const {
  json out = json::object();
  for (const auto& s : registry_.services_now()) {
    if (!may_access_service(ctx, s.name, Access::read)) continue;
    std::set<std::string> tags;
    registry_.for_each(s.name, {}, [&](const ServiceInstance& in, const std::string&) {
      tags.insert(in.tags.begin(), in.tags.end());
    });
    out[s.name] = tags;
  }
  return out;
}

Awaitable<Response> ConsulApi::catalog_services(RouteContext& ctx) {
  const auto* who = acl_principal(ctx);
  const bool partial = who != nullptr && !who->rules->services_under("", Access::read);
  if (!partial) {
    auto index = co_await block(ctx, "");
    if (!index) co_return http::error_response(index.error());
    co_return consul_json(catalog_json(ctx), *index);
  }
  // A caller that may read only some services waits on through changes it would not see: each
  // further wait is a blocking query from the index reached, for the time left.
  const auto seen = catalog_json(ctx);
  auto wait = std::min(options_.default_wait, options_.max_wait);
  if (const auto* w = ctx.target.param("wait")) {
    if (auto d = consul::parse_go_duration(*w, "wait")) wait = std::min(*d, options_.max_wait);
  }
  const auto until = std::chrono::steady_clock::now() + wait;
  auto index = co_await block(ctx, "");
  while (index && ctx.target.param("index") != nullptr && catalog_json(ctx) == seen) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    ctx.target.query.erase("index");
    ctx.target.query.emplace("index", std::to_string(*index));
    ctx.target.query.erase("wait");
    ctx.target.query.emplace("wait", std::to_string(left.count()) + "ms");
    index = co_await block(ctx, "");
  }
  if (!index) co_return http::error_response(index.error());
  co_return consul_json(catalog_json(ctx), *index);
}

Awaitable<Response> ConsulApi::catalog_service(RouteContext& ctx) {
  const auto& service = ctx.params.at("service");
  auto index = co_await block(ctx, service);
  if (!index) co_return http::error_response(index.error());
  json out = json::array();
  for (const auto& in : instances_of(service, ctx.target, false)) {
    out.push_back(consul::catalog_entry(in, options_.node, *index));
  }
  co_return consul_json(out, *index);
}

Awaitable<Response> ConsulApi::health_service(RouteContext& ctx) {
  const auto& service = ctx.params.at("service");
  auto index = co_await block(ctx, service);
  if (!index) co_return http::error_response(index.error());
  const bool passing = flag(ctx.target, "passing");
  const bool complete = !passing && ctx.target.param("tag") == nullptr;
  auto res = consul_json(json(), *index);
  res.body() = health_cache_.answer(
      service,
      [&](const ConsulHealthCache::Visit& visit) {
        registry_.for_each(service, {}, [&](const ServiceInstance& in, const std::string& record) {
          if (passing && in.status != InstanceStatus::healthy) return;
          if (has_tags(in, ctx.target)) visit(in, record);
        });
      },
      *index, complete);
  co_return res;
}

Awaitable<void> ConsulApi::reap() {
  const auto now = time_.steady_now();
  std::map<std::pair<std::string, std::string>, SteadyTime> still;
  std::vector<ServiceInstance> doomed;
  std::vector<ServiceInstance> candidates;  // copied out: the verdict is asked outside the registry's lock
  for (const auto& s : registry_.services_now()) {
    registry_.for_each(s.name, {}, [&](const ServiceInstance& in, const std::string&) {
      if (in.metadata.count(consul::kDeregisterAfterMeta) == 0) return;
      if (in.status == InstanceStatus::maintenance || critical(in.status)) candidates.push_back(in);
    });
  }
  for (auto& in : candidates) {
    const bool failing =
        in.status != InstanceStatus::maintenance || (verdict_ && verdict_(in.service, in.id) == HealthState::unhealthy);
    if (!failing) continue;
    const auto& text = in.metadata.at(consul::kDeregisterAfterMeta);
    auto after = consul::parse_go_duration(text, consul::kDeregisterAfterMeta);
    if (!after) continue;
    auto key = std::pair{in.service, in.id};
    auto known = critical_since_.find(key);
    const auto since = known == critical_since_.end() ? now : known->second;
    if (now - since >= *after) {
      doomed.push_back(std::move(in));
    } else {
      still.emplace(std::move(key), since);
    }
  }
  critical_since_ = std::move(still);
  for (const auto& in : doomed) {
    auto r = co_await registry_.deregister(in.service, in.id);
    if (r) {
      logs::info("consul-api", "event=consul_deregister_critical service={} id={} after={}", in.service, in.id,
                 in.metadata.at(consul::kDeregisterAfterMeta));
    }
  }
}

}  // namespace svckit::daemon
