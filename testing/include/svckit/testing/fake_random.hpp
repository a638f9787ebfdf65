// Deterministic Random for tests: a scripted sequence, then a seeded SplitMix64 stream.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>

#include "svckit/core/random.hpp"

namespace svckit::testing {

/// Thread-safe. Values pushed with script() come first, in order; afterwards SplitMix64(seed).
class FakeRandom final : public Random {
 public:
  explicit FakeRandom(std::uint64_t seed = 42) : stream_(seed) {}

  void script(std::uint64_t value) {
    std::lock_guard lock(mutex_);
    scripted_.push_back(value);
  }

  std::uint64_t next_u64() override {
    std::lock_guard lock(mutex_);
    if (!scripted_.empty()) {
      const auto v = scripted_.front();
      scripted_.pop_front();
      return v;
    }
    return stream_.next_u64();
  }

 private:
  std::mutex mutex_;
  std::deque<std::uint64_t> scripted_;
  SeededRandom stream_;  // guarded by mutex_
};

}  // namespace svckit::testing
