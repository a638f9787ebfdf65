// Cache hit rates on skewed traces, side by side: LRU, FIFO and LRU with TinyLFU admission, for
// cache sizes of 0.5%, 1% and 5% of the key space. Traces: Zipf(0.9) over 100,000 keys, and the
// same with a one-pass scan of fresh keys mixed in (every 4th access) — the case TinyLFU is for.
// Also: get() throughput on a warm cache, 1 and 2 threads. Deterministic (seeded trace).
//   build/bench/cache_bench [--accesses 2000000]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "svckit/cache/cache.hpp"
#include "svckit/core/time_source.hpp"

namespace {

using svckit::cache::Cache;
using svckit::cache::CacheOptions;
using svckit::cache::Eviction;

constexpr std::uint64_t kKeys = 100'000;

std::vector<std::uint64_t> zipf_trace(std::size_t accesses, double s, bool with_scan) {
  std::vector<double> cdf(kKeys);
  double sum = 0;
  for (std::uint64_t k = 0; k < kKeys; ++k) cdf[k] = sum += 1.0 / std::pow(static_cast<double>(k + 1), s);
  for (auto& c : cdf) c /= sum;
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::uint64_t> trace;
  trace.reserve(accesses);
  std::uint64_t fresh = kKeys;  // scan keys: each seen once
  for (std::size_t i = 0; i < accesses; ++i) {
    if (with_scan && i % 4 == 3) {
      trace.push_back(fresh++);
      continue;
    }
    trace.push_back(static_cast<std::uint64_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) - cdf.begin()));
  }
  return trace;
}

double hit_rate(const std::vector<std::uint64_t>& trace, std::size_t size, Eviction eviction, bool tinylfu) {
  svckit::RealTimeSource time;
  CacheOptions o;
  o.max_entries = size;
  o.eviction = eviction;
  o.tinylfu_admission = tinylfu;
  o.shards = 1;
  auto cache = Cache<std::uint64_t, std::uint64_t>::create(o, time).value();
  for (const auto key : trace) {
    if (!cache->get(key)) cache->put(key, key);
  }
  return cache->stats().hit_rate();
}

double gets_per_second(unsigned threads, std::size_t per_thread) {
  svckit::RealTimeSource time;
  CacheOptions o;
  o.max_entries = 10'000;
  auto cache = Cache<std::uint64_t, std::uint64_t>::create(o, time).value();
  for (std::uint64_t k = 0; k < 10'000; ++k) cache->put(k, k);
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::uint64_t sink = 0;
      for (std::size_t i = 0; i < per_thread; ++i) sink += cache->get((i * 7919 + t) % 10'000).value_or(0);
      if (sink == 42) std::puts("");  // keep the loop
    });
  }
  for (auto& p : pool) p.join();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  return static_cast<double>(threads * per_thread) / took.count();
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t accesses = 2'000'000;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--accesses") == 0) accesses = std::stoul(argv[i + 1]);
  }
  std::printf("cache hit rates, %zu accesses over %llu keys (seed 42)\n", accesses,
              static_cast<unsigned long long>(kKeys));
  std::printf("%-22s %8s %8s %8s %12s\n", "trace", "size", "LRU", "FIFO", "LRU+TinyLFU");
  for (const bool scan : {false, true}) {
    const auto trace = zipf_trace(accesses, 0.9, scan);
    for (const std::size_t size : {std::size_t{500}, std::size_t{1'000}, std::size_t{5'000}}) {
      std::printf("%-22s %8zu %7.1f%% %7.1f%% %11.1f%%\n", scan ? "zipf 0.9 + 25% scan" : "zipf 0.9", size,
                  100 * hit_rate(trace, size, Eviction::lru, false), 100 * hit_rate(trace, size, Eviction::fifo, false),
                  100 * hit_rate(trace, size, Eviction::lru, true));
    }
  }
  for (const unsigned threads : {1U, 2U}) {
    std::printf("get() on a warm 10,000-entry LRU cache (16 shards), %u thread(s): %.1f M/s\n", threads,
                gets_per_second(threads, 5'000'000) / 1e6);
  }
  return 0;
}
