#include "svckit/cache/redis_cache_tier.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/this_coro.hpp>
#include <vector>

#include "svckit/cache/stored_value.hpp"
#include "svckit/core/log.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/core/wait_list.hpp"

namespace svckit::cache {

using namespace std::chrono_literals;

/// One load in progress; callers asking for the same key wait for it. Finished (waiters closed)
/// exactly once, however the leader's load ends.
struct RedisCacheTier::Flight {
  std::mutex mutex;
  Result<std::string> result = std::string();  // guarded by mutex; final once waiters is closed
  WaitList waiters;
};

RedisCacheTier::RedisCacheTier(std::shared_ptr<redis::RedisClient> redis, RedisTierOptions options, Random& random)
    : redis_(std::move(redis)), options_(std::move(options)), origin_(random_hex_id(random).substr(0, 16)) {}

Result<void> RedisCacheTier::validate() const {
  if (options_.name.empty() || options_.name.size() > 100) {
    return make_error(ErrorCode::invalid_argument, "a cache tier needs a name of 1 to 100 characters", "name");
  }
  for (const char c : options_.name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == ':';
    if (!ok) return make_error(ErrorCode::invalid_argument, "a cache name has letters, digits and -_.: only", "name");
  }
  if (options_.ttl < 0ms) return make_error(ErrorCode::invalid_argument, "ttl must not be negative", "ttl");
  return {};
}

std::vector<std::string> RedisCacheTier::set_command(const std::string& key, std::string value) const {
  const auto plain = value.size();
  value = encode_stored_value(std::move(value), options_.compress_above);
  if (value.size() < plain) compressed_.fetch_add(1, std::memory_order_relaxed);
  if (options_.ttl.count() > 0) {
    return redis::command_args("SET", redis_key(key), std::move(value), "PX", std::to_string(options_.ttl.count()));
  }
  return redis::command_args("SET", redis_key(key), std::move(value));
}

Awaitable<Result<std::string>> RedisCacheTier::get_or_load(const std::string& key, StringLoader loader) {
  auto get = redis::command_args("GET", redis_key(key));
  auto cached = co_await redis_->command(std::move(get));
  const bool redis_up = cached.ok();
  if (cached && !cached->is_nil()) {
    auto value = decode_stored_value(std::move(cached->text));
    if (value) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      co_return std::move(*value);
    }
    // A corrupt stored value is a miss: it is loaded again and overwritten.
    logs::warn("cache", "event=cache_value_corrupt cache={} key={} error=\"{}\"", options_.name, key,
               value.error().message);
  }
  (redis_up ? misses_ : errors_).fetch_add(1, std::memory_order_relaxed);

  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    std::lock_guard lock(mutex_);
    auto& slot = flights_[key];
    if (!slot) {
      slot = std::make_shared<Flight>();
      leader = true;
    }
    flight = slot;
  }
  if (!leader) {
    auto ticket = flight->waiters.park();
    if (!flight->waiters.closed()) (void)co_await ticket.wait_for(24h, sleeper_);
    std::lock_guard lock(flight->mutex);
    co_return flight->result;
  }

  // The leader finishes the flight on every exit — a loader that throws too (before: its flight
  // stayed, and every later load of the key waited 24 h for it).
  struct Finish {
    RedisCacheTier& tier;
    const std::string& key;
    std::shared_ptr<Flight> flight;
    Result<std::string> result =
        make_error(ErrorCode::internal, "the load of this key failed with an exception", "loader");
    ~Finish() {
      {
        std::lock_guard lock(tier.mutex_);
        tier.flights_.erase(key);
      }
      {
        std::lock_guard lock(flight->mutex);
        flight->result = std::move(result);
      }
      flight->waiters.close();
    }
  } finish{*this, key, flight};
  loads_.fetch_add(1, std::memory_order_relaxed);
  auto loaded = co_await loader(key);
  if (loaded && redis_up) {
    auto stored = co_await redis_->command(set_command(key, *loaded));
    if (!stored) errors_.fetch_add(1, std::memory_order_relaxed);
  }
  finish.result = loaded;
  co_return loaded;
}

Awaitable<void> RedisCacheTier::announce(const std::string& key) {
  auto publish = redis::command_args("PUBLISH", channel(), origin_ + "\n" + key);
  auto published = co_await redis_->command(std::move(publish));
  if (!published) errors_.fetch_add(1, std::memory_order_relaxed);
}

Awaitable<Result<void>> RedisCacheTier::put(const std::string& key, std::string value) {
  auto stored = co_await redis_->command(set_command(key, std::move(value)));
  if (!stored) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    co_return stored.error();
  }
  co_await announce(key);
  co_return Result<void>{};
}

Awaitable<Result<void>> RedisCacheTier::invalidate(const std::string& key) {
  auto del = redis::command_args("DEL", redis_key(key));
  auto removed = co_await redis_->command(std::move(del));
  if (!removed) {
    errors_.fetch_add(1, std::memory_order_relaxed);
    co_return removed.error();
  }
  co_await announce(key);
  co_return Result<void>{};
}

void RedisCacheTier::on_invalidate(std::function<void(const std::string& key)> drop) {
  std::lock_guard lock(mutex_);
  drop_ = std::move(drop);
}

void RedisCacheTier::drop(const std::string& key) {
  std::function<void(const std::string&)> f;
  {
    std::lock_guard lock(mutex_);
    f = drop_;
  }
  if (f) f(key);
}

Awaitable<void> RedisCacheTier::follow_invalidations(std::shared_ptr<CancelToken> stop) {
  AsioSleeper sleeper;
  auto backoff = 100ms;
  bool first = true;
  while (!stop->cancelled()) {
    redis::RedisClient::MessageHandler on_message = [this](const std::string&, const std::string& message) {
      const auto newline = message.find('\n');
      if (newline == std::string::npos || message.compare(0, newline, origin_) == 0) return;  // ours
      invalidations_.fetch_add(1, std::memory_order_relaxed);
      drop(message.substr(newline + 1));
    };
    std::function<void()> on_subscribed = [this, first] {
      if (!first) drop("");  // invalidations published while we were away were lost: clear L1
    };
    std::vector<std::string> channels{channel()};
    auto ended = co_await redis_->subscribe(std::move(channels), std::move(on_message), stop, std::move(on_subscribed),
                                            std::chrono::hours(1));
    first = false;
    if (stop->cancelled()) break;
    if (!ended && ended.error().code != ErrorCode::timeout) {
      logs::warn("cache", "event=cache_invalidations_lost cache={} error=\"{}\" retry_in_ms={}", options_.name,
                 ended.error().message, backoff.count());
      // Not subscribed now: `stop`'s hook is free for the pause.
      const auto pause = std::chrono::duration_cast<std::chrono::nanoseconds>(backoff);
      (void)co_await sleeper.sleep_for(pause, stop.get());
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
    } else {
      backoff = 100ms;
    }
  }
}

RedisTierStats RedisCacheTier::stats() const {
  RedisTierStats s;
  s.hits = hits_.load();
  s.misses = misses_.load();
  s.loads = loads_.load();
  s.errors = errors_.load();
  s.invalidations = invalidations_.load();
  s.compressed = compressed_.load();
  return s;
}

}  // namespace svckit::cache
