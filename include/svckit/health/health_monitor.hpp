// HealthMonitor: runs the active checks of a set of instances, keeps per-check state and history,
// aggregates per service, and reports status changes.
//
// Each check runs in its own loop on its own strand of the given executor, at a fixed rate: a
// check starts every interval (no_traffic_interval while the instance gets no traffic) + uniform
// [0, jitter), measured from the previous check's start; the first starts within [0, jitter). An
// instance is healthy when every one of its checks is, unhealthy when any is, unknown before that.
// Thread-safety: every method may be called from any thread. Callbacks run on a check's strand,
// outside the monitor's lock; they must not block.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "svckit/core/random.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/health/health_checker.hpp"

namespace svckit {

struct HealthMonitorOptions {
  std::size_t history_size = 10;  // results kept per check. Default: 10.
};

struct CheckHealth {
  HealthCheckSpec spec;
  HealthState state = HealthState::unknown;
  int consecutive_passes = 0;
  int consecutive_failures = 0;
  std::vector<CheckResult> history;  // oldest first
};

struct InstanceHealth {
  std::string service;
  std::string id;
  HealthState state = HealthState::unknown;
  std::vector<CheckHealth> checks;
};

/// healthy: every instance healthy; degraded: some healthy, some not; unhealthy: none healthy
/// (and at least one unhealthy); unknown: nothing checked yet (or no instance).
enum class ServiceHealthStatus { unknown, healthy, degraded, unhealthy };
std::string_view to_string(ServiceHealthStatus status) noexcept;

struct ServiceHealth {
  std::string service;
  ServiceHealthStatus status = ServiceHealthStatus::unknown;
  std::size_t healthy = 0;
  std::size_t unhealthy = 0;
  std::size_t unknown = 0;
};

struct HealthChange {
  std::string service;
  std::string id;
  HealthState from = HealthState::unknown;
  HealthState to = HealthState::unknown;
  std::string reason;  // the deciding check's last message, e.g. "timed out after 200ms"
};

class HealthMonitor {
 public:
  using ChangeCallback = std::function<void(const HealthChange&)>;
  /// Called after every check (for metrics): service, check type, result.
  using ResultCallback = std::function<void(const std::string&, const std::string&, const CheckResult&)>;

  /// `checkers`, `time`, `random` (and `sleeper`) must outlive the monitor. The loops wait
  /// between checks on `sleeper` when one is given — then `time` must be its clock
  /// (testing::VirtualTime is both) — else on real Asio timers in real time.
  HealthMonitor(boost::asio::any_io_executor executor, const HealthCheckers& checkers, const TimeSource& time,
                Random& random, HealthMonitorOptions options = {}, ChangeCallback on_change = {},
                ResultCallback on_result = {}, Sleeper* sleeper = nullptr);
  ~HealthMonitor();  // stop()
  HealthMonitor(const HealthMonitor&) = delete;
  HealthMonitor& operator=(const HealthMonitor&) = delete;

  /// Starts, changes or (no checks) stops the checks of an instance. Same checks and address as
  /// before: nothing restarts. An unknown checker type is invalid_argument naming checks[i].type,
  /// and nothing changes.
  Result<void> watch(const ServiceInstance& instance);
  void unwatch(const std::string& service, const std::string& id);
  /// The instance is getting traffic: use `interval` rather than `no_traffic_interval`.
  void mark_traffic(const std::string& service, const std::string& id);
  /// Ends every loop (pending sleeps are cancelled; checks in flight end by their timeout) and
  /// stops calling back.
  void stop();

  std::optional<InstanceHealth> instance(const std::string& service, const std::string& id) const;
  std::vector<InstanceHealth> instances(const std::string& service) const;
  ServiceHealth service(const std::string& service) const;
  std::vector<ServiceHealth> services() const;

  struct Shared;  // state shared with the check loops (outlives the monitor while loops finish)

 private:
  std::shared_ptr<Shared> shared_;
};

}  // namespace svckit
