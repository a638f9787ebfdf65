#include "daemon/registry_api.hpp"

#include <algorithm>
#include <cctype>
#include <optional>

#include <charconv>
#include <nlohmann/json.hpp>

#include "daemon/ascii.hpp"
#include "daemon/instance_list_body.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/registry/registry_json.hpp"

namespace svckit::daemon {

using http::Awaitable;
using http::Response;
using http::RouteContext;
using http::Status;
using nlohmann::json;

namespace {

constexpr const char* kIndexHeader = "X-Svckit-Index";

Response ok(const json& body) { return http::json_response(Status::ok, body); }

Result<void> check_path_ids(const RouteContext& ctx) {
  if (auto r = validate_service_name(ctx.params.at("service")); !r) return r;
  if (auto it = ctx.params.find("id"); it != ctx.params.end()) {
    if (auto r = validate_instance_id(it->second); !r) return r;
  }
  return {};
}

Result<json> json_body(const http::Request& request) {
  if (request.body().empty()) return make_error(ErrorCode::invalid_argument, "a JSON body is required", "body");
  return parse_json(request.body());
}

}  // namespace

RegistryApi::RegistryApi(MemoryRegistry& registry, MetricsRegistry& metrics, RegistryApiOptions options,
                         WatchSlots& watches)
    : registry_(registry),
      metrics_(metrics),
      watches_(watches),
      options_(options),
      registrations_(metrics.counter("svckit_registrations_total", "Successful registrations.").get()),
      deregistrations_(metrics.counter("svckit_deregistrations_total", "Successful deregistrations.").get()),
      discoveries_(metrics.counter("svckit_discoveries_total", "Discovery reads (get, list, watch).").get()),
      heartbeats_(metrics.counter("svckit_heartbeats_total", "Accepted heartbeats.").get()),
      requests_(metrics.counter("svckit_http_requests_total", "HTTP requests by route, method and code.",
                                {"route", "method", "code"})),
      latency_(metrics.histogram("svckit_http_request_duration_seconds", "HTTP request latency by route.", {"route"})),
      instances_active_(metrics.gauge("svckit_instances_active", "Registered instances by service.", {"service"})),
      watchers_active_(
          metrics.gauge("svckit_watchers_active", "Watches waiting for a change (incl. svckitd's health follower).")
              .get()),
      long_polls_(metrics
                      .gauge("svckit_long_polls_active",
                             "Client long polls holding a watch slot (watches, blocking queries, config watches).")
                      .get()),
      throttled_(metrics
                     .counter("svckit_api_writes_throttled_total",
                              "API writes refused with 429 by the per-client write rate (limits.write_rate_per_peer).")
                     .get()) {
  add_routes();
}

void RegistryApi::add_routes() {
  using V = http::Verb;
  auto bind = [this](auto method) {
    return [this, method](RouteContext& ctx) -> Awaitable<Response> { return (this->*method)(ctx); };
  };
  router_.add(V::post, "/v1/instances", bind(&RegistryApi::register_instance));
  router_.add(V::get, "/v1/services", bind(&RegistryApi::list_services));
  router_.add(V::get, "/v1/services/{service}/instances", bind(&RegistryApi::list_instances));
  router_.add(V::get, "/v1/services/{service}/instances/{id}", bind(&RegistryApi::get_instance));
  router_.add(V::delete_, "/v1/services/{service}/instances/{id}", bind(&RegistryApi::deregister));
  router_.add(V::put, "/v1/services/{service}/instances/{id}/heartbeat", bind(&RegistryApi::heartbeat));
  router_.add(V::put, "/v1/services/{service}/instances/{id}/status", bind(&RegistryApi::set_status));
  router_.add(V::get, "/v1/watch", bind(&RegistryApi::watch));
  router_.add(V::get, "/healthz", [this](RouteContext&) -> Awaitable<Response> {
    if (storage_failure_) {
      if (auto failing = storage_failure_()) {
        co_return http::json_response(
            http::Status::service_unavailable,
            json{{"status", "failing"},
                 {"checks", {{"storage", {{"status", "failing"}, {"error", failing->message}}}}}});
      }
    }
    co_return ok(json{{"status", "ok"}});
  });
  router_.add(V::get, "/metrics", [this](RouteContext&) -> Awaitable<Response> { co_return metrics_text(); });
}

namespace {

/// "host:port" / "[v6]:port" / "host" → host, lower case.
std::string host_part(std::string_view authority) {
  if (authority.starts_with('[')) return ascii_lower(authority.substr(0, authority.find(']') + 1));
  const auto colon = authority.rfind(':');
  return ascii_lower(colon == std::string_view::npos ? authority : authority.substr(0, colon));
}

bool ip_literal(const std::string& host) {
  if (host.starts_with('[')) return true;  // IPv6 in brackets
  if (host.empty() || host.find_first_not_of("0123456789.") != std::string::npos) return false;
  return std::count(host.begin(), host.end(), '.') == 3;
}

/// "<8 or 32 hex digits>.addr.<domain>", a trailing dot allowed (`host` is lower case): how
/// svckitd's DNS interface names an address, e.g. in its SRV targets — an IP literal in another
/// spelling, which svckitd's DNS always answers with the address it spells.
bool address_name(std::string_view host, const std::string& domain) {
  if (domain.empty()) return false;
  if (host.ends_with('.')) host.remove_suffix(1);
  const auto dot = host.find('.');
  if (dot != 8 && dot != 32) return false;
  if (host.substr(0, dot).find_first_not_of("0123456789abcdef") != std::string_view::npos) return false;
  return host.substr(dot) == ".addr." + ascii_lower(domain);
}

Response refusal(http::Status status, const std::string& message, const std::string& field) {
  auto response = http::error_response(make_error(ErrorCode::invalid_argument, message, field));
  response.result(status);
  return response;
}

}  // namespace

std::optional<Response> refuse_browser_attack(const http::Request& request,
                                              const std::vector<std::string>& allowed_hosts,
                                              const std::string& address_domain) {
  const auto host_header = request[http::beast_http::field::host];
  if (!host_header.empty()) {  // (HTTP/1.0 may omit it; HTTP/1.1 without one never gets here)
    const auto host = host_part(host_header);
    const bool allowed = ip_literal(host) || host == "localhost" || address_name(host, address_domain) ||
                         std::find(allowed_hosts.begin(), allowed_hosts.end(), host) != allowed_hosts.end();
    if (!allowed) {
      return refusal(http::Status::forbidden,
                     "Host '" + std::string(host_header) +
                         "' is not an address of svckitd; add the name to api.allowed_hosts to use it",
                     "Host");
    }
  }
  const auto method = request.method();
  if (method == http::Verb::get || method == http::Verb::head || method == http::Verb::options) return std::nullopt;
  const auto origin = request[http::beast_http::field::origin];
  if (!origin.empty()) {
    const auto scheme_end = origin.find("://");
    const auto authority = scheme_end == std::string_view::npos ? origin : origin.substr(scheme_end + 3);
    if (ascii_lower(authority) != ascii_lower(host_header)) {
      return refusal(http::Status::forbidden,
                     "a write from the page of another origin (" + std::string(origin) + ") is refused", "Origin");
    }
  }
  const auto type = ascii_lower(request[http::beast_http::field::content_type]);
  // Nacos's API is form-encoded by design (its Java client posts forms): allowed there, behind
  // the Host and Origin checks above (a browser names the page's origin on every cross-site POST).
  const bool nacos_form = std::string_view(request.target()).starts_with("/nacos/") &&
                          type.starts_with("application/x-www-form-urlencoded");
  for (const char* simple : {"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"}) {
    if (nacos_form) break;
    if (type.starts_with(simple)) {
      return refusal(http::Status::unsupported_media_type,
                     "Content-Type " + std::string(simple) + " is refused on writes; send application/json",
                     "Content-Type");
    }
  }
  return std::nullopt;
}

namespace {

/// Heartbeats (native and Consul TTL check updates): frequent writes that never touch the disk.
bool memory_only_write(const http::Request& request) {
  const std::string_view target = request.target();
  const auto path = target.substr(0, target.find('?'));
  return path.ends_with("/heartbeat") || path.starts_with("/v1/agent/check/");
}

}  // namespace

Awaitable<Response> RegistryApi::handle(http::Request& request, const http::RequestContext* connection) {
  const auto start = std::chrono::steady_clock::now();
  std::string route;
  const bool write = request.method() != http::Verb::get && request.method() != http::Verb::head &&
                     request.method() != http::Verb::options;
  const std::string peer = connection != nullptr ? connection->remote_address : std::string();
  // The caller's token accessor, resolved (a SHA-256 and a lookup) at most once per request here.
  std::optional<std::string> accessor;
  const auto token_accessor = [&]() -> const std::string& {
    if (!accessor) accessor = acl_->accessor_of(request);
    return *accessor;
  };
  Response response;
  if (auto refused = refuse_browser_attack(request, options_.allowed_hosts, options_.address_domain)) {
    response = std::move(*refused);
    route = "refused";
  }
  if (write && route.empty() && write_limiter_ != nullptr) {
    // With ACLs, a known token has its own bucket wherever it calls from (several services behind
    // one NAT address do not share one); requests without one are counted by address.
    std::string client = "peer:" + peer;
    std::string who = peer;
    if (acl_ != nullptr && token_accessor() != "anonymous" && token_accessor() != "unknown") {
      client = "token:" + token_accessor();
      who = "token " + token_accessor();
    }
    if (const auto wait = write_limiter_->admit(client)) {
      throttled_.inc();
      response = http::error_response(make_error(
          ErrorCode::limit_exceeded, "too many writes from " + who + " (limits.write_rate_per_peer); retry later",
          "limits.write_rate_per_peer"));
      response.set(http::beast_http::field::retry_after, std::to_string((wait->count() + 999) / 1000));
      route = "throttled";
    }
  }
  if (write && route.empty() && sync_ && storage_failure_ && storage_failure_() && !memory_only_write(request)) {
    // Storage is failing: try once more first (the disk may be back). If it still fails, a config
    // change is refused here and a persistent registration or deregistration by the registry
    // (MemoryRegistry::set_persistent_write_refusal), so neither is applied without being stored.
    // Heartbeats need no disk and do not retry: after a failure the retry rewrites the whole
    // snapshot, too much to do for each of thousands of heartbeats a second.
    if (auto synced = co_await sync_(); !synced && request.target().starts_with("/v1/config")) {
      response = http::error_response(
          make_error(ErrorCode::unavailable,
                     "persistent storage is failing, nothing was changed: " + synced.error().message, "snapshot_file"));
      route = "storage_failing";
    }
  }
  const std::uint64_t mark = write && change_mark_ ? change_mark_() : 0;
  if (route.empty()) response = co_await router_.dispatch(request, route, connection);
  if (write && sync_ && response.result_int() < 300 && change_mark_() != mark) {
    if (auto synced = co_await sync_(); !synced) {
      // Applied in memory but not stored: not acknowledged (it may not survive a restart).
      response = http::error_response(
          make_error(ErrorCode::unavailable,
                     "the change could not be stored and is not acknowledged (retry it): " + synced.error().message,
                     "snapshot_file"));
    }
  }
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  requests_.with({route, std::string(request.method_string()), std::to_string(response.result_int())}).inc();
  latency_.with({route}).observe(elapsed.count());
  if (write && audit_ != nullptr) {
    const std::string_view target = request.target();
    AuditEntry entry;
    entry.peer = peer;
    if (acl_ != nullptr) entry.token = token_accessor();
    entry.method = std::string(request.method_string());
    entry.path = std::string(target.substr(0, target.find('?')));
    entry.route = route;
    entry.status = response.result_int();
    audit_->record(entry);
  }
  if (stale_ && stale_()) response.set("X-Svckit-Stale", "true");
  co_return response;
}

Awaitable<Response> RegistryApi::register_instance(RouteContext& ctx) {
  auto body = json_body(ctx.request);
  if (!body) co_return http::error_response(body.error());
  auto instance = instance_from_json(*body);
  if (!instance) co_return http::error_response(instance.error());
  if (auto refused = require_service(ctx, instance->service, Access::write)) co_return std::move(*refused);
  // With checks and no status, nothing vouches for the instance until its first check passes
  // (as Consul's checks start critical): it starts out of rotation.
  if (!instance->checks.empty() && !body->contains("status")) instance->status = InstanceStatus::starting;
  if (registration_check_) {
    if (auto r = registration_check_(*instance); !r) co_return http::error_response(r.error());
  }
  auto stored = co_await registry_.register_instance(std::move(*instance));
  if (!stored) co_return http::error_response(stored.error());
  registrations_.inc();
  co_return ok(to_json(*stored));
}

Awaitable<Response> RegistryApi::deregister(RouteContext& ctx) {
  if (auto r = check_path_ids(ctx); !r) co_return http::error_response(r.error());
  auto r = co_await registry_.deregister(ctx.params.at("service"), ctx.params.at("id"));
  if (!r) co_return http::error_response(r.error());
  deregistrations_.inc();
  co_return ok(json{{"deregistered", true}});
}

Awaitable<Response> RegistryApi::heartbeat(RouteContext& ctx) {
  if (auto r = check_path_ids(ctx); !r) co_return http::error_response(r.error());
  auto r = co_await registry_.renew(ctx.params.at("service"), ctx.params.at("id"));
  if (!r) co_return http::error_response(r.error());
  heartbeats_.inc();
  co_return ok(json{{"renewed", true}});
}

Awaitable<Response> RegistryApi::set_status(RouteContext& ctx) {
  if (auto r = check_path_ids(ctx); !r) co_return http::error_response(r.error());
  auto body = json_body(ctx.request);
  if (!body) co_return http::error_response(body.error());
  if (!body->is_object() || !body->contains("status") || !(*body)["status"].is_string()) {
    co_return http::error_response(
        make_error(ErrorCode::invalid_argument, "body must be {\"status\": \"<status>\"}", "status"));
  }
  for (const auto& [key, v] : body->items()) {
    if (key != "status") {
      co_return http::error_response(make_error(ErrorCode::invalid_argument, "unknown field '" + key + "'", key));
    }
  }
  const auto text = (*body)["status"].get<std::string>();
  const auto status = parse_instance_status(text);
  if (!status) {
    co_return http::error_response(make_error(
        ErrorCode::invalid_argument,
        "status must be one of starting, healthy, unhealthy, maintenance, down; got '" + text + "'", "status"));
  }
  auto r = co_await registry_.set_status(ctx.params.at("service"), ctx.params.at("id"), *status);
  if (!r) co_return http::error_response(r.error());
  co_return ok(json{{"status", text}});
}

Awaitable<Response> RegistryApi::get_instance(RouteContext& ctx) {
  if (auto r = check_path_ids(ctx); !r) co_return http::error_response(r.error());
  discoveries_.inc();
  auto r = co_await registry_.get(ctx.params.at("service"), ctx.params.at("id"));
  if (!r) co_return http::error_response(r.error());
  co_return ok(to_json(*r));
}

Result<WatchRequest> RegistryApi::watch_request(const http::Target& target, std::string service) const {
  WatchRequest request(std::move(service), 0, options_.default_wait);
  if (const auto* index = target.param("index")) {
    std::uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(index->data(), index->data() + index->size(), n);
    if (ec != std::errc{} || ptr != index->data() + index->size()) {
      return make_error(ErrorCode::invalid_argument, "index must be a non-negative integer", "index");
    }
    request.after_index = n;
  }
  if (const auto* wait = target.param("wait")) {
    auto d = parse_duration(*wait, "wait");
    if (!d) return d.error();
    request.wait = std::min(*d, options_.max_wait);
  }
  return request;
}

Awaitable<Response> RegistryApi::list_instances(RouteContext& ctx) {
  if (auto r = check_path_ids(ctx); !r) co_return http::error_response(r.error());
  auto filter = filter_from_query(ctx.target.query);
  if (!filter) co_return http::error_response(filter.error());
  discoveries_.inc();
  const auto& service = ctx.params.at("service");
  std::uint64_t index = registry_.index();
  if (ctx.target.param("index") != nullptr) {  // blocking query: answer when the service changes
    auto request = watch_request(ctx.target, service);
    if (!request) co_return http::error_response(request.error());
    if (request->after_index != 0) {
      auto waited = co_await parked_watch(ctx, std::move(*request));
      if (auto refused = refuse_if_revoked(ctx)) co_return std::move(*refused);
      if (!waited) co_return http::error_response(waited.error());
      index = waited->index;
    }
  }
  // Each instance's JSON is cached in the store, shared and immutable: a list takes one pointer per
  // instance under the lock (no record copies, no JSON DOM). A large one is written piece by piece
  // as the client reads (InstanceListBody), so slow readers hold pointers, not copies of the text.
  auto records = registry_.json_records(service, *filter);
  index = records.index;
  std::string suffix = "],\"index\":" + std::to_string(index) + ",\"service\":" + json(service).dump() + "}";
  std::string body;
  auto streamed = std::make_unique<InstanceListBody>(std::move(records.records), suffix);
  if (streamed->size() > InstanceListBody::kPieceBytes && ctx.connection != nullptr && ctx.connection->stream_body) {
    ctx.connection->stream_body(std::move(streamed));
  } else {
    body.reserve(streamed->size());
    for (auto piece = streamed->next(); !piece.empty(); piece = streamed->next()) body += piece;
  }
  Response res{Status::ok, 11};
  res.set(http::beast_http::field::content_type, "application/json");
  res.body() = std::move(body);
  res.set(kIndexHeader, std::to_string(index));
  co_return res;
}

Awaitable<Response> RegistryApi::list_services(RouteContext& ctx) {
  discoveries_.inc();
  const auto index = registry_.index();
  auto services = co_await registry_.list_services();
  if (!services) co_return http::error_response(services.error());
  json items = json::array();
  for (const auto& s : *services) {
    if (may_access_service(ctx, s.name, Access::read)) items.push_back(to_json(s));
  }
  auto res = ok(json{{"index", index}, {"services", std::move(items)}});
  res.set(kIndexHeader, std::to_string(index));
  co_return res;
}

Awaitable<Response> RegistryApi::watch(RouteContext& ctx) {
  std::string service;
  if (const auto* s = ctx.target.param("service"); s != nullptr && !s->empty()) {
    if (auto r = validate_service_name(*s); !r) co_return http::error_response(r.error());
    if (auto refused = require_service(ctx, *s, Access::read)) co_return std::move(*refused);
    service = *s;
  }
  auto request = watch_request(ctx.target, service);
  if (!request) co_return http::error_response(request.error());
  discoveries_.inc();
  // A caller that may not read every service sees only the events it may read, and its watch
  // waits on through changes it would not see (until its wait runs out).
  const bool filtered =
      service.empty() && acl_principal(ctx) != nullptr && !acl_principal(ctx)->rules->services_under("", Access::read);
  const auto deadline = std::chrono::steady_clock::now() + request->wait;
  auto result = co_await parked_watch(ctx, *request);
  while (filtered && result) {
    filter_watch_result(ctx, *result);
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (result->reset || !result->events.empty() || left.count() <= 0 || refuse_if_revoked(ctx)) break;
    request->after_index = result->index;
    request->wait = left;
    result = co_await parked_watch(ctx, *request);
  }
  if (auto refused = refuse_if_revoked(ctx)) co_return std::move(*refused);
  if (!result) co_return http::error_response(result.error());
  Response res{Status::ok, 11};
  res.set(http::beast_http::field::content_type, "application/json");
  append_json(res.body(), *result);
  res.set(kIndexHeader, std::to_string(result->index));
  co_return res;
}

void RegistryApi::filter_watch_result(const RouteContext& ctx, WatchResult& result) {
  std::erase_if(result.events,
                [&](const RegistryEvent& e) { return !may_access_service(ctx, e.instance.service, Access::read); });
  std::erase_if(result.snapshot,
                [&](const ServiceInstance& in) { return !may_access_service(ctx, in.service, Access::read); });
}

Awaitable<Result<WatchResult>> RegistryApi::parked_watch(const RouteContext& ctx, WatchRequest request) {
  std::optional<WatchSlots::Ticket> slot;
  if (request.wait.count() > 0 && request.after_index != 0) {  // it may park
    auto taken = watches_.take(ctx.peer());
    if (!taken) co_return taken.error();
    slot.emplace(std::move(*taken));
    request.cancel = long_poll_cancel(ctx);
  }
  co_return co_await registry_.watch(std::move(request));
}

Response RegistryApi::metrics_text() {
  // Scrapes may run at once on several threads: set the live services' gauges, then remove those
  // of services that are gone (a removed series outlives the removal pass, so a concurrent scrape
  // that still sets it writes to live memory). Clearing the family first freed the series another
  // scrape was setting.
  LabelValues live;
  for (const auto& s : registry_.services_now()) {
    instances_active_.with({s.name}).set(static_cast<double>(s.instances));
    live.insert(s.name);
  }
  std::map<std::string, double, std::less<>> shown;
  instances_active_.add_activity("service", shown);
  LabelValues gone;
  for (const auto& [name, value] : shown) {
    if (live.count(name) == 0) gone.insert(name);
  }
  if (!gone.empty()) instances_active_.remove_series("service", gone);
  watchers_active_.set(static_cast<double>(registry_.watcher_count()));
  long_polls_.set(static_cast<double>(watches_.in_use()));
  Response res{Status::ok, 11};
  res.set(http::beast_http::field::content_type, "text/plain; version=0.0.4");
  res.body() = metrics_.render_prometheus();
  return res;
}

}  // namespace svckit::daemon
