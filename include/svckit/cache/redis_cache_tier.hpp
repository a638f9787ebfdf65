// A Redis second tier under the in-process Cache: L1 (Cache<std::string, V>, per process) ->
// L2 (Redis, shared by every process) -> the loader. What one process loaded, the others read
// from Redis; an update or invalidation in one process drops the others' L1 copies by pub/sub.
// When Redis is unreachable the tier steps aside: reads go to the loader, nothing fails.
//
//   RedisTierOptions options;
//   options.name = "products";
//   RedisCacheTier tier(redis, options, random);
//   TieredCache<Product> products(*local, tier);
//   co_spawn(ex, tier.follow_invalidations(stop), detached);    // cancel + wait before `tier` goes
//   auto p = co_await products.get_or_load(sku, load_product);  // Awaitable<Result<Product>>
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "svckit/cache/cache.hpp"
#include "svckit/core/random.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/redis/redis_client.hpp"

namespace svckit::cache {

template <class T>
using Awaitable = boost::asio::awaitable<T>;

struct RedisTierOptions {
  std::string name;                        // required: the cache's namespace (letters, digits, -_.:)
  std::string prefix = "svckit:cache:";    // keys: prefix + name + ":" + key
  std::chrono::milliseconds ttl{300'000};  // Default: 5 min in Redis (0 = no expiry)
  /// Default: 0 = never. Values of at least this many bytes are stored deflated when that makes
  /// them smaller (stored_value.hpp); every process reads both forms.
  std::size_t compress_above = 0;
};

struct RedisTierStats {
  std::uint64_t hits = 0;           // values found in Redis
  std::uint64_t misses = 0;         // not in Redis
  std::uint64_t loads = 0;          // loader calls (one per key at a time in this process)
  std::uint64_t errors = 0;         // Redis failures (the loader was used instead)
  std::uint64_t invalidations = 0;  // L1 drops asked for by other processes
  std::uint64_t compressed = 0;     // values this process stored deflated
};

/// The Redis tier over encoded values (strings). Thread-safe.
class RedisCacheTier {
 public:
  using StringLoader = std::function<Awaitable<Result<std::string>>(const std::string& key)>;

  /// `random` makes this process's id (used here only). Bad options are reported by validate().
  RedisCacheTier(std::shared_ptr<redis::RedisClient> redis, RedisTierOptions options, Random& random);
  Result<void> validate() const;

  /// Redis, else the loader (single-flight per key in this process; stored in Redis with the TTL).
  Awaitable<Result<std::string>> get_or_load(const std::string& key, StringLoader loader);
  /// Stores `value` in Redis and tells the other processes to drop their L1 copy.
  Awaitable<Result<void>> put(const std::string& key, std::string value);
  /// Removes `key` from Redis and from every process's L1.
  Awaitable<Result<void>> invalidate(const std::string& key);

  /// `drop(key)` is called for every key another process put or invalidated (it erases the L1
  /// entry), and with "" after the subscription was re-established (messages may have been missed
  /// meanwhile: L1 is cleared). Set before follow_invalidations runs.
  void on_invalidate(std::function<void(const std::string& key)> drop);
  /// Keeps the invalidation subscription open (reconnecting) until `stop`. Co_spawn it once; the
  /// tier must outlive it (cancel `stop` and wait for it before destroying the tier).
  Awaitable<void> follow_invalidations(std::shared_ptr<CancelToken> stop);

  RedisTierStats stats() const;
  const RedisTierOptions& options() const { return options_; }

 private:
  struct Flight;
  std::string redis_key(const std::string& key) const { return options_.prefix + options_.name + ":" + key; }
  std::string channel() const { return options_.prefix + options_.name + ":invalidate"; }
  Awaitable<void> announce(const std::string& key);
  std::vector<std::string> set_command(const std::string& key, std::string value) const;
  void drop(const std::string& key);

  std::shared_ptr<redis::RedisClient> redis_;
  RedisTierOptions options_;
  const std::string origin_;  // this process's id in invalidation messages (its own are skipped)
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Flight>> flights_;  // guarded by mutex_
  AsioSleeper sleeper_;                                     // followers of a flight wait on it
  std::function<void(const std::string&)> drop_;            // guarded by mutex_
  std::atomic<std::uint64_t> hits_{0}, misses_{0}, loads_{0}, errors_{0}, invalidations_{0};
  mutable std::atomic<std::uint64_t> compressed_{0};  // counted in set_command
};

/// L1 + L2 for values with nlohmann to_json/from_json. Thread-safe (both tiers are).
template <class V>
class TieredCache {
 public:
  using Loader = std::function<Awaitable<Result<V>>(const std::string& key)>;

  /// Both must outlive it; sets `tier`'s invalidation callback to erase from `local`.
  TieredCache(Cache<std::string, V>& local, RedisCacheTier& tier) : local_(local), tier_(tier) {
    tier_.on_invalidate([&local](const std::string& key) {
      if (key.empty()) {
        local.clear();
      } else {
        local.erase(key);
      }
    });
  }

  /// L1, else L2, else `loader` (then both tiers). Errors: the loader's, or a value in Redis that
  /// does not decode (protocol).
  Awaitable<Result<V>> get_or_load(std::string key, Loader loader) {
    if (auto hit = local_.get(key)) co_return std::move(*hit);
    RedisCacheTier::StringLoader encode = [loader](const std::string& k) -> Awaitable<Result<std::string>> {
      auto value = co_await loader(k);
      if (!value) co_return value.error();
      co_return nlohmann::json(*value).dump();
    };
    auto text = co_await tier_.get_or_load(key, std::move(encode));
    if (!text) co_return text.error();
    auto parsed = nlohmann::json::parse(*text, nullptr, false);
    if (parsed.is_discarded()) co_return make_error(ErrorCode::protocol, "cache " + key + ": not JSON in Redis");
    try {
      V value = parsed.template get<V>();
      local_.put(key, value);
      co_return value;
    } catch (const nlohmann::json::exception& e) {
      co_return make_error(ErrorCode::protocol, "cache " + key + ": " + e.what());
    }
  }

  /// Writes through both tiers; other processes drop their L1 copy.
  Awaitable<Result<void>> put(std::string key, V value) {
    local_.put(key, value);
    auto text = nlohmann::json(value).dump();
    co_return co_await tier_.put(key, std::move(text));
  }
  Awaitable<Result<void>> invalidate(std::string key) {
    local_.erase(key);
    co_return co_await tier_.invalidate(key);
  }

 private:
  Cache<std::string, V>& local_;
  RedisCacheTier& tier_;
};

}  // namespace svckit::cache
