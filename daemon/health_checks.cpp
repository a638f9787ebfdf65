#include "daemon/health_checks.hpp"

#include "svckit/core/duration.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "daemon/acl_guard.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"

namespace svckit::daemon {

namespace asio = boost::asio;
using http::Awaitable;
using http::Response;
using nlohmann::json;

InstanceHealthChecks::InstanceHealthChecks(MemoryRegistry& registry, MetricsRegistry& metrics, asio::io_context& io,
                                           const HealthCheckers& checkers, const TimeSource& time, Random& random)
    : registry_(registry),
      checkers_(checkers),
      strand_(asio::make_strand(io)),
      checks_total_(metrics.counter("svckit_health_checks_total", "Active health checks run, by result.",
                                    {"service", "type", "result"})),
      check_duration_(
          metrics.histogram("svckit_health_check_duration_seconds", "Active health check latency.", {"type"})),
      changes_total_(metrics.counter("svckit_health_status_changes_total",
                                     "Instance health changes decided by active checks.", {"service", "to"})),
      monitor_(
          io.get_executor(), checkers, time, random, HealthMonitorOptions{},
          [this](const HealthChange& c) { on_change(c); },
          [this](const std::string& s, const std::string& t, const CheckResult& r) { on_result(s, t, r); }) {}

InstanceHealthChecks::~InstanceHealthChecks() { monitor_.stop(); }

namespace {

bool loopback(std::string_view host) {
  return host == "localhost" || host.starts_with("127.") || host == "::1" || host == "[::1]";
}

/// The host part of "host:port" / "[v6]:port".
std::string_view host_of(std::string_view target) {
  if (target.starts_with('[')) return target.substr(0, target.find(']') + 1);
  return target.substr(0, target.rfind(':'));
}

}  // namespace

Result<void> InstanceHealthChecks::supported(const ServiceInstance& instance) const {
  for (std::size_t i = 0; i < instance.checks.size(); ++i) {
    const auto& check = instance.checks[i];
    const auto where = "checks[" + std::to_string(i) + "]";
    if (check.interval < policy_.min_interval) {
      return make_error(ErrorCode::invalid_argument,
                        where + ".interval must be at least " + format_duration(policy_.min_interval) +
                            " (svckitd's health.min_interval)",
                        where + ".interval");
    }
    if (!policy_.allow_any_target && !check.target.empty()) {
      const auto host = host_of(check.target);
      const bool own = host == instance.host || (loopback(host) && loopback(instance.host));
      if (!own) {
        return make_error(ErrorCode::invalid_argument,
                          where + ".target '" + check.target + "' is not the instance's own host " + instance.host +
                              " (svckitd's health.allow_any_target opens this)",
                          where + ".target");
      }
    }
  }
  for (std::size_t i = 0; i < instance.checks.size(); ++i) {
    if (!checkers_.find(instance.checks[i].type)) {
      const auto field = "checks[" + std::to_string(i) + "].type";
      std::string known;
      for (const auto& t : checkers_.types()) known += (known.empty() ? "" : ", ") + t;
      return make_error(ErrorCode::invalid_argument,
                        field + " '" + instance.checks[i].type + "' is not a known checker (" + known + ")", field);
    }
  }
  return {};
}

HealthState InstanceHealthChecks::verdict(const std::string& service, const std::string& id) const {
  const auto health = monitor_.instance(service, id);
  return health ? health->state : HealthState::unknown;
}

void InstanceHealthChecks::start() { asio::co_spawn(strand_, follow_registry(), asio::detached); }

void InstanceHealthChecks::stop() {
  stopping_ = true;
  cancel_->cancel();
  monitor_.stop();
}

void InstanceHealthChecks::ownership_changed() {
  asio::post(strand_, [this] {
    if (stopping_) return;
    const auto known = known_;  // apply() updates it
    for (const auto& [key, instance] : known) apply(instance);
  });
}

void InstanceHealthChecks::forget(const std::string& service, const std::string& id) {
  const auto key = std::make_pair(service, id);
  known_.erase(key);
  if (watched_.erase(key) > 0) monitor_.unwatch(service, id);
  checked_ = watched_.size();
}

void InstanceHealthChecks::apply(const ServiceInstance& instance) {
  const auto key = std::make_pair(instance.service, instance.id);
  if (instance.checks.empty() || (owns_ && !owns_(instance.service, instance.id))) {
    if (instance.checks.empty()) {
      known_.erase(key);
    } else {
      known_.insert_or_assign(key, instance);  // another node checks it, for now
    }
    if (watched_.erase(key) > 0) monitor_.unwatch(instance.service, instance.id);
    checked_ = watched_.size();
    return;
  }
  if (owns_) known_.insert_or_assign(key, instance);
  if (auto r = monitor_.watch(instance); !r) {
    logs::warn("health", "event=health_check_rejected service={} instance={} error=\"{}\"", instance.service,
               instance.id, r.error().describe());
    return;
  }
  watched_.insert(key);
  checked_ = watched_.size();
  // A re-registration resets the status to what the instance said: put the checks' verdict back.
  const auto health = monitor_.instance(instance.service, instance.id);
  if (!health) return;
  // (A re-registration as "starting" counts too: with the checks' state unchanged no transition
  // would ever come, and the instance would stay out of rotation.)
  const bool owned = instance.status == InstanceStatus::healthy || instance.status == InstanceStatus::unhealthy ||
                     instance.status == InstanceStatus::starting;
  const auto verdict = health->state == HealthState::healthy ? InstanceStatus::healthy : InstanceStatus::unhealthy;
  const bool wrong = owned && health->state != HealthState::unknown && instance.status != verdict;
  if (wrong) {
    asio::co_spawn(strand_, write_status(instance.service, instance.id, health->state, "re-registered"),
                   asio::detached);
  }
}

Awaitable<void> InstanceHealthChecks::follow_registry() {
  std::uint64_t index = 0;
  while (!stopping_) {
    auto result = co_await registry_.watch(WatchRequest("", index, std::chrono::seconds(30), cancel_));
    if (stopping_) break;
    if (!result) {  // only cancellation or a full watcher table: back off briefly
      asio::steady_timer timer(strand_, std::chrono::milliseconds(200));
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    if (result->reset) {
      std::set<std::pair<std::string, std::string>> present;
      for (const auto& in : result->snapshot) present.emplace(in.service, in.id);
      std::vector<std::pair<std::string, std::string>> gone;
      for (const auto& key : watched_) {
        if (present.count(key) == 0) gone.push_back(key);
      }
      for (const auto& [key, instance] : known_) {
        if (present.count(key) == 0) gone.push_back(key);
      }
      for (const auto& [service, id] : gone) forget(service, id);
      for (const auto& in : result->snapshot) apply(in);
    }
    for (const auto& event : result->events) {
      if (event.type == EventType::deregistered) {
        forget(event.instance.service, event.instance.id);
      } else {
        apply(event.instance);
      }
    }
    index = result->index;
  }
}

void InstanceHealthChecks::on_result(const std::string& service, const std::string& type, const CheckResult& r) {
  checks_total_.with({service, type, r.ok ? "pass" : "fail"}).inc();
  check_duration_.with({type}).observe(std::chrono::duration<double>(r.latency).count());
}

void InstanceHealthChecks::on_change(const HealthChange& c) {
  if (stopping_ || c.to == HealthState::unknown) return;
  asio::co_spawn(strand_, write_status(c.service, c.id, c.to, c.reason), asio::detached);
}

Awaitable<void> InstanceHealthChecks::write_status(std::string service, std::string id, HealthState state,
                                                   std::string reason) {
  if (stopping_) co_return;
  auto current = co_await registry_.get(service, id);
  if (!current) co_return;  // deregistered meanwhile
  const auto from = current->status;
  const auto to = state == HealthState::healthy ? InstanceStatus::healthy : InstanceStatus::unhealthy;
  const bool owned =
      from == InstanceStatus::healthy || from == InstanceStatus::unhealthy || from == InstanceStatus::starting;
  if (!owned || from == to) co_return;
  if (auto r = co_await registry_.set_status(service, id, to); !r) co_return;
  changes_total_.with({service, std::string(to_string(to))}).inc();
  logs::info("health", "event=health_changed service={} instance={} from={} to={} reason=\"{}\"", service, id,
             to_string(from), to_string(to), reason);
}

namespace {

json to_json(const InstanceHealth& h) {
  json checks = json::array();
  for (const auto& c : h.checks) {
    json history = json::array();
    for (const auto& r : c.history) {
      history.push_back({{"at", format_rfc3339(r.at)},
                         {"ok", r.ok},
                         {"message", r.message},
                         {"latency_ms", std::chrono::duration<double, std::milli>(r.latency).count()}});
    }
    checks.push_back({{"type", c.spec.type},
                      {"state", std::string(to_string(c.state))},
                      {"consecutive_passes", c.consecutive_passes},
                      {"consecutive_failures", c.consecutive_failures},
                      {"definition", svckit::to_json(c.spec)},
                      {"history", std::move(history)}});
  }
  return {{"id", h.id}, {"state", std::string(to_string(h.state))}, {"checks", std::move(checks)}};
}

json to_json(const ServiceHealth& s) {
  return {{"service", s.service},
          {"status", std::string(to_string(s.status))},
          {"healthy", s.healthy},
          {"unhealthy", s.unhealthy},
          {"unknown", s.unknown}};
}

}  // namespace

void InstanceHealthChecks::add_routes(http::Router& router) {
  router.add(http::Verb::get, "/v1/health",
             [this](http::RouteContext& ctx) -> Awaitable<Response> { return list_health(ctx); });
  router.add(http::Verb::get, "/v1/health/{service}",
             [this](http::RouteContext& ctx) -> Awaitable<Response> { return get_health(ctx); });
}

Awaitable<Response> InstanceHealthChecks::list_health(http::RouteContext& ctx) {
  json services = json::array();
  for (const auto& s : monitor_.services()) {
    if (may_access_service(ctx, s.service, Access::read)) services.push_back(to_json(s));
  }
  const json body{{"services", std::move(services)}};
  co_return http::json_response(http::Status::ok, body);
}

Awaitable<Response> InstanceHealthChecks::get_health(http::RouteContext& ctx) {
  const auto& service = ctx.params.at("service");
  if (auto r = validate_service_name(service); !r) co_return http::error_response(r.error());
  json body = to_json(monitor_.service(service));
  json instances = json::array();
  for (const auto& h : monitor_.instances(service)) instances.push_back(to_json(h));
  body["instances"] = std::move(instances);
  co_return http::json_response(http::Status::ok, body);
}

}  // namespace svckit::daemon
