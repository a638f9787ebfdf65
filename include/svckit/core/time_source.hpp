// Clocks are injected: logic never reads std::chrono clocks itself.
#pragma once

#include <chrono>

namespace svckit {

using SteadyTime = std::chrono::steady_clock::time_point;
using SystemTime = std::chrono::system_clock::time_point;

/// Source of the current time. Implementations are thread-safe.
class TimeSource {
 public:
  virtual ~TimeSource() = default;
  /// Monotonic time, for durations and deadlines.
  virtual SteadyTime steady_now() const = 0;
  /// Wall-clock time, for timestamps shown to people and stored in records.
  virtual SystemTime system_now() const = 0;
};

/// The real clocks. Stateless; one instance can be shared by everything in a process.
class RealTimeSource final : public TimeSource {
 public:
  SteadyTime steady_now() const override { return std::chrono::steady_clock::now(); }
  SystemTime system_now() const override { return std::chrono::system_clock::now(); }
};

}  // namespace svckit
