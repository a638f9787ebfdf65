// Cache<K, V>: an in-process cache with LRU or FIFO eviction, per-entry and default TTLs, an
// optional TinyLFU admission filter, bounds by entries and/or bytes, statistics, batch operations,
// single-flight loading and warm-up.
//
// Thread-safety: every member may be called from any thread. Keys are spread over `shards`
// shards, each with its own mutex, order list, index and frequency sketch; bounds apply per shard
// (max_entries / shards each), so with several shards the cache evicts approximately, not exactly,
// in global LRU order. Values are returned by copy: cache a std::shared_ptr<const T> for large T.
// Loaders run outside any lock; one loader per key runs at a time (waiters share its result).
//
// Time comes from the TimeSource given (SimulatedClock in tests): nothing reads the clock itself.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "svckit/cache/detail/frequency_sketch.hpp"
#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit::cache {

enum class Eviction {
  lru,   // the least recently read or written entry goes first
  fifo,  // the oldest inserted entry goes first; reads and updates do not move it
};

struct CacheOptions {
  Eviction eviction = Eviction::lru;         // Default: lru.
  std::size_t max_entries = 10'000;          // Default: 10000; 0 = no bound by count.
  std::size_t max_bytes = 0;                 // Default: 0 = no bound by size (requires a Weigher when set).
  std::chrono::milliseconds default_ttl{0};  // Default: 0 = entries live until evicted (put() may give a TTL).
  /// Default: false. TinyLFU: a new entry that would evict another is admitted only if it has
  /// been asked for more often (approximately, recently) than the entry it would evict — one-hit
  /// wonders in a scan do not flush a hot working set.
  bool tinylfu_admission = false;
  /// Default: 64 (two threads on 16 shards collided often enough to halve throughput; measured in
  /// bench/cache_bench), reduced so that each shard holds at least 64 entries (1 below 128).
  std::size_t shards = 64;
};

struct CacheStats {
  std::uint64_t hits = 0;
  std::uint64_t misses = 0;               // includes expired entries found
  std::uint64_t puts = 0;                 // stored (new or replaced)
  std::uint64_t evictions = 0;            // removed to stay within a bound
  std::uint64_t expirations = 0;          // removed because their TTL passed
  std::uint64_t rejections = 0;           // refused by TinyLFU admission or heavier than a shard's bound
  std::uint64_t loads = 0;                // loader calls (single-flight: one per key at a time)
  std::uint64_t load_failures = 0;        // loader errors (not cached)
  std::uint64_t load_waits = 0;           // get_or_load calls that waited for another caller's load
  std::chrono::nanoseconds load_time{0};  // total time spent in loaders
  std::size_t entries = 0;
  std::size_t bytes = 0;
  double hit_rate() const {
    return hits + misses == 0 ? 0.0 : static_cast<double>(hits) / static_cast<double>(hits + misses);
  }
};

template <class K, class V, class Hash = std::hash<K>>
class Cache {
 public:
  /// The size of an entry, for max_bytes.
  using Weigher = std::function<std::size_t(const K&, const V&)>;
  using Loader = std::function<Result<V>(const K&)>;

  /// Errors (invalid_argument, field named): max_bytes without a weigher, no bound at all with
  /// TinyLFU, zero shards.
  static Result<std::unique_ptr<Cache>> create(CacheOptions options, const TimeSource& time, Weigher weigher = {}) {
    if (options.max_bytes > 0 && !weigher) {
      return make_error(ErrorCode::invalid_argument, "max_bytes needs a weigher", "max_bytes");
    }
    if (options.tinylfu_admission && options.max_entries == 0 && options.max_bytes == 0) {
      return make_error(ErrorCode::invalid_argument, "TinyLFU admission needs max_entries or max_bytes",
                        "tinylfu_admission");
    }
    if (options.shards == 0) return make_error(ErrorCode::invalid_argument, "shards must be at least 1", "shards");
    if (options.max_entries > 0) options.shards = std::clamp<std::size_t>(options.max_entries / 64, 1, options.shards);
    return std::unique_ptr<Cache>(new Cache(options, time, std::move(weigher)));
  }

  /// The value, if present and not expired. Counts a hit or a miss; LRU: marks it recently used.
  std::optional<V> get(const K& key) {
    const auto h = hash(key);
    auto& s = shard(h);
    std::lock_guard lock(s.mutex);
    return get_locked(s, key, h);
  }

  /// Stores (or replaces) `value`, expiring after `ttl` (default: default_ttl; 0 = never).
  /// Returns false when refused: TinyLFU judged it colder than the entry it would evict, or it
  /// alone weighs more than a shard may hold.
  bool put(const K& key, V value, std::optional<std::chrono::milliseconds> ttl = std::nullopt) {
    const auto h = hash(key);
    auto& s = shard(h);
    std::lock_guard lock(s.mutex);
    return put_locked(s, key, h, std::move(value), ttl.value_or(options_.default_ttl));
  }

  bool erase(const K& key) {
    const auto h = hash(key);
    auto& s = shard(h);
    std::lock_guard lock(s.mutex);
    auto it = s.index.find(key);
    if (it == s.index.end()) return false;
    remove_locked(s, it->second);
    return true;
  }

  void clear() {
    for (auto& s : shards_) {
      std::lock_guard lock(s->mutex);
      s->index.clear();
      s->order.clear();
      s->bytes = 0;
    }
  }

  /// One result per key, in order.
  std::vector<std::optional<V>> get_many(const std::vector<K>& keys) {
    std::vector<std::optional<V>> out;
    out.reserve(keys.size());
    for (const auto& key : keys) out.push_back(get(key));
    return out;
  }
  /// Returns how many were stored.
  std::size_t put_many(std::vector<std::pair<K, V>> entries,
                       std::optional<std::chrono::milliseconds> ttl = std::nullopt) {
    std::size_t stored = 0;
    for (auto& [key, value] : entries) stored += put(key, std::move(value), ttl) ? 1 : 0;
    return stored;
  }

  /// The cached value, or the loader's (then cached). Single-flight: while one caller loads a key,
  /// others asking for it wait for that load instead of starting their own. A loader error is
  /// returned to every waiter and not cached. A loader that throws counts as an internal error.
  Result<V> get_or_load(const K& key, const Loader& loader,
                        std::optional<std::chrono::milliseconds> ttl = std::nullopt) {
    const auto h = hash(key);
    auto& s = shard(h);
    std::shared_ptr<Flight> flight;
    bool leader = false;
    {
      std::lock_guard lock(s.mutex);
      if (auto hit = get_locked(s, key, h)) return std::move(*hit);
      auto& slot = s.flights[key];
      if (!slot) {
        slot = std::make_shared<Flight>();
        leader = true;
      } else {
        ++s.load_waits;
      }
      flight = slot;
    }
    if (!leader) {
      std::unique_lock wait(flight->mutex);
      flight->done_cv.wait(wait, [&] { return flight->result.has_value(); });
      return *flight->result;
    }
    const auto started = time_.steady_now();
    Result<V> loaded = make_error(ErrorCode::internal, "loader threw");
    try {
      loaded = loader(key);
    } catch (const std::exception& e) {
      loaded = make_error(ErrorCode::internal, std::string("loader threw: ") + e.what());
    }
    {
      std::lock_guard lock(s.mutex);
      ++s.loads;
      s.load_time += time_.steady_now() - started;
      if (loaded) {
        put_locked(s, key, h, *loaded, ttl.value_or(options_.default_ttl));
      } else {
        ++s.load_failures;
      }
      s.flights.erase(key);
    }
    {
      std::lock_guard done(flight->mutex);
      flight->result = loaded;
    }
    flight->done_cv.notify_all();
    return loaded;
  }

  /// Loads every key not cached yet (e.g. at start-up). Returns how many loads succeeded.
  std::size_t warm_up(const std::vector<K>& keys, const Loader& loader) {
    std::size_t loaded = 0;
    for (const auto& key : keys) loaded += get_or_load(key, loader) ? 1 : 0;
    return loaded;
  }

  /// Removes expired entries now (they are otherwise removed when found or evicted). Returns how many.
  std::size_t purge_expired() {
    std::size_t removed = 0;
    const auto now = time_.steady_now();
    for (auto& s : shards_) {
      std::lock_guard lock(s->mutex);
      for (auto it = s->order.begin(); it != s->order.end();) {
        auto next = std::next(it);
        if (it->expires <= now) {
          ++s->expirations;
          remove_locked(*s, it);
          ++removed;
        }
        it = next;
      }
    }
    return removed;
  }

  CacheStats stats() const {
    CacheStats out;
    for (const auto& s : shards_) {
      std::lock_guard lock(s->mutex);
      out.hits += s->hits;
      out.misses += s->misses;
      out.puts += s->puts;
      out.evictions += s->evictions;
      out.expirations += s->expirations;
      out.rejections += s->rejections;
      out.loads += s->loads;
      out.load_failures += s->load_failures;
      out.load_waits += s->load_waits;
      out.load_time += s->load_time;
      out.entries += s->index.size();
      out.bytes += s->bytes;
    }
    return out;
  }
  std::size_t size() const { return stats().entries; }
  const CacheOptions& options() const { return options_; }

 private:
  struct Entry {
    K key;
    V value;
    SteadyTime expires;
    std::size_t weight;
    std::uint64_t hash;
  };
  using Order = std::list<Entry>;  // front: the next victim
  struct Flight {
    std::mutex mutex;
    std::condition_variable done_cv;
    std::optional<Result<V>> result;  // guarded by mutex
  };
  struct alignas(64) Shard {  // its own cache lines: two threads on two shards share nothing
    explicit Shard(std::size_t sketch_capacity) {
      if (sketch_capacity > 0) sketch.emplace(sketch_capacity);
    }
    mutable std::mutex mutex;
    Order order;                                                   // guarded by mutex
    std::unordered_map<K, typename Order::iterator, Hash> index;   // guarded by mutex
    std::unordered_map<K, std::shared_ptr<Flight>, Hash> flights;  // guarded by mutex
    std::optional<detail::FrequencySketch> sketch;                 // guarded by mutex
    std::size_t bytes = 0;
    std::uint64_t hits = 0, misses = 0, puts = 0, evictions = 0, expirations = 0, rejections = 0, loads = 0,
                  load_failures = 0, load_waits = 0;
    std::chrono::nanoseconds load_time{0};
  };

  Cache(CacheOptions options, const TimeSource& time, Weigher weigher)
      : options_(options), time_(time), weigher_(std::move(weigher)) {
    max_entries_ = options_.max_entries == 0 ? 0 : (options_.max_entries + options_.shards - 1) / options_.shards;
    max_bytes_ = options_.max_bytes == 0 ? 0 : (options_.max_bytes + options_.shards - 1) / options_.shards;
    const std::size_t sketch = !options_.tinylfu_admission ? 0 : max_entries_ != 0 ? max_entries_ : 1024;
    for (std::size_t i = 0; i < options_.shards; ++i) shards_.push_back(std::make_unique<Shard>(sketch));
  }

  static std::uint64_t hash(const K& key) {
    std::uint64_t h = Hash{}(key);  // std::hash is the identity for integers: mix (splitmix64's finaliser)
    h ^= h >> 30;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 27;
    h *= 0x94D049BB133111EBULL;
    h ^= h >> 31;
    return h;
  }
  Shard& shard(std::uint64_t h) { return *shards_[h % shards_.size()]; }

  std::optional<V> get_locked(Shard& s, const K& key, std::uint64_t h) {
    if (s.sketch) s.sketch->increment(h);
    auto it = s.index.find(key);
    if (it == s.index.end()) {
      ++s.misses;
      return std::nullopt;
    }
    // Entries without a TTL never read the clock (a virtual call and a clock_gettime per hit).
    if (it->second->expires != SteadyTime::max() && it->second->expires <= time_.steady_now()) {
      ++s.expirations;
      ++s.misses;
      remove_locked(s, it->second);
      return std::nullopt;
    }
    ++s.hits;
    if (options_.eviction == Eviction::lru) s.order.splice(s.order.end(), s.order, it->second);
    return it->second->value;
  }

  bool put_locked(Shard& s, const K& key, std::uint64_t h, V value, std::chrono::milliseconds ttl) {
    // The clock is read only when something needs it (a TTL, or TinyLFU's victim check).
    const auto now = ttl.count() > 0 || s.sketch ? time_.steady_now() : SteadyTime{};
    const auto expires = ttl.count() > 0 ? now + ttl : SteadyTime::max();
    const std::size_t weight = weigher_ ? weigher_(key, value) : 1;
    if (max_bytes_ != 0 && weight > max_bytes_) {
      ++s.rejections;
      return false;
    }
    if (auto it = s.index.find(key); it != s.index.end()) {  // replace in place
      auto& e = *it->second;
      s.bytes = s.bytes - e.weight + weight;
      e.value = std::move(value);
      e.expires = expires;
      e.weight = weight;
      if (options_.eviction == Eviction::lru) s.order.splice(s.order.end(), s.order, it->second);
      ++s.puts;
      evict_locked(s, &e);
      return true;
    }
    if (s.sketch) {
      s.sketch->increment(h);
      if (over_bound(s, weight) && !s.order.empty()) {
        const auto& victim = s.order.front();
        if (victim.expires > now && s.sketch->frequency(h) <= s.sketch->frequency(victim.hash)) {
          ++s.rejections;
          return false;
        }
      }
    }
    s.order.push_back(Entry{key, std::move(value), expires, weight, h});
    s.index.emplace(key, std::prev(s.order.end()));
    s.bytes += weight;
    ++s.puts;
    evict_locked(s, &s.order.back());
    return true;
  }

  bool over_bound(const Shard& s, std::size_t adding) const {
    return (max_entries_ != 0 && s.index.size() + 1 > max_entries_) ||
           (max_bytes_ != 0 && s.bytes + adding > max_bytes_);
  }

  /// Evicts from the front until within the bounds, never `keep` (the entry just written).
  void evict_locked(Shard& s, const Entry* keep) {
    while ((max_entries_ != 0 && s.index.size() > max_entries_) || (max_bytes_ != 0 && s.bytes > max_bytes_)) {
      auto victim = s.order.begin();
      if (&*victim == keep) {
        if (s.order.size() == 1) break;
        ++victim;
      }
      ++s.evictions;
      remove_locked(s, victim);
    }
  }

  void remove_locked(Shard& s, typename Order::iterator it) {
    s.bytes -= it->weight;
    s.index.erase(it->key);
    s.order.erase(it);
  }

  CacheOptions options_;
  const TimeSource& time_;
  Weigher weigher_;
  std::size_t max_entries_ = 0;  // per shard
  std::size_t max_bytes_ = 0;    // per shard
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace svckit::cache
