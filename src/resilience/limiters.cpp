#include "svckit/resilience/limiters.hpp"

#include <algorithm>

namespace svckit {

TokenBucket::TokenBucket(double rate_per_second, double burst, const TimeSource& time)
    : rate_(rate_per_second), burst_(burst), time_(time), tokens_(burst), last_(time.steady_now()) {}

void TokenBucket::refill_locked() {
  const auto now = time_.steady_now();
  const double elapsed = std::chrono::duration<double>(now - last_).count();
  if (elapsed > 0) tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
  last_ = now;
}

bool TokenBucket::try_acquire(double tokens) {
  std::lock_guard lock(mutex_);
  refill_locked();
  if (tokens_ < tokens) return false;
  tokens_ -= tokens;
  return true;
}

std::chrono::nanoseconds TokenBucket::wait_time(double tokens) {
  std::lock_guard lock(mutex_);
  refill_locked();
  if (tokens_ >= tokens) return std::chrono::nanoseconds(0);
  return std::chrono::nanoseconds(static_cast<std::int64_t>((tokens - tokens_) / rate_ * 1e9));
}

bool Bulkhead::try_enter() {
  auto current = in_flight_.load(std::memory_order_relaxed);
  while (current < max_) {
    if (in_flight_.compare_exchange_weak(current, current + 1, std::memory_order_acq_rel)) return true;
  }
  return false;
}

AdaptiveThrottle::AdaptiveThrottle(AdaptiveThrottleOptions options, const TimeSource& time, Random& random)
    : options_(options),
      time_(time),
      random_(random),
      buckets_(static_cast<std::size_t>(std::max<std::int64_t>(1, options.window.count()))) {}

AdaptiveThrottle::Bucket& AdaptiveThrottle::bucket_locked() {
  const auto second = std::chrono::duration_cast<std::chrono::seconds>(time_.steady_now().time_since_epoch()).count();
  auto& b = buckets_[static_cast<std::size_t>(second) % buckets_.size()];
  if (b.second != second) b = Bucket{second, 0, 0};
  return b;
}

double AdaptiveThrottle::probability_locked() {
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(time_.steady_now().time_since_epoch()).count();
  double requests = 0, accepts = 0;
  for (const auto& b : buckets_) {
    if (now - b.second >= static_cast<std::int64_t>(buckets_.size())) continue;
    requests += b.requests;
    accepts += b.accepts;
  }
  return std::max(0.0, (requests - options_.k * accepts) / (requests + 1));
}

bool AdaptiveThrottle::allow() {
  std::lock_guard lock(mutex_);
  const double p = probability_locked();
  bucket_locked().requests += 1;  // rejected locally or not, it was a request (SRE book)
  return !(p > 0 && random_.uniform01() < p);
}

void AdaptiveThrottle::record(bool accepted) {
  std::lock_guard lock(mutex_);
  if (accepted) bucket_locked().accepts += 1;
}

double AdaptiveThrottle::reject_probability() {
  std::lock_guard lock(mutex_);
  return probability_locked();
}

}  // namespace svckit
