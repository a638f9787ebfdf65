#include "daemon/eureka_api.hpp"

#include <spdlog/spdlog.h>

#include <map>
#include <set>

#include "daemon/acl_guard.hpp"
#include "daemon/caller_address.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"
#include "svckit/registry/eureka_json.hpp"

namespace svckit::daemon {

using http::Awaitable;
using http::Response;
using http::RouteContext;
using http::Status;
using nlohmann::json;

namespace {

constexpr std::chrono::minutes kDeltaWindow{3};  // Eureka's recently-changed queue retention

Response no_body(Status status) {
  Response r{status, 11};
  r.prepare_payload();
  return r;
}

/// Whether to answer in XML, as a Eureka server does: when the request asks for no JSON — no
/// Accept header (Prometheus's eureka_sd sends none), */*, or XML only. JSON for anyone who
/// names it (Eureka's own clients, svckit's eureka://, eureka-js-client).
bool wants_xml(const http::Request& request) {
  const auto accept = std::string(request[http::beast_http::field::accept]);
  return accept.find("json") == std::string::npos;
}

/// A document in the encoding the request asked for.
Response answer(const http::Request& request, const json& document) {
  if (!wants_xml(request)) return http::json_response(Status::ok, document);
  Response r{Status::ok, 11};
  r.set(http::beast_http::field::content_type, "application/xml");
  r.body() = eureka::to_xml(document);
  r.prepare_payload();
  return r;
}

}  // namespace

EurekaApi::EurekaApi(MemoryRegistry& registry, RegistrationCheck check)
    : registry_(registry), check_(std::move(check)) {
  marks_.emplace_back(std::chrono::steady_clock::now(), registry_.index());
}

void EurekaApi::add_routes(http::Router& router) {
  using V = http::Verb;
  const auto bind = [this](Awaitable<Response> (EurekaApi::*handler)(RouteContext&)) {
    return [this, handler](RouteContext& ctx) { return (this->*handler)(ctx); };
  };
  for (const std::string p : {"/eureka", "/eureka/v2"}) {
    router.add(V::post, p + "/apps/{app}", bind(&EurekaApi::register_instance));
    router.add(V::put, p + "/apps/{app}/{id}", bind(&EurekaApi::renew));
    router.add(V::delete_, p + "/apps/{app}/{id}", bind(&EurekaApi::cancel));
    router.add(V::get, p + "/apps", bind(&EurekaApi::applications));
    router.add(V::get, p + "/apps/{app}", bind(&EurekaApi::application));  // "delta" included
    router.add(V::get, p + "/apps/{app}/{id}", bind(&EurekaApi::instance));
    router.add(V::get, p + "/instances/{id}", bind(&EurekaApi::instance_by_id));
    router.add(V::get, p + "/vips/{vip}", [this](RouteContext& ctx) { return by_vip(ctx, false); });
    router.add(V::get, p + "/svips/{vip}", [this](RouteContext& ctx) { return by_vip(ctx, true); });
    router.add(V::put, p + "/apps/{app}/{id}/status", [this](RouteContext& ctx) { return set_status(ctx, false); });
    router.add(V::delete_, p + "/apps/{app}/{id}/status", [this](RouteContext& ctx) { return set_status(ctx, true); });
    router.add(V::put, p + "/apps/{app}/{id}/metadata", bind(&EurekaApi::set_metadata));
  }
}

std::vector<ServiceInstance> EurekaApi::visible(const RouteContext& ctx) const {
  std::vector<ServiceInstance> out;
  for (const auto& s : registry_.services_now()) {
    if (!may_access_service(ctx, s.name, Access::read)) continue;
    registry_.for_each(s.name, {}, [&](const ServiceInstance& in, const std::string&) { out.push_back(in); });
  }
  return out;
}

std::variant<ServiceInstance, Response> EurekaApi::found_or_refused(const RouteContext& ctx,
                                                                    std::optional<ServiceInstance> found,
                                                                    const std::string& service, Access need) {
  const auto unknown = make_error(ErrorCode::not_found, "no instance '" + ctx.params.at("id") + "'", "id");
  if (auto refused = require_found_service(ctx, found ? &service : nullptr, need, unknown)) return std::move(*refused);
  if (!found) return http::error_response(unknown);
  return std::move(*found);
}

std::variant<ServiceInstance, Response> EurekaApi::path_instance(const RouteContext& ctx, Access need) const {
  auto service = eureka::service_of_app(ctx.params.at("app"));
  if (!service) return http::error_response(service.error());
  const auto& id = ctx.params.at("id");
  std::optional<ServiceInstance> found;
  registry_.for_each(*service, {}, [&](const ServiceInstance& in, const std::string&) {
    if (in.id == id) found = in;
  });
  return found_or_refused(ctx, std::move(found), *service, need);
}

Awaitable<Response> EurekaApi::register_instance(RouteContext& ctx) {
  auto body = parse_json(ctx.request.body());
  if (!body) co_return http::error_response(body.error());
  auto in = eureka::instance_from_registration(*body, ctx.params.at("app"), caller_host(ctx.peer()));
  if (!in) co_return http::error_response(in.error());
  if (auto refused = require_service(ctx, in->service, Access::write)) co_return std::move(*refused);
  if (check_) {
    if (auto r = check_(*in); !r) co_return http::error_response(r.error());
  }
  const auto service = in->service;
  const auto id = in->id;
  auto stored = co_await registry_.register_instance(std::move(*in));
  if (!stored) co_return http::error_response(stored.error());
  logs::debug("eureka-api", "event=eureka_register service={} id={}", service, id);
  co_return no_body(Status::no_content);
}

Awaitable<Response> EurekaApi::renew(RouteContext& ctx) {
  auto found = path_instance(ctx, Access::write);
  if (auto* refused = std::get_if<Response>(&found)) co_return std::move(*refused);  // 404: the client registers again
  const auto& in = std::get<ServiceInstance>(found);
  auto renewed = co_await registry_.renew(in.service, in.id);
  if (!renewed) co_return http::error_response(renewed.error());
  co_return no_body(Status::ok);
}

Awaitable<Response> EurekaApi::cancel(RouteContext& ctx) {
  auto found = path_instance(ctx, Access::write);
  if (auto* refused = std::get_if<Response>(&found)) co_return std::move(*refused);
  const auto& in = std::get<ServiceInstance>(found);
  auto removed = co_await registry_.deregister(in.service, in.id);
  if (!removed) co_return http::error_response(removed.error());
  co_return no_body(Status::ok);
}

Awaitable<Response> EurekaApi::applications(RouteContext& ctx) {
  (void)delta_start();  // every fetch marks where a later delta may start
  const auto index = registry_.index();
  const auto all = visible(ctx);
  co_return answer(ctx.request, eureka::applications_json(all, index, eureka::apps_hashcode(all)));
}

std::uint64_t EurekaApi::delta_start() {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(marks_mutex_);
  if (marks_.empty() || now - marks_.back().first >= std::chrono::seconds(5)) {
    marks_.emplace_back(now, registry_.index());
  }
  // Keep one mark at least a window old: the delta starts there.
  while (marks_.size() > 1 && now - marks_[1].first >= kDeltaWindow) marks_.pop_front();
  return marks_.front().second;
}

Awaitable<Response> EurekaApi::delta(RouteContext& ctx) {
  const auto since = delta_start();
  auto changes = co_await registry_.watch(WatchRequest("", since, std::chrono::milliseconds(0)));
  if (!changes) co_return http::error_response(changes.error());
  // The last change of each instance decides its action; ADDED/MODIFIED carry its state now.
  std::map<std::pair<std::string, std::string>, EventType> last;
  std::map<std::pair<std::string, std::string>, ServiceInstance> removed;
  if (changes->reset) {
    for (const auto& in : changes->snapshot) last[{in.service, in.id}] = EventType::registered;
  }
  for (const auto& e : changes->events) {
    const std::pair key{e.instance.service, e.instance.id};
    const auto before = last.find(key);
    const bool was_new = before != last.end() && before->second == EventType::registered;
    last[key] = e.type == EventType::registered || was_new ? EventType::registered : e.type;
    if (e.type == EventType::deregistered) {
      last[key] = EventType::deregistered;
      removed[key] = e.instance;
    }
  }
  std::map<std::string, json> apps;  // by service
  for (const auto& [changed_key, type] : last) {
    const auto& key = changed_key;  // a plain reference: clang cannot capture a structured binding
    if (!may_access_service(ctx, key.first, Access::read)) continue;
    json entry;
    if (type == EventType::deregistered) {
      entry = eureka::instance_json(removed[key], "DELETED");
    } else {
      std::optional<ServiceInstance> now;
      registry_.for_each(key.first, {}, [&](const ServiceInstance& in, const std::string&) {
        if (in.id == key.second) now = in;
      });
      if (!now) continue;  // gone since, by a change not in this window: the hashcode tells the client
      entry = eureka::instance_json(*now, type == EventType::registered ? "ADDED" : "MODIFIED");
    }
    auto& app = apps[key.first];
    if (app.is_null()) app = json{{"name", eureka::app_name(key.first)}, {"instance", json::array()}};
    app["instance"].push_back(std::move(entry));
  }
  json list = json::array();
  for (auto& [service, app] : apps) list.push_back(std::move(app));
  const auto all = visible(ctx);
  co_return answer(ctx.request, json{{"applications",
                                      {{"versions__delta", std::to_string(changes->index)},
                                       {"apps__hashcode", eureka::apps_hashcode(all)},
                                       {"application", std::move(list)}}}});
}

Awaitable<Response> EurekaApi::application(RouteContext& ctx) {
  if (ctx.params.at("app") == "delta") co_return co_await delta(ctx);
  auto service = eureka::service_of_app(ctx.params.at("app"));
  if (!service) co_return http::error_response(service.error());
  if (auto refused = require_service(ctx, *service, Access::read)) co_return std::move(*refused);
  std::vector<ServiceInstance> list;
  registry_.for_each(*service, {}, [&](const ServiceInstance& in, const std::string&) { list.push_back(in); });
  if (list.empty()) {
    co_return http::error_response(
        make_error(ErrorCode::not_found, "no app '" + ctx.params.at("app") + "' is registered", "app"));
  }
  co_return answer(ctx.request, json{{"application", eureka::application_json(*service, list)}});
}

Awaitable<Response> EurekaApi::instance(RouteContext& ctx) {
  auto found = path_instance(ctx, Access::read);
  if (auto* refused = std::get_if<Response>(&found)) co_return std::move(*refused);
  co_return answer(ctx.request, json{{"instance", eureka::instance_json(std::get<ServiceInstance>(found))}});
}

Awaitable<Response> EurekaApi::instance_by_id(RouteContext& ctx) {
  const auto& id = ctx.params.at("id");
  std::optional<ServiceInstance> found;
  for (const auto& s : registry_.services_now()) {
    registry_.for_each(s.name, {}, [&](const ServiceInstance& in, const std::string&) {
      if (in.id == id && !found) found = in;
    });
  }
  const auto service = found ? found->service : std::string();
  auto answer = found_or_refused(ctx, std::move(found), service, Access::read);
  if (auto* refused = std::get_if<Response>(&answer)) co_return std::move(*refused);
  co_return ::svckit::daemon::answer(ctx.request,
                                     json{{"instance", eureka::instance_json(std::get<ServiceInstance>(answer))}});
}

Awaitable<Response> EurekaApi::by_vip(RouteContext& ctx, bool secure) {
  const auto& vip = ctx.params.at("vip");
  std::vector<ServiceInstance> matching;
  for (const auto& in : visible(ctx)) {
    const auto shown = eureka::instance_json(in);
    std::string addresses = shown.value(secure ? "secureVipAddress" : "vipAddress", "");
    // A vipAddress may list several, comma-separated.
    std::size_t start = 0;
    bool hit = false;
    while (!hit && start <= addresses.size()) {
      const auto comma = addresses.find(',', start);
      hit = addresses.substr(start, comma == std::string::npos ? std::string::npos : comma - start) == vip;
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    if (hit) matching.push_back(in);
  }
  co_return answer(ctx.request,
                   eureka::applications_json(matching, registry_.index(), eureka::apps_hashcode(matching)));
}

Awaitable<Response> EurekaApi::set_status(RouteContext& ctx, bool remove_override) {
  auto found = path_instance(ctx, Access::write);
  if (auto* refused = std::get_if<Response>(&found)) co_return std::move(*refused);
  const auto& in = std::get<ServiceInstance>(found);
  InstanceStatus status = InstanceStatus::healthy;  // removing the override: back in service
  if (!remove_override) {
    const auto* value = ctx.target.param("value");
    if (value == nullptr) {
      co_return http::error_response(
          make_error(ErrorCode::invalid_argument, "value is required (?value=OUT_OF_SERVICE)", "value"));
    }
    auto parsed = eureka::status_from_name(*value);
    if (!parsed) {
      co_return http::error_response(make_error(ErrorCode::invalid_argument,
                                                "'" + *value + "' is not UP, DOWN, STARTING, OUT_OF_SERVICE or UNKNOWN",
                                                "value"));
    }
    status = *parsed;
  }
  auto changed = co_await registry_.set_status(in.service, in.id, status);
  if (!changed) co_return http::error_response(changed.error());
  co_return no_body(Status::ok);
}

Awaitable<Response> EurekaApi::set_metadata(RouteContext& ctx) {
  auto found = path_instance(ctx, Access::write);
  if (auto* refused = std::get_if<Response>(&found)) co_return std::move(*refused);
  auto updated = std::get<ServiceInstance>(std::move(found));
  for (const auto& [key, value] : ctx.target.query) {
    if (key.empty() || key.rfind(eureka::kMetaPrefix, 0) == 0) {
      co_return http::error_response(make_error(ErrorCode::invalid_argument,
                                                "metadata key '" + key + "' is svckitd's own: it cannot be set", key));
    }
    if (key == "zone") {
      updated.zone = value;
    } else {
      updated.metadata[key] = value;
    }
  }
  if (auto valid = validate(updated); !valid) co_return http::error_response(valid.error());
  auto stored = co_await registry_.register_instance(std::move(updated));
  if (!stored) co_return http::error_response(stored.error());
  co_return no_body(Status::ok);
}

}  // namespace svckit::daemon
