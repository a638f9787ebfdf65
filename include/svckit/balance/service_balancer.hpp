// ServiceBalancer: everything between a service's instance list and one pick, for one service —
// subset → outlier ejections → zone preference → balancing policy — plus its metrics. This is what
// ServiceClient and the gateway hold per service; discovery feeds update(), calls feed report().
//
// Thread-safety: pick() reads the policy's snapshot without a lock (see LoadBalancer); update(),
// report(), tick() and active_check_passed() may run concurrently from any thread (a mutex
// serialises rebuilds).
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "svckit/balance/load_balancer.hpp"
#include "svckit/balance/subset.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/health/outlier_detector.hpp"

namespace svckit {

struct ServiceBalancerOptions {
  std::string policy = "round_robin";  // a name known to the BalancerPlugins
  BalancerOptions balancer;
  SubsetPolicy subset;                    // default: no filter
  ZonePreference zone;                    // default: no local zone
  std::optional<OutlierOptions> outlier;  // nullopt: no passive outlier detection
};

class ServiceBalancer {
 public:
  /// Errors: unknown policy, invalid outlier options (field named). `metrics` may be null; when
  /// given, it must outlive the balancer. Series are labelled {service}.
  static Result<std::unique_ptr<ServiceBalancer>> create(std::string service, ServiceBalancerOptions options,
                                                         const BalancerPlugins& plugins, const BalancerDeps& deps,
                                                         MetricsRegistry* metrics = nullptr);

  /// The service's instances as discovery sees them now (any status; balancing decides).
  void update(const std::vector<ServiceInstance>& instances, std::uint64_t version = 0);
  Result<Pick> pick(const PickRequest& request = {}) { return balancer_->pick(request); }
  /// After a call made on `pick`: teaches latency-aware policies and the outlier detector.
  /// (Requests in flight are the caller's to count, through pick.load->active.)
  void report(const Pick& pick, CallOutcome outcome, std::chrono::nanoseconds latency);
  /// Call periodically (e.g. every second): outlier intervals and un-ejections.
  void tick();
  void active_check_passed(const std::string& instance_id);

  BalancerState state() const { return balancer_->state(); }
  bool spilled_over() const;
  /// The instances of the last update() (after the subset; before ejections and zones).
  std::vector<ServiceInstance> instances() const;
  const OutlierDetector* outlier() const { return outlier_.get(); }
  const std::string& service() const { return service_; }

 private:
  ServiceBalancer(std::string service, ServiceBalancerOptions options, std::unique_ptr<LoadBalancer> balancer,
                  const BalancerDeps& deps, MetricsRegistry* metrics);
  void rebuild_locked();
  void rebuild_if_ejections_changed();
  void publish_locked();

  /// Families, not series: a series is looked up on each (rare) update, so a service whose series
  /// were removed (MetricsRegistry::remove_series) gets them back on its next change.
  struct Metrics {
    Family<Gauge>* panic;
    Family<Gauge>* hosts;
    Family<Gauge>* healthy;
    Family<Gauge>* spilled;
    Family<Gauge>* slow_start;
    Family<Gauge>* ejected;
    Family<Counter>* ejections;
    Family<Counter>* unejections;
  };

  const std::string service_;
  const ServiceBalancerOptions options_;
  std::unique_ptr<LoadBalancer> balancer_;
  std::unique_ptr<OutlierDetector> outlier_;
  std::optional<Metrics> metrics_;

  mutable std::mutex mutex_;
  std::vector<ServiceInstance> instances_;  // the subset, before ejections and zone
  std::uint64_t version_ = 0;
  std::atomic<std::uint64_t> built_generation_{0};  // the outlier generation the policy was built for
  bool spilled_ = false;
};

}  // namespace svckit
