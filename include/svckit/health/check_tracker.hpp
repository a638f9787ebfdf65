// CheckTracker: the threshold state machine and bounded history of one check of one instance.
// Pure logic (results come in with their timestamps); HealthMonitor owns one per check.
//
// Envoy semantics: a new instance is `unknown` and one pass makes it healthy (start-up needs a
// single success); one failure before any pass makes it unhealthy (it never proved itself). After
// that, `unhealthy_threshold` consecutive failures turn a healthy instance unhealthy and
// `healthy_threshold` consecutive passes bring an unhealthy one back.
// Thread-safety: none (the owner locks).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <string>

#include "svckit/core/time_source.hpp"

namespace svckit {

enum class HealthState { unknown, healthy, unhealthy };
std::string_view to_string(HealthState state) noexcept;

struct CheckResult {
  bool ok = false;
  std::string message;  // e.g. "HTTP 200", "connect: Connection refused", "timed out after 2s"
  std::chrono::microseconds latency{0};
  SystemTime at{};  // filled by the monitor
};

class CheckTracker {
 public:
  CheckTracker(int healthy_threshold, int unhealthy_threshold, std::size_t history_size);

  /// Records a result; returns true when the state changed.
  bool record(CheckResult result);

  HealthState state() const { return state_; }
  int consecutive_passes() const { return passes_; }
  int consecutive_failures() const { return failures_; }
  /// Newest last; at most history_size entries.
  const std::deque<CheckResult>& history() const { return history_; }

 private:
  int healthy_threshold_;
  int unhealthy_threshold_;
  std::size_t history_size_;
  HealthState state_ = HealthState::unknown;
  bool ever_healthy_ = false;
  int passes_ = 0;
  int failures_ = 0;
  std::deque<CheckResult> history_;
};

}  // namespace svckit
