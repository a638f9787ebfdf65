// Randomness is injected: logic never seeds or reads a random source itself.
#pragma once

#include <cstdint>
#include <mutex>
#include <random>

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

/// mt19937_64 seeded from std::random_device. Thread-safe (internally locked).
class RealRandom final : public Random {
 public:
  RealRandom() : engine_(std::random_device{}()) {}
  std::uint64_t next_u64() override {
    std::lock_guard lock(mutex_);
    return engine_();
  }

 private:
  std::mutex mutex_;
  std::mt19937_64 engine_;
};

}  // namespace svckit
