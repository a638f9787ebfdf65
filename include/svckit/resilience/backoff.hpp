// Backoff between retries: fixed, linear, exponential, exponential with full jitter, and
// decorrelated jitter (the AWS Builders' Library "Timeouts, retries and backoff with jitter").
// Every delay is capped at `cap` (before jitter for full jitter, so the jitter never exceeds it).
// Pure logic: an injected Random. A Backoff object is one call's sequence; not thread-safe.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "svckit/core/random.hpp"
#include "svckit/core/result.hpp"

namespace svckit {

enum class BackoffKind { fixed, linear, exponential, full_jitter, decorrelated_jitter };
std::string_view to_string(BackoffKind kind) noexcept;
std::optional<BackoffKind> parse_backoff_kind(std::string_view text) noexcept;

struct BackoffPolicy {
  BackoffKind kind = BackoffKind::full_jitter;
  std::chrono::milliseconds base{100};    // first delay (fixed: every delay)
  std::chrono::milliseconds cap{10'000};  // no delay is longer
  double multiplier = 2.0;                // exponential kinds: growth per attempt (>= 1)
};

/// Errors name the field: base > 0, cap >= base, multiplier >= 1.
Result<void> validate(const BackoffPolicy& policy);

class Backoff {
 public:
  Backoff(const BackoffPolicy& policy, Random& random) : policy_(policy), random_(random) {}
  /// Delay before retry number `retry_index()` + 1 (the first call gives the first retry's delay).
  std::chrono::milliseconds next();
  int retry_index() const { return retries_; }

 private:
  BackoffPolicy policy_;
  Random& random_;
  int retries_ = 0;
  std::chrono::milliseconds previous_{0};  // decorrelated jitter's last delay
};

}  // namespace svckit
