// Admission control on the client side, pure logic over an injected clock (and Random):
//  - TokenBucket: a client-side rate limiter (rate per second, burst).
//  - Bulkhead: at most N calls in flight per service (the async wait with a bound lives in the client).
//  - AdaptiveThrottle: Google SRE client-side throttling — reject locally with probability
//    max(0, (requests - K × accepts) / (requests + 1)) over a sliding window, K = 2.
// Thread-safe (one small mutex each, or atomics).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <vector>

#include "svckit/core/random.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit {

class TokenBucket {
 public:
  /// REQUIRES: rate_per_second > 0, burst >= 1. Starts full.
  TokenBucket(double rate_per_second, double burst, const TimeSource& time);
  bool try_acquire(double tokens = 1);
  /// How long until `tokens` would be available (0 when they are now).
  std::chrono::nanoseconds wait_time(double tokens = 1);

 private:
  void refill_locked();
  const double rate_;
  const double burst_;
  const TimeSource& time_;
  std::mutex mutex_;
  double tokens_;
  SteadyTime last_;
};

class Bulkhead {
 public:
  explicit Bulkhead(std::uint32_t max_concurrent) : max_(max_concurrent) {}
  bool try_enter();
  void leave() { in_flight_.fetch_sub(1, std::memory_order_acq_rel); }
  std::uint32_t in_flight() const { return in_flight_.load(std::memory_order_relaxed); }
  std::uint32_t limit() const { return max_; }

 private:
  const std::uint32_t max_;
  std::atomic<std::uint32_t> in_flight_{0};
};

struct AdaptiveThrottleOptions {
  double k = 2.0;                    // accepts multiplier: 2 = allow up to 2× the accepted load
  std::chrono::seconds window{120};  // history the ratio is computed over
};

class AdaptiveThrottle {
 public:
  AdaptiveThrottle(AdaptiveThrottleOptions options, const TimeSource& time, Random& random);
  /// Whether to send this request (false: reject it locally, it would most likely be refused).
  bool allow();
  /// The backend's answer to a request that was sent: accepted (any answer that is not an
  /// overload/unavailable refusal) or not.
  void record(bool accepted);
  double reject_probability();

 private:
  struct Bucket {
    std::int64_t second = 0;
    double requests = 0, accepts = 0;
  };
  Bucket& bucket_locked();
  double probability_locked();
  const AdaptiveThrottleOptions options_;
  const TimeSource& time_;
  Random& random_;
  std::mutex mutex_;
  std::vector<Bucket> buckets_;
};

}  // namespace svckit
