// InstanceHealthChecks: svckitd's active health checking. Follows the registry (a watch over every
// service), runs the checks each registration carries (HealthMonitor) and writes the verdict into
// the instance's status, so every watcher sees it. Serves GET /v1/health[/{service}].
//
// Status rules: a check owns healthy/unhealthy only. It never overrides maintenance, down (TTL
// expired) or draining decisions the instance or an operator made; a re-registration that resets
// the status to healthy is corrected at once when the checks say otherwise.
// Thread-safety: start()/stop() from the control strand; the rest runs on its own strand.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <functional>
#include <map>
#include <memory>
#include <set>

#include "svckit/core/metrics.hpp"
#include "svckit/health/health_monitor.hpp"
#include "svckit/http/router.hpp"
#include "svckit/registry/memory_registry.hpp"

namespace svckit::daemon {

/// What registrations may ask svckitd to probe (an open registry must not become a port scanner
/// or a load generator aimed at other hosts).
struct CheckPolicy {
  /// Default: 1s. A check's interval below it is refused (400, field checks[i].interval).
  std::chrono::milliseconds min_interval{1000};
  /// Default: false: a check's `target` must be the instance's own host (any loopback name counts
  /// as the same when the instance's host is loopback too). true lets checks probe any host:port.
  bool allow_any_target = false;
};

class InstanceHealthChecks {
 public:
  InstanceHealthChecks(MemoryRegistry& registry, MetricsRegistry& metrics, boost::asio::io_context& io,
                       const HealthCheckers& checkers, const TimeSource& time, Random& random);
  ~InstanceHealthChecks();

  /// Adds the /v1/health routes (before serving).
  void add_routes(http::Router& router);
  /// Registration-time check: every check type must have a checker (invalid_argument naming
  /// checks[i].type), and each check must fit the CheckPolicy (checks[i].interval, checks[i].target).
  Result<void> supported(const ServiceInstance& instance) const;
  /// The checks' verdict on an instance, whatever its status says (maintenance keeps its status
  /// while checks fail); unknown without checks or before the first verdict. Thread-safe.
  HealthState verdict(const std::string& service, const std::string& id) const;
  /// Set-up only (before serving).
  void set_policy(CheckPolicy policy) { policy_ = policy; }
  /// Cluster mode, set-up only: this node runs the checks only of the instances `owns` says are
  /// its own (rendezvous over the live nodes); verdict() knows only those. Empty: all of them.
  using Ownership = std::function<bool(const std::string& service, const std::string& id)>;
  void set_ownership(Ownership owns) { owns_ = std::move(owns); }
  /// The owners may have moved (a node joined or left): starts the checks of the instances this
  /// node now owns and stops the others. Any thread.
  void ownership_changed();
  /// Instances whose checks run here.
  std::size_t checked_instances() const { return checked_.load(); }
  void start();
  void stop();

 private:
  http::Awaitable<void> follow_registry();
  void apply(const ServiceInstance& instance);
  void forget(const std::string& service, const std::string& id);
  void on_change(const HealthChange& change);
  void on_result(const std::string& service, const std::string& type, const CheckResult& result);
  http::Awaitable<void> write_status(std::string service, std::string id, HealthState state, std::string reason);
  http::Awaitable<http::Response> get_health(http::RouteContext& ctx);
  http::Awaitable<http::Response> list_health(http::RouteContext& ctx);

  MemoryRegistry& registry_;
  const HealthCheckers& checkers_;
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  std::shared_ptr<CancelToken> cancel_ = std::make_shared<CancelToken>();
  Family<Counter>& checks_total_;
  Family<Histogram>& check_duration_;
  Family<Counter>& changes_total_;
  HealthMonitor monitor_;
  std::set<std::pair<std::string, std::string>> watched_;  // only touched on strand_
  /// Cluster mode: every instance with checks, owned here or not (to re-evaluate on a member
  /// change). Only touched on strand_.
  std::map<std::pair<std::string, std::string>, ServiceInstance> known_;
  Ownership owns_;
  std::atomic<std::size_t> checked_{0};
  std::atomic<bool> stopping_{false};
  CheckPolicy policy_;
};

}  // namespace svckit::daemon
