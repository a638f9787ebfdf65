#include "svckit/health/check_tracker.hpp"

#include <algorithm>

namespace svckit {

std::string_view to_string(HealthState state) noexcept {
  switch (state) {
    case HealthState::unknown:
      return "unknown";
    case HealthState::healthy:
      return "healthy";
    case HealthState::unhealthy:
      return "unhealthy";
  }
  return "unknown";
}

CheckTracker::CheckTracker(int healthy_threshold, int unhealthy_threshold, std::size_t history_size)
    : healthy_threshold_(std::max(1, healthy_threshold)),
      unhealthy_threshold_(std::max(1, unhealthy_threshold)),
      history_size_(std::max<std::size_t>(1, history_size)) {}

bool CheckTracker::record(CheckResult result) {
  const bool ok = result.ok;
  history_.push_back(std::move(result));
  while (history_.size() > history_size_) history_.pop_front();
  if (ok) {
    ++passes_;
    failures_ = 0;
  } else {
    ++failures_;
    passes_ = 0;
  }
  const auto before = state_;
  if (ok) {
    const int needed = ever_healthy_ ? healthy_threshold_ : 1;
    if (state_ != HealthState::healthy && passes_ >= needed) {
      state_ = HealthState::healthy;
      ever_healthy_ = true;
    }
  } else {
    const int needed = ever_healthy_ ? unhealthy_threshold_ : 1;
    if (state_ != HealthState::unhealthy && failures_ >= needed) state_ = HealthState::unhealthy;
  }
  return state_ != before;
}

}  // namespace svckit
