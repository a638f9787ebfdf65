#include "svckit/coord/redis_lock_backend.hpp"
#include "svckit/core/log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <map>
#include <mutex>

namespace svckit::coord {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {

// Every script reads Redis's clock (TIME), so leases and claims never depend on client clocks.
#define SVCKIT_LOCK_NOW           \
  "local t = redis.call('TIME') " \
  "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) "

// KEYS: lock, readers, writers, fence. ARGV: owner, lease ms, claim ms (0: a try, no claim).
// Returns {1, fencing token} or {0, ms until a holder's lease ends}.
constexpr const char* kAcquireExclusiveLua = SVCKIT_LOCK_NOW R"(
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if redis.call('ZCARD', KEYS[2]) == 0 and redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  redis.call('ZREM', KEYS[3], ARGV[1])
  return {1, redis.call('INCR', KEYS[4])}
end
local claim = tonumber(ARGV[3])
if claim > 0 then
  redis.call('ZADD', KEYS[3], now + claim, ARGV[1])
  redis.call('PEXPIRE', KEYS[3], claim)
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  ttl = last[2] and (tonumber(last[2]) - now) or 1
end
return {0, ttl}
)";

// KEYS: lock, readers, writers, fence. ARGV: owner, lease ms.
constexpr const char* kAcquireSharedLua = SVCKIT_LOCK_NOW R"(
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('ZCARD', KEYS[3]) == 0 then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
  local last = redis.call('ZRANGE', KEYS[2], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[2], tonumber(last[2]))
  return {1, redis.call('INCR', KEYS[4])}
end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  ttl = first[2] and (tonumber(first[2]) - now) or 1
end
return {0, ttl}
)";

// KEYS: lock. ARGV: owner, lease ms. 1 = extended, 0 = not held by this owner.
constexpr const char* kExtendExclusiveLua = R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
)";

// KEYS: readers. ARGV: owner, lease ms.
constexpr const char* kExtendSharedLua = SVCKIT_LOCK_NOW R"(
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) > now then
  redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
  local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
  redis.call('PEXPIREAT', KEYS[1], tonumber(last[2]))
  return 1
end
return 0
)";

// KEYS: lock. ARGV: owner, channel, name. Compare-and-delete, then wake the waiters.
constexpr const char* kReleaseExclusiveLua = R"(
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
)";

// KEYS: readers or writers (a reader's hold, or a waiting writer's claim). ARGV: owner, channel, name.
constexpr const char* kReleaseMemberLua = R"(
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0
)";

#undef SVCKIT_LOCK_NOW

/// The scripts, each loaded once per server (EVALSHA by its source's SHA).
struct LockScripts {
  redis::RedisScript acquire_exclusive{kAcquireExclusiveLua};
  redis::RedisScript acquire_shared{kAcquireSharedLua};
  redis::RedisScript extend_exclusive{kExtendExclusiveLua};
  redis::RedisScript extend_shared{kExtendSharedLua};
  redis::RedisScript release_exclusive{kReleaseExclusiveLua};
  redis::RedisScript release_member{kReleaseMemberLua};
};

}  // namespace

/// Shared with the subscriber loop, which may outlive the backend object by one message.
struct RedisLockBackend::State {
  State(std::shared_ptr<redis::RedisClient> r, asio::any_io_executor ex, const TimeSource& t, Sleeper& s,
        RedisLockOptions o)
      : redis(std::move(r)), executor(std::move(ex)), time(t), sleeper(s), options(std::move(o)) {}

  std::shared_ptr<redis::RedisClient> redis;
  asio::any_io_executor executor;
  const TimeSource& time;
  Sleeper& sleeper;
  RedisLockOptions options;
  const LockScripts scripts;
  std::string channel() const { return options.prefix + "lock:released"; }
  std::vector<std::string> keys(const std::string& name) const {
    const auto base = options.prefix + "lock:{" + name + "}";
    return {base, base + ":readers", base + ":writers", base + ":fence"};
  }

  std::shared_ptr<CancelToken> stop = std::make_shared<CancelToken>();          // ends the subscription
  std::shared_ptr<CancelToken> stop_backoff = std::make_shared<CancelToken>();  // ends its reconnect wait
  std::mutex mutex;
  bool subscriber_started = false;                                   // guarded by mutex
  std::multimap<std::string, std::shared_ptr<CancelToken>> waiters;  // by name, guarded by mutex

  void add_waiter(const std::string& name, std::shared_ptr<CancelToken> wake) {
    std::lock_guard lock(mutex);
    waiters.emplace(name, std::move(wake));
  }
  void remove_waiter(const std::string& name, const std::shared_ptr<CancelToken>& wake) {
    std::lock_guard lock(mutex);
    auto [from, to] = waiters.equal_range(name);
    for (auto it = from; it != to; ++it) {
      if (it->second == wake) {
        waiters.erase(it);
        return;
      }
    }
  }
  /// Wakes the waiters for `name` (every waiter when empty).
  void wake(const std::string& name) {
    std::vector<std::shared_ptr<CancelToken>> woken;
    {
      std::lock_guard lock(mutex);
      auto [from, to] = name.empty() ? std::pair(waiters.begin(), waiters.end()) : waiters.equal_range(name);
      for (auto it = from; it != to; ++it) woken.push_back(it->second);
    }
    for (auto& w : woken) w->cancel();
  }
};

namespace {

/// Keeps one subscription to the release channel open until `stop`; wakes every waiter whenever
/// it (re)subscribes, since messages published meanwhile were lost.
Awaitable<void> run_subscriber(std::shared_ptr<RedisLockBackend::State> state) {
  auto backoff = 100ms;
  while (!state->stop->cancelled()) {
    std::vector<std::string> channels{state->channel()};
    // Named, not built inside the co_await (GCC 12 destroys such temporaries twice).
    redis::RedisClient::MessageHandler on_message = [weak = std::weak_ptr(state)](const std::string&,
                                                                                  const std::string& name) {
      if (auto s = weak.lock()) s->wake(name);
    };
    std::function<void()> on_subscribed = [weak = std::weak_ptr(state)] {
      if (auto s = weak.lock()) s->wake("");
    };
    auto ended = co_await state->redis->subscribe(std::move(channels), std::move(on_message), state->stop,
                                                  std::move(on_subscribed));
    if (state->stop->cancelled()) break;
    if (!ended && ended.error().code != ErrorCode::timeout) {
      logs::warn("locks", "event=lock_subscription_lost backend=redis error=\"{}\" retry_in_ms={}",
                 ended.error().message, backoff.count());
      const auto pause = std::chrono::duration_cast<std::chrono::nanoseconds>(backoff);
      (void)co_await state->sleeper.sleep_for(pause, state->stop_backoff.get());
      backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
    } else {
      backoff = 100ms;
    }
  }
}

/// Ends a failed acquisition: a waiting writer takes its claim back (readers it stopped go on).
Awaitable<Result<HeldLock>> give_up(RedisLockBackend::State& state, bool claimed, const AcquireRequest& request,
                                    Error error) {
  if (claimed) {
    std::vector<std::string> claim_keys{state.keys(request.name)[2]};
    std::vector<std::string> args{request.owner, state.channel(), request.name};
    (void)co_await state.redis->eval(state.scripts.release_member, std::move(claim_keys), std::move(args));
  }
  co_return error;
}

std::uint64_t as_token(const redis::Reply& r) {
  if (r.kind == redis::Reply::Kind::integer) return static_cast<std::uint64_t>(r.integer);
  return std::strtoull(r.text.c_str(), nullptr, 10);
}

}  // namespace

RedisLockBackend::RedisLockBackend(std::shared_ptr<redis::RedisClient> redis, asio::any_io_executor executor,
                                   const TimeSource& time, Sleeper& sleeper, RedisLockOptions options)
    : state_(std::make_shared<State>(std::move(redis), std::move(executor), time, sleeper, std::move(options))) {}

RedisLockBackend::~RedisLockBackend() {
  state_->stop->cancel();
  state_->stop_backoff->cancel();
}

Awaitable<Result<HeldLock>> RedisLockBackend::acquire(AcquireRequest request) {
  auto state = state_;
  if (auto valid = validate_lock_name(request.name); !valid) co_return valid.error();
  const bool exclusive = request.mode == LockMode::exclusive;
  const auto keys = state->keys(request.name);
  const auto lease = std::to_string(request.lease.count());
  const auto claim_ms = std::chrono::milliseconds(state->options.recheck * 3);
  bool waited = false;
  bool claimed = false;
  for (;;) {
    const bool try_only = request.wait_until <= state->time.steady_now();
    if (!try_only) {
      std::unique_lock lock(state->mutex);
      if (!state->subscriber_started) {
        state->subscriber_started = true;
        lock.unlock();
        asio::co_spawn(state->executor, run_subscriber(state), asio::detached);
      }
    }
    // Registered before the attempt: a release between the attempt and the sleep still wakes it.
    auto wake = std::make_shared<CancelToken>();
    state->add_waiter(request.name, wake);
    std::vector<std::string> args{request.owner, lease};
    if (exclusive) args.push_back(try_only ? "0" : std::to_string(claim_ms.count()));
    auto script_keys = keys;
    auto reply =
        co_await state->redis->eval(exclusive ? state->scripts.acquire_exclusive : state->scripts.acquire_shared,
                                    std::move(script_keys), std::move(args));
    if (!reply) {
      state->remove_waiter(request.name, wake);
      Error error = reply.error();
      co_return co_await give_up(*state, claimed, request, std::move(error));
    }
    if (reply->elements.size() != 2) {
      state->remove_waiter(request.name, wake);
      co_return make_error(ErrorCode::protocol, "redis: unexpected answer from the lock script");
    }
    if (reply->elements[0].integer == 1) {
      state->remove_waiter(request.name, wake);
      HeldLock held;
      held.name = request.name;
      held.mode = request.mode;
      held.owner = request.owner;
      held.fencing_token = as_token(reply->elements[1]);
      held.contended = waited;
      co_return held;
    }
    claimed = claimed || (exclusive && !try_only);
    const auto now = state->time.steady_now();
    if (try_only || now >= request.wait_until) {
      state->remove_waiter(request.name, wake);
      Error error = waited ? make_error(ErrorCode::timeout, "lock " + request.name + " is still held after the wait")
                           : make_error(ErrorCode::limit_exceeded, "lock " + request.name + " is held");
      co_return co_await give_up(*state, claimed, request, std::move(error));
    }
    waited = true;
    const auto holder_left = std::chrono::milliseconds(std::max<long long>(reply->elements[1].integer, 1));
    const auto until_deadline = std::chrono::duration_cast<std::chrono::milliseconds>(request.wait_until - now) + 1ms;
    const auto nap = std::min({holder_left, state->options.recheck, until_deadline});
    if (request.cancel && !request.cancel->set_hook([wake] { wake->cancel(); })) {
      state->remove_waiter(request.name, wake);
      Error error = make_error(ErrorCode::cancelled, "waiting for lock " + request.name + " was cancelled");
      co_return co_await give_up(*state, claimed, request, std::move(error));
    }
    const auto nap_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(nap);
    (void)co_await state->sleeper.sleep_for(nap_ns, wake.get());
    state->remove_waiter(request.name, wake);
    if (request.cancel) {
      request.cancel->clear_hook();
      if (request.cancel->cancelled()) {
        Error error = make_error(ErrorCode::cancelled, "waiting for lock " + request.name + " was cancelled");
        co_return co_await give_up(*state, claimed, request, std::move(error));
      }
    }
  }
}

Awaitable<Result<void>> RedisLockBackend::extend(const HeldLock& held, std::chrono::milliseconds lease) {
  auto state = state_;
  const auto keys = state->keys(held.name);
  const bool exclusive = held.mode == LockMode::exclusive;
  std::vector<std::string> script_keys{exclusive ? keys[0] : keys[1]};
  std::vector<std::string> args{held.owner, std::to_string(lease.count())};
  auto reply = co_await state->redis->eval(exclusive ? state->scripts.extend_exclusive : state->scripts.extend_shared,
                                           std::move(script_keys), std::move(args));
  if (!reply) co_return reply.error();
  if (reply->integer != 1) {
    co_return make_error(ErrorCode::not_found, "lock " + held.name + " is no longer held by this owner", "name");
  }
  co_return Result<void>{};
}

Awaitable<Result<void>> RedisLockBackend::release(const HeldLock& held) {
  auto state = state_;
  const auto keys = state->keys(held.name);
  const bool exclusive = held.mode == LockMode::exclusive;
  std::vector<std::string> script_keys{exclusive ? keys[0] : keys[1]};
  std::vector<std::string> args{held.owner, state->channel(), held.name};
  auto reply = co_await state->redis->eval(exclusive ? state->scripts.release_exclusive : state->scripts.release_member,
                                           std::move(script_keys), std::move(args));
  if (!reply) co_return reply.error();
  co_return Result<void>{};
}

}  // namespace svckit::coord
