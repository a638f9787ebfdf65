// Deadlines drive every retry decision: each attempt gets min(per_try, remaining - margin), and a
// retry or hedge whose backoff would end past the deadline is not started at all (fail now rather
// than after a pointless wait). The remaining budget travels to the callee in a header.
// Pure value type; thread-safe to copy and read.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit {

/// Request header carrying the caller's remaining budget in milliseconds (like grpc-timeout).
inline constexpr std::string_view kDeadlineHeader = "X-Svckit-Deadline-Ms";

class Deadline {
 public:
  /// No deadline: every question answers "plenty of time".
  static Deadline none() { return Deadline{}; }
  static Deadline at(SteadyTime when) { return Deadline{when}; }
  static Deadline after(SteadyTime now, std::chrono::milliseconds budget) { return Deadline{now + budget}; }

  bool bounded() const { return bounded_; }
  bool expired(SteadyTime now) const { return bounded_ && now >= when_; }
  /// Time left (zero when expired; a very large value when unbounded).
  std::chrono::milliseconds remaining(SteadyTime now) const;
  /// The earlier of two deadlines (e.g. the call's and the incoming request's).
  Deadline earliest(const Deadline& other) const;

  /// Timeout for an attempt starting now: min(per_try, remaining - margin). nullopt when that
  /// leaves less than `min_attempt` (do not start an attempt that cannot finish).
  std::optional<std::chrono::milliseconds> attempt_timeout(std::chrono::milliseconds per_try, SteadyTime now,
                                                           std::chrono::milliseconds margin,
                                                           std::chrono::milliseconds min_attempt) const;
  /// May a retry that first sleeps `backoff` still get `min_attempt` after the margin?
  bool allows_retry_after(std::chrono::milliseconds backoff, SteadyTime now, std::chrono::milliseconds margin,
                          std::chrono::milliseconds min_attempt) const;

 private:
  Deadline() = default;
  explicit Deadline(SteadyTime when) : when_(when), bounded_(true) {}
  SteadyTime when_{};
  bool bounded_ = false;
};

/// Parses the header's value: 1..86,400,000 digits-only milliseconds; errors name the header.
Result<std::chrono::milliseconds> parse_deadline_header(std::string_view value);

}  // namespace svckit
