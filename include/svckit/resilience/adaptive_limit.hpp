// Adaptive concurrency limits (Netflix concurrency-limits semantics and defaults): how many calls
// to a service may be in flight, learned from latency and drops instead of configured.
//  - AIMD: +1 when a sample succeeds while at least half the limit was in use; × backoff_ratio on a
//    drop (timeout, 429/503) or a sample slower than `timeout`.
//  - Gradient2: compares a short-term RTT with a long-term exponential average; the limit follows
//    limit × clamp(tolerance × long/short, 0.5, 1) + queue_size, smoothed, and ignores samples taken
//    while the application used less than half the limit.
// Pure logic; AdaptiveLimiter is thread-safe (one mutex).
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string_view>

namespace svckit {

class ConcurrencyLimit {
 public:
  virtual ~ConcurrencyLimit() = default;
  virtual double limit() const = 0;
  /// One finished call: its round trip, the calls in flight when it started, and whether it was
  /// dropped (timed out or refused for overload).
  virtual void on_sample(std::chrono::nanoseconds rtt, int in_flight, bool dropped) = 0;
};

struct AimdOptions {
  double initial_limit = 20, min_limit = 20, max_limit = 200;
  double backoff_ratio = 0.9;
  std::chrono::milliseconds timeout{5000};
};

class AimdLimit final : public ConcurrencyLimit {
 public:
  explicit AimdLimit(AimdOptions options) : options_(options), limit_(options.initial_limit) {}
  double limit() const override { return limit_; }
  void on_sample(std::chrono::nanoseconds rtt, int in_flight, bool dropped) override;

 private:
  AimdOptions options_;
  double limit_;
};

struct Gradient2Options {
  double initial_limit = 20, min_limit = 20, max_limit = 200;
  double smoothing = 0.2;
  double rtt_tolerance = 1.5;
  int long_window = 600;  // samples in the long-term RTT average
  double queue_size = 4;
};

class Gradient2Limit final : public ConcurrencyLimit {
 public:
  explicit Gradient2Limit(Gradient2Options options) : options_(options), limit_(options.initial_limit) {}
  double limit() const override { return limit_; }
  void on_sample(std::chrono::nanoseconds rtt, int in_flight, bool dropped) override;
  double long_rtt_ms() const { return long_rtt_; }

 private:
  Gradient2Options options_;
  double limit_;
  double long_rtt_ = 0;
  int samples_ = 0;
};

/// Admission by an adaptive limit: try_acquire() while in flight < limit.
class AdaptiveLimiter {
 public:
  explicit AdaptiveLimiter(std::unique_ptr<ConcurrencyLimit> limit) : limit_(std::move(limit)) {}
  /// On success returns the in-flight count at admission (pass it back to release()).
  bool try_acquire(int& in_flight_at_start);
  void release(std::chrono::nanoseconds rtt, int in_flight_at_start, bool dropped);
  double limit() const;
  int in_flight() const;

 private:
  mutable std::mutex mutex_;
  std::unique_ptr<ConcurrencyLimit> limit_;
  int in_flight_ = 0;
};

}  // namespace svckit
