#include "svckit/resilience/deadline.hpp"

#include <algorithm>
#include <charconv>

namespace svckit {

namespace {
constexpr std::chrono::milliseconds kUnbounded{std::chrono::hours(24 * 365)};
}

std::chrono::milliseconds Deadline::remaining(SteadyTime now) const {
  if (!bounded_) return kUnbounded;
  if (now >= when_) return std::chrono::milliseconds(0);
  return std::chrono::duration_cast<std::chrono::milliseconds>(when_ - now);
}

Deadline Deadline::earliest(const Deadline& other) const {
  if (!bounded_) return other;
  if (!other.bounded_) return *this;
  return when_ <= other.when_ ? *this : other;
}

std::optional<std::chrono::milliseconds> Deadline::attempt_timeout(std::chrono::milliseconds per_try, SteadyTime now,
                                                                   std::chrono::milliseconds margin,
                                                                   std::chrono::milliseconds min_attempt) const {
  const auto usable = remaining(now) - margin;
  const auto timeout = std::min(per_try, usable);
  if (timeout < min_attempt || timeout.count() <= 0) return std::nullopt;
  return timeout;
}

bool Deadline::allows_retry_after(std::chrono::milliseconds backoff, SteadyTime now, std::chrono::milliseconds margin,
                                  std::chrono::milliseconds min_attempt) const {
  if (!bounded_) return true;
  return remaining(now) - backoff - margin >= std::max(min_attempt, std::chrono::milliseconds(1));
}

Result<std::chrono::milliseconds> parse_deadline_header(std::string_view value) {
  std::int64_t ms = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), ms);
  if (value.empty() || ec != std::errc{} || end != value.data() + value.size() || ms < 1 || ms > 86'400'000) {
    return make_error(ErrorCode::invalid_argument,
                      std::string(kDeadlineHeader) + " must be milliseconds in 1..86400000, got '" +
                          std::string(value.substr(0, 32)) + "'",
                      std::string(kDeadlineHeader));
  }
  return std::chrono::milliseconds(ms);
}

}  // namespace svckit
