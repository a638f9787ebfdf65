// OutlierDetector: passive health from call outcomes, with Envoy's detectors and defaults.
//
// Fed by whoever makes calls (ServiceClient, gateway): report() after every call. Consecutive
// detectors eject at once; success-rate and failure-percentage detectors run once per `interval`
// from tick(). An ejected host stays out for base_ejection_time × (its ejection count), capped at
// max_ejection_time, then returns on the next tick(); a passing active health check returns it at
// once. Never more than max_ejection_percent of the hosts are ejected (but at least one may be).
//
// Pure logic: an injected TimeSource and Random (for the enforcing_* percentages), no threads, no
// timers — the owner calls tick() periodically (every second is plenty).
// Thread-safety: every method may be called from any thread. A success report takes no lock (the
// host's counters are atomics, found through a per-thread cache) and generation() is one atomic
// load; failures, ticks and host changes take one internal mutex. The event callback runs on the
// reporting/ticking thread, outside the mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "svckit/core/random.hpp"
#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit {

/// What one call to a host came to.
enum class CallOutcome {
  success,               // an answer that is not 5xx (4xx is the caller's problem, not the host's)
  http_5xx,              // 500, 501, 505...: the host answered with an error
  http_gateway_failure,  // 502, 503, 504
  local_failure,         // connect error, reset, timeout: never got an answer (local origin)
};

/// Classifies an HTTP status (0 = no answer) as Envoy does.
CallOutcome outcome_from_status(int status) noexcept;

enum class EjectionReason {
  consecutive_5xx,
  consecutive_gateway_failure,
  consecutive_local_origin_failure,
  success_rate,
  failure_percentage
};
std::string_view to_string(EjectionReason reason) noexcept;

/// Envoy's outlier_detection fields and defaults. Percentages are 0..100.
struct OutlierOptions {
  std::chrono::milliseconds interval{10'000};
  std::chrono::milliseconds base_ejection_time{30'000};
  std::chrono::milliseconds max_ejection_time{300'000};
  double max_ejection_percent = 10;
  /// false: local failures count as gateway failures (and as 5xx). true: they feed only the
  /// consecutive_local_origin_failure detector.
  bool split_external_local_origin_errors = false;
  int consecutive_5xx = 5;
  double enforcing_consecutive_5xx = 100;
  int consecutive_gateway_failure = 5;
  double enforcing_consecutive_gateway_failure = 0;
  int consecutive_local_origin_failure = 5;
  double enforcing_consecutive_local_origin_failure = 100;
  std::size_t success_rate_minimum_hosts = 5;
  std::uint64_t success_rate_request_volume = 100;
  double success_rate_stdev_factor = 1.9;  // Envoy's success_rate_stdev_factor / 1000
  double enforcing_success_rate = 100;
  double failure_percentage_threshold = 85;
  std::size_t failure_percentage_minimum_hosts = 5;
  std::uint64_t failure_percentage_request_volume = 50;
  double enforcing_failure_percentage = 0;
  /// A passing active health check un-ejects at once (Envoy's successful_active_health_check_uneject_host).
  bool uneject_on_active_check_pass = true;
};

/// Checks ranges; errors name the field.
Result<void> validate(const OutlierOptions& options);

struct OutlierEvent {
  enum class Type { ejected, unejected } type;
  std::string id;
  EjectionReason reason;                  // why it was (last) ejected
  std::uint32_t ejection_count;           // the multiplier of the base ejection time
  std::chrono::milliseconds duration{0};  // ejected: how long it stays out
};

struct OutlierStats {
  std::size_t hosts = 0;
  std::size_t ejected = 0;
  std::map<EjectionReason, std::uint64_t> ejections;  // enforced ejections by reason
  std::uint64_t unejections = 0;
  std::uint64_t skipped_max_percent = 0;   // an ejection was due but the cap said no
  std::uint64_t skipped_not_enforced = 0;  // detected, but the enforcing_* roll said no
};

/// One watched host as the detector sees it now (dashboards, debugging).
struct OutlierHostView {
  std::string id;
  bool ejected = false;
  std::uint32_t ejection_count = 0;                         // times ejected so far (multiplies base_ejection_time)
  EjectionReason reason = EjectionReason::consecutive_5xx;  // of the last ejection, if any
  std::chrono::milliseconds remaining{0};                   // ejected: until tick() returns it (0 once due)
  int consecutive_5xx = 0;                                  // the streaks the consecutive_* detectors count
  int consecutive_gateway_failures = 0;
  int consecutive_local_failures = 0;
};

class OutlierDetector {
 public:
  using Callback = std::function<void(const OutlierEvent&)>;
  OutlierDetector(OutlierOptions options, const TimeSource& time, Random& random, Callback on_event = {});

  /// The hosts to watch (instance ids). Hosts not listed are forgotten; reports for unknown ids are ignored.
  void set_hosts(const std::vector<std::string>& ids);
  void report(const std::string& id, CallOutcome outcome);
  /// Runs the interval detectors when an interval has passed, and un-ejects hosts whose time is up.
  void tick();
  /// An active health check passed: un-ejects (when enabled).
  void active_check_passed(const std::string& id);

  bool is_ejected(const std::string& id) const;
  /// Ejected ids, sorted (what HostSet::make takes).
  std::vector<std::string> ejected() const;
  /// Increases on every ejection and un-ejection: rebuild host sets when it moved.
  std::uint64_t generation() const;
  OutlierStats stats() const;
  /// Every watched host, sorted by id.
  std::vector<OutlierHostView> hosts() const;

 private:
  /// What report() counts: atomics, so a success needs no lock. Shared with the per-thread caches.
  struct Live {
    std::atomic<int> consecutive_5xx{0}, consecutive_gateway{0}, consecutive_local{0};
    std::atomic<std::uint64_t> interval_success{0}, interval_failure{0};
    void reset_streaks() {  // written only when set: a success stream leaves the line shared
      for (auto* streak : {&consecutive_5xx, &consecutive_gateway, &consecutive_local}) {
        if (streak->load(std::memory_order_relaxed) != 0) streak->store(0, std::memory_order_relaxed);
      }
    }
  };
  struct Host {
    std::shared_ptr<Live> live = std::make_shared<Live>();
    bool ejected = false;
    SteadyTime ejected_at{};
    std::chrono::milliseconds ejected_for{0};
    std::uint32_t ejection_count = 0;
    EjectionReason reason = EjectionReason::consecutive_5xx;
  };

  /// The host's counters, lock-free after this thread's first report about it; null if unknown.
  std::shared_ptr<Live> live_for(const std::string& id);
  bool enforced(double percent);
  void try_eject(const std::string& id, Host& host, EjectionReason reason, double enforcing,
                 std::vector<OutlierEvent>& events);
  void uneject(const std::string& id, Host& host, std::vector<OutlierEvent>& events);
  void run_interval_detectors(std::vector<OutlierEvent>& events);
  void emit(const std::vector<OutlierEvent>& events) const;

  const OutlierOptions options_;
  const TimeSource& time_;
  Random& random_;
  const Callback on_event_;
  mutable std::mutex mutex_;
  std::map<std::string, Host, std::less<>> hosts_;
  std::size_t ejected_count_ = 0;
  std::atomic<std::uint64_t> generation_{0};     // written under mutex_, read without it
  std::atomic<std::uint64_t> hosts_version_{0};  // bumped by set_hosts: per-thread caches start over
  const std::uint64_t id_;                       // process-unique: keys the per-thread caches
  SteadyTime next_interval_{};
  OutlierStats stats_;
};

}  // namespace svckit
