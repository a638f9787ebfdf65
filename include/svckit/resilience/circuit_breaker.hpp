// CircuitBreaker with Resilience4j's semantics and defaults, and a half-open state that works.
//
// closed: calls pass; outcomes go into a sliding window (count-based: the last N calls;
//   time-based: the calls of the last N seconds, in one-second buckets). Once the window holds
//   minimum_number_of_calls, a failure rate >= failure_rate_threshold or a slow-call rate >=
//   slow_call_rate_threshold opens the breaker.
// open: calls are refused (circuit_open) until wait_duration_in_open_state has passed; the next
//   acquire then moves to half-open.
// half_open: exactly permitted_number_of_calls_in_half_open_state probes are let through; when all
//   have reported, their failure/slow rates decide closed or open. A probe that does not report
//   within half_open_probe_timeout counts as failed, and max_wait_in_half_open (0 = unbounded)
//   bounds the whole state: a half-open that hangs re-opens instead of blocking forever.
// disabled / forced_open: always pass / always refuse, nothing recorded.
//
// Every permit carries the breaker's epoch (bumped on every transition); an outcome whose epoch
// is not the current one is ignored, so calls started before a transition never corrupt the new
// state (the most common complaint against Resilience4j and Polly).
// Pure logic: an injected TimeSource, no threads. Thread-safe: one mutex, except that acquire() in
// the closed or disabled state — every call's, on the request path — reads one atomic instead. The
// transition callback runs outside the mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string_view>
#include <vector>

#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit {

enum class BreakerState { closed, open, half_open, disabled, forced_open };
std::string_view to_string(BreakerState state) noexcept;

struct CircuitBreakerOptions {
  enum class Window { count_based, time_based } window = Window::count_based;
  std::uint32_t sliding_window_size = 100;  // calls (count-based) or seconds (time-based)
  std::uint32_t minimum_number_of_calls = 100;
  double failure_rate_threshold = 50;     // percent
  double slow_call_rate_threshold = 100;  // percent
  std::chrono::milliseconds slow_call_duration_threshold{60'000};
  std::chrono::milliseconds wait_duration_in_open_state{60'000};
  std::uint32_t permitted_number_of_calls_in_half_open_state = 10;
  std::chrono::milliseconds half_open_probe_timeout{10'000};
  std::chrono::milliseconds max_wait_in_half_open{0};  // 0 = until every probe reported
};

/// Errors name the field.
Result<void> validate(const CircuitBreakerOptions& options);

struct BreakerTransition {
  BreakerState from;
  BreakerState to;
  std::uint64_t epoch;  // the new epoch
  std::string_view reason;
};

class CircuitBreaker {
 public:
  struct Permit {
    std::uint64_t epoch = 0;
    std::uint64_t probe = 0;  // non-zero: a half-open probe (give it at most half_open_probe_timeout)
  };
  using Callback = std::function<void(const BreakerTransition&)>;

  CircuitBreaker(CircuitBreakerOptions options, const TimeSource& time, Callback on_transition = {});

  /// A permit to call, or circuit_open (with the remaining open time in the message).
  Result<Permit> acquire();
  /// The outcome of a permitted call. Ignored when the breaker moved on since the permit.
  void record(const Permit& permit, bool success, std::chrono::nanoseconds duration);
  /// A permitted call ended without an outcome worth counting (cancelled by the caller).
  void release(const Permit& permit);

  void force_open();
  void disable();
  void reset();  // back to closed with an empty window

  BreakerState state() const;
  std::uint64_t epoch() const;
  struct Rates {
    std::uint32_t calls = 0;
    double failure_rate = 0;  // percent; 0 while below minimum_number_of_calls
    double slow_rate = 0;
  };
  Rates rates() const;

 private:
  struct Outcome {
    bool failed;
    bool slow;
  };
  struct Bucket {
    std::int64_t second = 0;
    std::uint32_t calls = 0, failures = 0, slow = 0;
  };

  void transition_locked(BreakerState to, std::string_view reason, std::vector<BreakerTransition>& out);
  void add_locked(Outcome outcome);
  Rates rates_locked() const;
  void expire_probes_locked(std::vector<BreakerTransition>& out);
  void finish_half_open_if_done_locked(std::vector<BreakerTransition>& out);
  void emit(const std::vector<BreakerTransition>& transitions) const;

  const CircuitBreakerOptions options_;
  const TimeSource& time_;
  const Callback on_transition_;
  mutable std::mutex mutex_;
  BreakerState state_ = BreakerState::closed;
  std::uint64_t epoch_ = 1;
  std::atomic<std::uint64_t> passing_epoch_{1};  // written under mutex_: epoch_ while closed or disabled, else 0
  SteadyTime state_since_{};
  std::deque<Outcome> calls_;                                            // count-based window
  std::uint32_t total_calls_ = 0, total_failures_ = 0, total_slow_ = 0;  // over calls_, kept as it slides
  std::vector<Bucket> buckets_;                                          // time-based window, one per second (ring)
  // half-open
  std::uint32_t probes_issued_ = 0;
  std::uint32_t probes_done_ = 0, probe_failures_ = 0, probe_slow_ = 0;
  std::uint64_t next_probe_ = 1;
  std::vector<std::pair<std::uint64_t, SteadyTime>> probes_out_;  // outstanding probes and their start
};

}  // namespace svckit
