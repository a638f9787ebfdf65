#include "svckit/resilience/adaptive_limit.hpp"

#include <algorithm>

namespace svckit {

void AimdLimit::on_sample(std::chrono::nanoseconds rtt, int in_flight, bool dropped) {
  if (dropped || rtt > options_.timeout) {
    limit_ = std::max(options_.min_limit, limit_ * options_.backoff_ratio);
  } else if (in_flight * 2 >= limit_) {
    limit_ = std::min(options_.max_limit, limit_ + 1);
  }
}

void Gradient2Limit::on_sample(std::chrono::nanoseconds rtt, int in_flight, bool dropped) {
  const double short_rtt = std::chrono::duration<double, std::milli>(rtt).count();
  if (short_rtt <= 0) return;
  // Long-term RTT: a plain average for the first long_window samples, then exponential.
  ++samples_;
  if (samples_ <= options_.long_window) {
    long_rtt_ += (short_rtt - long_rtt_) / samples_;
  } else {
    const double factor = 2.0 / (options_.long_window + 1);
    long_rtt_ = long_rtt_ * (1 - factor) + short_rtt * factor;
  }
  // Recover faster when the long-term average drifted far above the current RTT.
  if (long_rtt_ / short_rtt > 2) long_rtt_ *= 0.95;
  // Application-limited: too little in flight to learn anything about the limit.
  if (!dropped && in_flight < limit_ / 2) return;
  const double gradient = std::clamp(options_.rtt_tolerance * long_rtt_ / short_rtt, 0.5, 1.0);
  double next = limit_ * gradient + options_.queue_size;
  next = limit_ * (1 - options_.smoothing) + next * options_.smoothing;
  limit_ = std::clamp(next, options_.min_limit, options_.max_limit);
}

bool AdaptiveLimiter::try_acquire(int& in_flight_at_start) {
  std::lock_guard lock(mutex_);
  if (in_flight_ >= static_cast<int>(limit_->limit())) return false;
  in_flight_at_start = ++in_flight_;
  return true;
}

void AdaptiveLimiter::release(std::chrono::nanoseconds rtt, int in_flight_at_start, bool dropped) {
  std::lock_guard lock(mutex_);
  --in_flight_;
  limit_->on_sample(rtt, in_flight_at_start, dropped);
}

double AdaptiveLimiter::limit() const {
  std::lock_guard lock(mutex_);
  return limit_->limit();
}

int AdaptiveLimiter::in_flight() const {
  std::lock_guard lock(mutex_);
  return in_flight_;
}

}  // namespace svckit
