#include "svckit/resilience/circuit_breaker.hpp"

#include <algorithm>

namespace svckit {

std::string_view to_string(BreakerState state) noexcept {
  switch (state) {
    case BreakerState::closed:
      return "closed";
    case BreakerState::open:
      return "open";
    case BreakerState::half_open:
      return "half_open";
    case BreakerState::disabled:
      return "disabled";
    case BreakerState::forced_open:
      return "forced_open";
  }
  return "closed";
}

Result<void> validate(const CircuitBreakerOptions& o) {
  const auto bad = [](const char* field, const char* why) {
    return make_error(ErrorCode::invalid_argument, std::string(field) + " " + why, field);
  };
  if (o.sliding_window_size < 1) return bad("sliding_window_size", "must be >= 1");
  if (o.window == CircuitBreakerOptions::Window::time_based && o.sliding_window_size > 3600) {
    return bad("sliding_window_size", "must be at most 3600 seconds for a time-based window");
  }
  if (o.minimum_number_of_calls < 1) return bad("minimum_number_of_calls", "must be >= 1");
  if (!(o.failure_rate_threshold > 0 && o.failure_rate_threshold <= 100)) {
    return bad("failure_rate_threshold", "must be a percentage in (0, 100]");
  }
  if (!(o.slow_call_rate_threshold > 0 && o.slow_call_rate_threshold <= 100)) {
    return bad("slow_call_rate_threshold", "must be a percentage in (0, 100]");
  }
  if (o.slow_call_duration_threshold.count() <= 0) return bad("slow_call_duration_threshold", "must be > 0");
  if (o.wait_duration_in_open_state.count() <= 0) return bad("wait_duration_in_open_state", "must be > 0");
  if (o.permitted_number_of_calls_in_half_open_state < 1) {
    return bad("permitted_number_of_calls_in_half_open_state", "must be >= 1");
  }
  if (o.half_open_probe_timeout.count() <= 0) return bad("half_open_probe_timeout", "must be > 0");
  if (o.max_wait_in_half_open.count() < 0) return bad("max_wait_in_half_open", "must be >= 0");
  return {};
}

CircuitBreaker::CircuitBreaker(CircuitBreakerOptions options, const TimeSource& time, Callback on_transition)
    : options_(options), time_(time), on_transition_(std::move(on_transition)), state_since_(time.steady_now()) {
  if (options_.window == CircuitBreakerOptions::Window::time_based) buckets_.resize(options_.sliding_window_size);
}

void CircuitBreaker::transition_locked(BreakerState to, std::string_view reason, std::vector<BreakerTransition>& out) {
  const auto from = state_;
  state_ = to;
  ++epoch_;
  passing_epoch_.store(to == BreakerState::closed || to == BreakerState::disabled ? epoch_ : 0,
                       std::memory_order_release);
  state_since_ = time_.steady_now();
  calls_.clear();
  for (auto& b : buckets_) b = Bucket{};
  total_calls_ = total_failures_ = total_slow_ = 0;
  probes_issued_ = probes_done_ = probe_failures_ = probe_slow_ = 0;
  probes_out_.clear();
  out.push_back({from, to, epoch_, reason});
}

void CircuitBreaker::expire_probes_locked(std::vector<BreakerTransition>& out) {
  if (state_ != BreakerState::half_open) return;
  const auto now = time_.steady_now();
  for (auto it = probes_out_.begin(); it != probes_out_.end();) {
    if (now - it->second >= options_.half_open_probe_timeout) {
      ++probes_done_;
      ++probe_failures_;  // a probe that never answered is a failed probe
      it = probes_out_.erase(it);
    } else {
      ++it;
    }
  }
  if (options_.max_wait_in_half_open.count() > 0 && now - state_since_ >= options_.max_wait_in_half_open) {
    transition_locked(BreakerState::open, "half-open waited too long for its probes", out);
    return;
  }
  finish_half_open_if_done_locked(out);
}

void CircuitBreaker::finish_half_open_if_done_locked(std::vector<BreakerTransition>& out) {
  const auto permitted = options_.permitted_number_of_calls_in_half_open_state;
  if (state_ != BreakerState::half_open || probes_done_ < permitted) return;
  const double failure = 100.0 * probe_failures_ / probes_done_;
  const double slow = 100.0 * probe_slow_ / probes_done_;
  if (failure >= options_.failure_rate_threshold || slow >= options_.slow_call_rate_threshold) {
    transition_locked(BreakerState::open, "half-open probes failed", out);
  } else {
    transition_locked(BreakerState::closed, "half-open probes succeeded", out);
  }
}

Result<CircuitBreaker::Permit> CircuitBreaker::acquire() {
  // Closed or disabled: nothing to expire or decide, the permit is the epoch (a transition racing
  // with this makes it a permit of the state before, whose outcome record() ignores).
  if (const auto epoch = passing_epoch_.load(std::memory_order_acquire); epoch != 0) return Permit{epoch, 0};
  std::vector<BreakerTransition> transitions;
  Result<Permit> result = Permit{};
  {
    std::lock_guard lock(mutex_);
    expire_probes_locked(transitions);
    const auto now = time_.steady_now();
    if (state_ == BreakerState::open && now - state_since_ >= options_.wait_duration_in_open_state) {
      transition_locked(BreakerState::half_open, "open wait elapsed", transitions);
    }
    switch (state_) {
      case BreakerState::closed:
      case BreakerState::disabled:
        result = Permit{epoch_, 0};
        break;
      case BreakerState::forced_open:
        result = make_error(ErrorCode::unavailable, "circuit breaker is forced open", "circuit_breaker");
        break;
      case BreakerState::open: {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(options_.wait_duration_in_open_state -
                                                                                (now - state_since_));
        result =
            make_error(ErrorCode::unavailable,
                       "circuit breaker is open for another " + std::to_string(left.count()) + "ms", "circuit_breaker");
        break;
      }
      case BreakerState::half_open:
        if (probes_issued_ < options_.permitted_number_of_calls_in_half_open_state) {
          ++probes_issued_;
          const auto id = next_probe_++;
          probes_out_.emplace_back(id, now);
          result = Permit{epoch_, id};
        } else {
          result = make_error(ErrorCode::unavailable, "circuit breaker is half-open and its probes are out",
                              "circuit_breaker");
        }
        break;
    }
  }
  emit(transitions);
  return result;
}

void CircuitBreaker::add_locked(Outcome outcome) {
  if (options_.window == CircuitBreakerOptions::Window::count_based) {
    calls_.push_back(outcome);
    total_calls_ += 1;
    total_failures_ += outcome.failed ? 1 : 0;
    total_slow_ += outcome.slow ? 1 : 0;
    if (calls_.size() > options_.sliding_window_size) {
      const auto old = calls_.front();
      calls_.pop_front();
      total_calls_ -= 1;
      total_failures_ -= old.failed ? 1 : 0;
      total_slow_ -= old.slow ? 1 : 0;
    }
    return;
  }
  const auto second = std::chrono::duration_cast<std::chrono::seconds>(time_.steady_now().time_since_epoch()).count();
  auto& b = buckets_[static_cast<std::size_t>(second) % buckets_.size()];
  if (b.second != second) b = Bucket{second, 0, 0, 0};
  ++b.calls;
  b.failures += outcome.failed ? 1 : 0;
  b.slow += outcome.slow ? 1 : 0;
}

CircuitBreaker::Rates CircuitBreaker::rates_locked() const {
  // Count-based: running totals, O(1). Time-based: one pass over the (at most 3600) buckets.
  std::uint32_t calls = total_calls_, failures = total_failures_, slow = total_slow_;
  if (options_.window == CircuitBreakerOptions::Window::time_based) {
    calls = failures = slow = 0;
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(time_.steady_now().time_since_epoch()).count();
    for (const auto& b : buckets_) {
      if (b.calls == 0 || now - b.second >= static_cast<std::int64_t>(buckets_.size())) continue;
      calls += b.calls;
      failures += b.failures;
      slow += b.slow;
    }
  }
  Rates r;
  r.calls = calls;
  const auto minimum = options_.window == CircuitBreakerOptions::Window::count_based
                           ? std::min(options_.minimum_number_of_calls, options_.sliding_window_size)
                           : options_.minimum_number_of_calls;
  if (calls >= minimum && calls > 0) {
    r.failure_rate = 100.0 * failures / calls;
    r.slow_rate = 100.0 * slow / calls;
  }
  return r;
}

void CircuitBreaker::record(const Permit& permit, bool success, std::chrono::nanoseconds duration) {
  std::vector<BreakerTransition> transitions;
  {
    std::lock_guard lock(mutex_);
    if (permit.epoch != epoch_) return;  // started before a transition: not this state's business
    const Outcome outcome{!success, duration >= options_.slow_call_duration_threshold};
    if (state_ == BreakerState::closed) {
      add_locked(outcome);
      const auto r = rates_locked();
      if (r.calls > 0 && (r.failure_rate >= options_.failure_rate_threshold ||
                          (r.slow_rate >= options_.slow_call_rate_threshold && r.slow_rate > 0))) {
        transition_locked(BreakerState::open,
                          r.failure_rate >= options_.failure_rate_threshold ? "failure rate" : "slow-call rate",
                          transitions);
      }
    } else if (state_ == BreakerState::half_open) {
      auto it =
          std::find_if(probes_out_.begin(), probes_out_.end(), [&](const auto& p) { return p.first == permit.probe; });
      if (it == probes_out_.end()) return;  // timed out already: counted as failed
      probes_out_.erase(it);
      ++probes_done_;
      probe_failures_ += outcome.failed ? 1 : 0;
      probe_slow_ += outcome.slow ? 1 : 0;
      finish_half_open_if_done_locked(transitions);
    }
  }
  emit(transitions);
}

void CircuitBreaker::release(const Permit& permit) {
  std::lock_guard lock(mutex_);
  if (permit.epoch != epoch_ || state_ != BreakerState::half_open) return;
  auto it =
      std::find_if(probes_out_.begin(), probes_out_.end(), [&](const auto& p) { return p.first == permit.probe; });
  if (it == probes_out_.end()) return;
  probes_out_.erase(it);
  --probes_issued_;  // the slot goes to the next caller
}

void CircuitBreaker::force_open() {
  std::vector<BreakerTransition> t;
  {
    std::lock_guard lock(mutex_);
    transition_locked(BreakerState::forced_open, "forced open", t);
  }
  emit(t);
}

void CircuitBreaker::disable() {
  std::vector<BreakerTransition> t;
  {
    std::lock_guard lock(mutex_);
    transition_locked(BreakerState::disabled, "disabled", t);
  }
  emit(t);
}

void CircuitBreaker::reset() {
  std::vector<BreakerTransition> t;
  {
    std::lock_guard lock(mutex_);
    transition_locked(BreakerState::closed, "reset", t);
  }
  emit(t);
}

BreakerState CircuitBreaker::state() const {
  std::lock_guard lock(mutex_);
  return state_;
}

std::uint64_t CircuitBreaker::epoch() const {
  std::lock_guard lock(mutex_);
  return epoch_;
}

CircuitBreaker::Rates CircuitBreaker::rates() const {
  std::lock_guard lock(mutex_);
  return rates_locked();
}

void CircuitBreaker::emit(const std::vector<BreakerTransition>& transitions) const {
  if (!on_transition_) return;
  for (const auto& t : transitions) on_transition_(t);
}

}  // namespace svckit
