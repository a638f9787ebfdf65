// A TimeSource that only moves when a test says so.
#pragma once

#include <atomic>

#include "svckit/core/time_source.hpp"

namespace svckit::testing {

/// Thread-safe. Starts at an arbitrary fixed point (steady) and 2026-01-01T00:00:00Z (system).
class SimulatedClock final : public TimeSource {
 public:
  SteadyTime steady_now() const override { return SteadyTime{} + std::chrono::nanoseconds(offset_ns_.load()) + kEpoch; }
  SystemTime system_now() const override {
    return SystemTime{} + std::chrono::seconds(kSystemStartSeconds) +
           std::chrono::duration_cast<SystemTime::duration>(std::chrono::nanoseconds(offset_ns_.load()));
  }
  void advance(std::chrono::nanoseconds d) { offset_ns_.fetch_add(d.count()); }

 private:
  static constexpr std::chrono::hours kEpoch{1000};
  static constexpr std::int64_t kSystemStartSeconds = 1767225600;  // 2026-01-01T00:00:00Z
  std::atomic<std::int64_t> offset_ns_{0};
};

}  // namespace svckit::testing
