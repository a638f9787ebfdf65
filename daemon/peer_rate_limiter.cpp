#include "daemon/peer_rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace svckit::daemon {

PeerRateLimiter::PeerRateLimiter(PeerRateLimits limits, const TimeSource& time)
    : limits_(limits), burst_(limits.burst > 0 ? limits.burst : std::max(1.0, 2 * limits.per_second)), time_(time) {}

std::optional<std::chrono::milliseconds> PeerRateLimiter::admit(const std::string& peer) {
  if (!enabled()) return std::nullopt;
  const auto now = time_.steady_now();
  std::lock_guard lock(mutex_);
  auto it = buckets_.find(peer);
  if (it == buckets_.end()) {
    if (buckets_.size() >= std::max<std::size_t>(1, limits_.max_peers)) {
      buckets_.erase(recency_.back());
      recency_.pop_back();
      ++evicted_;
    }
    recency_.push_front(peer);
    it = buckets_.emplace(peer, Bucket{burst_, now, recency_.begin()}).first;
  } else {
    recency_.splice(recency_.begin(), recency_, it->second.recency);
  }
  auto& bucket = it->second;
  const double elapsed = std::chrono::duration<double>(now - bucket.last).count();
  bucket.tokens = std::min(burst_, bucket.tokens + std::max(0.0, elapsed) * limits_.per_second);
  bucket.last = now;
  if (bucket.tokens >= 1) {
    bucket.tokens -= 1;
    return std::nullopt;
  }
  ++refused_;
  const double seconds = (1 - bucket.tokens) / limits_.per_second;
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::ceil(seconds * 1000)));
}

std::uint64_t PeerRateLimiter::refused() const {
  std::lock_guard lock(mutex_);
  return refused_;
}

std::uint64_t PeerRateLimiter::evicted() const {
  std::lock_guard lock(mutex_);
  return evicted_;
}

std::size_t PeerRateLimiter::peers() const {
  std::lock_guard lock(mutex_);
  return buckets_.size();
}

}  // namespace svckit::daemon
