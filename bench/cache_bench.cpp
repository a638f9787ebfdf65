// Cache hit rates on skewed traces, side by side: LRU, FIFO and LRU with TinyLFU admission, for
// cache sizes of 0.5%, 1% and 5% of the key space. Traces: Zipf(0.9) over 100,000 keys, and the
// same with a one-pass scan of fresh keys mixed in (every 4th access) — the case TinyLFU is for.
// Also: get() and put() throughput, 1 and 2 threads, against the cache most services write by
// hand (one mutex over an unordered_map + LRU list) in the same run. Hit rates are deterministic
// (seeded trace).
//   build/bench/cache_bench [--accesses 2000000]
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <list>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
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

/// The hand-written cache this is compared with: one mutex, an unordered_map into an LRU list.
class OneMutexLru {
 public:
  explicit OneMutexLru(std::size_t capacity) : capacity_(capacity) {}
  std::optional<std::uint64_t> get(std::uint64_t key) {
    std::lock_guard lock(mutex_);
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    order_.splice(order_.end(), order_, it->second);
    return it->second->second;
  }
  void put(std::uint64_t key, std::uint64_t value) {
    std::lock_guard lock(mutex_);
    if (auto it = index_.find(key); it != index_.end()) {
      it->second->second = value;
      order_.splice(order_.end(), order_, it->second);
      return;
    }
    order_.emplace_back(key, value);
    index_[key] = std::prev(order_.end());
    if (order_.size() > capacity_) {
      index_.erase(order_.front().first);
      order_.pop_front();
    }
  }

 private:
  std::size_t capacity_;
  std::mutex mutex_;
  std::list<std::pair<std::uint64_t, std::uint64_t>> order_;
  std::unordered_map<std::uint64_t, std::list<std::pair<std::uint64_t, std::uint64_t>>::iterator> index_;
};

/// Operations per second of `op(thread, i)` run `per_thread` times on each of `threads` threads.
template <class Op>
double ops_per_second(unsigned threads, std::size_t per_thread, Op op) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      std::uint64_t sink = 0;
      for (std::size_t i = 0; i < per_thread; ++i) sink += op(t, i);
      if (sink == 42) std::puts("");  // keep the loop
    });
  }
  for (auto& p : pool) p.join();
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - started;
  return static_cast<double>(threads * per_thread) / took.count();
}

/// get(): a warm 10,000-entry cache, every read a hit. put(): 100,000 keys into 10,000 entries,
/// so most puts evict.
void throughput(unsigned threads) {
  constexpr std::size_t kOps = 3'000'000;
  svckit::RealTimeSource time;
  CacheOptions o;
  o.max_entries = 10'000;
  auto cache = Cache<std::uint64_t, std::uint64_t>::create(o, time).value();
  OneMutexLru naive(10'000);
  for (std::uint64_t k = 0; k < 10'000; ++k) {
    cache->put(k, k);
    naive.put(k, k);
  }
  const auto key = [](unsigned t, std::size_t i) { return (i * 7919 + std::size_t{t} * 104'729) % 10'000; };
  const auto wide = [](unsigned t, std::size_t i) { return (i * 7919 + std::size_t{t} * 104'729) % 100'000; };
  const double svckit_get =
      ops_per_second(threads, kOps, [&](unsigned t, std::size_t i) { return cache->get(key(t, i)).value_or(0); });
  const double naive_get =
      ops_per_second(threads, kOps, [&](unsigned t, std::size_t i) { return naive.get(key(t, i)).value_or(0); });
  const double svckit_put = ops_per_second(
      threads, kOps, [&](unsigned t, std::size_t i) { return static_cast<std::uint64_t>(cache->put(wide(t, i), i)); });
  const double naive_put = ops_per_second(threads, kOps, [&](unsigned t, std::size_t i) {
    naive.put(wide(t, i), i);
    return std::uint64_t{1};
  });
  std::printf("%u thread(s): get %.1f M/s (one-mutex LRU %.1f M/s), put %.1f M/s (one-mutex LRU %.1f M/s)\n", threads,
              svckit_get / 1e6, naive_get / 1e6, svckit_put / 1e6, naive_put / 1e6);
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
  std::printf("throughput, 10,000-entry LRU (svckit: 64 shards), %zu ops per thread:\n", std::size_t{3'000'000});
  for (const unsigned threads : {1U, 2U}) throughput(threads);
  return 0;
}
