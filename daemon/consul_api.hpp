// ConsulApi: the subset of Consul's HTTP API svckitd speaks, so that a service with any Consul
// client (Go, Java, Python, Node) registers and discovers against svckitd with no Consul installed.
// It is a view over svckitd's one registry: a Consul registration is a svckit instance (mapping in
// svckit/registry/consul_json.hpp), its checks run in svckitd's health checker, and native and
// Consul clients see the same instances.
//
//   PUT /v1/agent/service/register           PUT /v1/agent/service/deregister/:id
//   PUT /v1/agent/check/{pass,warn,fail}/:id PUT /v1/agent/check/update/:id
//   PUT /v1/agent/service/maintenance/:id    GET /v1/agent/services, /v1/agent/service/:id
//   GET /v1/agent/checks                     GET /v1/catalog/services, /v1/catalog/service/:name
//   GET /v1/health/service/:name             GET /v1/status/leader, /v1/agent/self
//
// A registration without Address gets the caller's address (Consul uses its agent's node address,
// which is the service's own machine when the agent runs there, as Consul agents do).
//
// Reads answer X-Consul-Index (svckitd's registry index) and are blocking queries with ?index=
// and ?wait= (default 5m, at most svckitd's max wait). Thread-safety: routes are added before
// serving; handlers are thread-safe; reap() runs on one strand.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "daemon/acl_rules.hpp"
#include "daemon/consul_health_cache.hpp"
#include "daemon/watch_slots.hpp"
#include "svckit/health/check_tracker.hpp"
#include "svckit/http/router.hpp"
#include "svckit/registry/consul_json.hpp"
#include "svckit/registry/memory_registry.hpp"

namespace svckit::daemon {

struct ConsulApiOptions {
  consul::Node node;
  std::chrono::milliseconds default_wait{300'000};  // Consul's default for a blocking query
  std::chrono::milliseconds max_wait{300'000};
};

class ConsulApi {
 public:
  using RegistrationCheck = std::function<Result<void>(const ServiceInstance&)>;
  /// The active checks' verdict on (service, id) whatever the instance's status says (it stays
  /// `maintenance` while its checks fail); unknown before the first verdict or without checks.
  using CheckVerdict = std::function<HealthState(const std::string& service, const std::string& id)>;

  /// `watches` admits blocking queries; it must outlive the API.
  ConsulApi(MemoryRegistry& registry, const TimeSource& time, RegistrationCheck check, ConsulApiOptions options,
            WatchSlots& watches);

  void add_routes(http::Router& router);
  /// Set-up only (before serving). Without it an instance in maintenance is never reaped.
  void set_check_verdict(CheckVerdict verdict) { verdict_ = std::move(verdict); }

  /// DeregisterCriticalServiceAfter: removes instances whose own checks have been critical for
  /// longer than their registration allowed — in maintenance too (as Consul does: the maintenance
  /// check itself does not count, the service's checks do), so a process killed after it entered
  /// maintenance does not stay registered forever. Call periodically from one strand (svckitd's
  /// sweep loop).
  http::Awaitable<void> reap();

 private:
  http::Awaitable<http::Response> register_service(http::RouteContext& ctx);
  http::Awaitable<http::Response> deregister_service(http::RouteContext& ctx);
  http::Awaitable<http::Response> update_check(http::RouteContext& ctx, std::string status);
  http::Awaitable<http::Response> maintenance(http::RouteContext& ctx);
  http::Awaitable<http::Response> agent_services(http::RouteContext& ctx);
  http::Awaitable<http::Response> agent_service(http::RouteContext& ctx);
  http::Awaitable<http::Response> agent_checks(http::RouteContext& ctx);
  http::Awaitable<http::Response> catalog_services(http::RouteContext& ctx);
  http::Awaitable<http::Response> catalog_service(http::RouteContext& ctx);
  http::Awaitable<http::Response> health_service(http::RouteContext& ctx);

  /// Blocks per ?index=/?wait= until `service` (empty = any) changes; returns the index to answer with.
  http::Awaitable<Result<std::uint64_t>> block(const http::RouteContext& ctx, const std::string& service);
  /// Every instance whose Consul ID is `id` (IDs are unique per agent in Consul, per service in svckit).
  std::vector<ServiceInstance> find_by_id(const std::string& id) const;
  /// The one instance whose ID is `id`: not_found when none, invalid_argument (naming the
  /// services) when the native API gave the ID to several services.
  Result<ServiceInstance> one_by_id(const std::string& id) const;
  /// The answer that stops a request on an instance found by ID (nullopt: go on): its error, or
  /// the ACL's (require_found_service).
  static std::optional<http::Response> refusal_by_id(const http::RouteContext& ctx, const std::string& id,
                                                     const Result<ServiceInstance>& found, Access need);
  /// service name → its tags, for the services the caller may read.
  nlohmann::json catalog_json(const http::RouteContext& ctx) const;
  /// The instance and the position of `check_id` among its checks (0 = the TTL check when it has one).
  std::optional<std::pair<ServiceInstance, std::size_t>> find_check(const std::string& check_id) const;
  std::vector<ServiceInstance> all_instances() const;
  std::vector<ServiceInstance> instances_of(const std::string& service, const http::Target& target,
                                            bool passing_only) const;

  MemoryRegistry& registry_;
  const TimeSource& time_;
  RegistrationCheck check_;
  CheckVerdict verdict_;
  ConsulApiOptions options_;
  WatchSlots& watches_;
  std::map<std::pair<std::string, std::string>, SteadyTime> critical_since_;  // only touched by reap()
  ConsulHealthCache health_cache_{options_.node};  // /v1/health/service answers, from pieces kept between them
};

}  // namespace svckit::daemon
