// PeerRateLimiter: a token bucket per client address for svckitd's write endpoints, so one
// misbehaving client cannot flood the registry while others keep writing. The table of buckets is
// bounded: past `max_peers`, the least recently seen peer's bucket is dropped (it comes back full),
// and the drops are counted.
#pragma once

#include <chrono>
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "svckit/core/time_source.hpp"

namespace svckit::daemon {

struct PeerRateLimits {
  double per_second = 0;  // writes per second per peer; 0 = no limit
  double burst = 0;       // bucket size; 0 = 2 x per_second (at least 1)
  std::size_t max_peers = 10'000;
};

/// Thread-safe (one mutex; an admission is O(1)).
class PeerRateLimiter {
 public:
  PeerRateLimiter(PeerRateLimits limits, const TimeSource& time);

  bool enabled() const { return limits_.per_second > 0; }
  /// Takes one token of `peer`'s bucket. nullopt: admitted; else how long until a token is there.
  std::optional<std::chrono::milliseconds> admit(const std::string& peer);
  /// The bucket size: requests a client may make at once.
  double burst() const { return burst_; }
  std::uint64_t refused() const;
  std::uint64_t evicted() const;
  std::size_t peers() const;

 private:
  struct Bucket {
    double tokens;
    SteadyTime last;
    std::list<std::string>::iterator recency;  // position in recency_ (front = most recent)
  };

  const PeerRateLimits limits_;
  const double burst_;
  const TimeSource& time_;
  mutable std::mutex mutex_;
  std::unordered_map<std::string, Bucket> buckets_;  // guarded by mutex_
  std::list<std::string> recency_;                   // guarded by mutex_
  std::uint64_t refused_ = 0, evicted_ = 0;          // guarded by mutex_
};

}  // namespace svckit::daemon
