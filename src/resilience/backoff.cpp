#include "svckit/resilience/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace svckit {

std::string_view to_string(BackoffKind kind) noexcept {
  switch (kind) {
    case BackoffKind::fixed:
      return "fixed";
    case BackoffKind::linear:
      return "linear";
    case BackoffKind::exponential:
      return "exponential";
    case BackoffKind::full_jitter:
      return "full_jitter";
    case BackoffKind::decorrelated_jitter:
      return "decorrelated_jitter";
  }
  return "fixed";
}

std::optional<BackoffKind> parse_backoff_kind(std::string_view text) noexcept {
  for (auto k : {BackoffKind::fixed, BackoffKind::linear, BackoffKind::exponential, BackoffKind::full_jitter,
                 BackoffKind::decorrelated_jitter}) {
    if (text == to_string(k)) return k;
  }
  return std::nullopt;
}

Result<void> validate(const BackoffPolicy& p) {
  if (p.base.count() <= 0) return make_error(ErrorCode::invalid_argument, "backoff base must be > 0", "base");
  if (p.cap < p.base) return make_error(ErrorCode::invalid_argument, "backoff cap must be >= base", "cap");
  if (!(p.multiplier >= 1.0) || p.multiplier > 100) {
    return make_error(ErrorCode::invalid_argument, "backoff multiplier must be in 1..100", "multiplier");
  }
  return {};
}

std::chrono::milliseconds Backoff::next() {
  using ms = std::chrono::milliseconds;
  const double base = static_cast<double>(policy_.base.count());
  const double cap = static_cast<double>(policy_.cap.count());
  const int n = retries_++;
  // Uniform in [lo, hi] milliseconds.
  const auto between = [&](double lo, double hi) { return lo + random_.uniform01() * (hi - lo); };
  double delay = base;
  switch (policy_.kind) {
    case BackoffKind::fixed:
      break;
    case BackoffKind::linear:
      delay = base * (n + 1);
      break;
    case BackoffKind::exponential:
      delay = base * std::pow(policy_.multiplier, n);
      break;
    case BackoffKind::full_jitter:  // random in [0, min(cap, base × m^n)]
      delay = between(0, std::min(cap, base * std::pow(policy_.multiplier, n)));
      break;
    case BackoffKind::decorrelated_jitter: {  // min(cap, random in [base, previous × 3])
      const double previous = n == 0 ? base : static_cast<double>(previous_.count());
      delay = between(base, std::max(base, previous * 3));
      break;
    }
  }
  const auto out = ms(static_cast<ms::rep>(std::min(cap, std::max(0.0, delay))));
  previous_ = out;
  return out;
}

}  // namespace svckit
