// Randomness is injected: logic never seeds or reads a random source itself.
#pragma once

#include <cstdint>
#include <cstdio>
#include <random>
#include <string>

namespace svckit {

/// A source of uniformly distributed 64-bit values. Implementations state their thread-safety.
class Random {
 public:
  virtual ~Random() = default;
  virtual std::uint64_t next_u64() = 0;

  /// Uniform in [0, bound). REQUIRES: bound > 0.
  std::uint64_t uniform(std::uint64_t bound) { return next_u64() % bound; }
  /// Uniform in [0, 1).
  double uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
};

/// SplitMix64 with one state per thread, each seeded from std::random_device. Thread-safe without
/// locks (balancers call it on every pick, from every thread). Not for cryptography.
class RealRandom final : public Random {
 public:
  std::uint64_t next_u64() override {
    thread_local std::uint64_t state =
        (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }
};

/// SplitMix64 from a given seed: one object's own deterministic stream (seed it from an injected
/// Random, so tests stay reproducible). Not thread-safe.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next_u64() override {
    std::uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

/// 128 random bits as 32 hex digits: ids of tasks and events (unique in practice; not secret).
inline std::string random_hex_id(Random& random) {
  const auto high = static_cast<unsigned long long>(random.next_u64());
  const auto low = static_cast<unsigned long long>(random.next_u64());
  char text[33];
  std::snprintf(text, sizeof text, "%016llx%016llx", high, low);
  return text;
}

}  // namespace svckit
