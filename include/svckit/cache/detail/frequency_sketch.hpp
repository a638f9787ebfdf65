// FrequencySketch: TinyLFU's approximate access counter (Einziger, Friedman & Manes, "TinyLFU: A
// Highly Efficient Cache Admission Policy", 2017): a count-min sketch of 4 rows of saturating
// 8-bit counters (capped at 15, as the paper's 4-bit ones), halved every `sample` increments so
// old popularity fades. Not thread-safe: each cache shard owns one, under the shard's lock.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace svckit::cache::detail {

class FrequencySketch {
 public:
  /// Sized for `capacity` entries: counters = next power of two >= 4 * capacity per row, reset
  /// period (sample) = 10 * capacity, as in Caffeine.
  explicit FrequencySketch(std::size_t capacity) {
    std::size_t width = 16;
    while (width < capacity * 4) width <<= 1;
    mask_ = width - 1;
    counters_.assign(width * kRows, 0);
    sample_ = std::max<std::size_t>(10 * capacity, 16);
  }

  /// Counts one access of the item whose hash is `hash`.
  void increment(std::uint64_t hash) {
    bool added = false;
    for (std::size_t row = 0; row < kRows; ++row) {
      auto& c = counters_[row * (mask_ + 1) + index(hash, row)];
      if (c < kMax) {
        ++c;
        added = true;
      }
    }
    if (added && ++additions_ >= sample_) age();
  }

  /// The estimated accesses of `hash` since the counters were last halved (0..15).
  std::uint8_t frequency(std::uint64_t hash) const {
    std::uint8_t f = kMax;
    for (std::size_t row = 0; row < kRows; ++row) f = std::min(f, counters_[row * (mask_ + 1) + index(hash, row)]);
    return f;
  }

 private:
  static constexpr std::size_t kRows = 4;
  static constexpr std::uint8_t kMax = 15;

  std::size_t index(std::uint64_t hash, std::size_t row) const {
    // A different odd multiplier per row, then the high bits (splitmix-style mixing).
    static constexpr std::uint64_t kSeeds[kRows] = {0x9E3779B97F4A7C15ULL, 0xC2B2AE3D27D4EB4FULL, 0x165667B19E3779F9ULL,
                                                    0xD6E8FEB86659FD93ULL};
    std::uint64_t h = (hash + kSeeds[row]) * kSeeds[(row + 1) % kRows];
    h ^= h >> 29;
    return static_cast<std::size_t>(h) & mask_;
  }
  void age() {
    for (auto& c : counters_) c >>= 1;
    additions_ /= 2;
  }

  std::vector<std::uint8_t> counters_;
  std::size_t mask_ = 0;
  std::size_t sample_ = 0;
  std::size_t additions_ = 0;
};

}  // namespace svckit::cache::detail
