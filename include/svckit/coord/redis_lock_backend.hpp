// RedisLockBackend (redis://): locks in one Redis server. Exclusive: SET key owner NX PX lease;
// release and extend are Lua compare-and-delete / compare-and-expire on the owner token. Shared:
// a sorted set of reader owners scored by their lease's end (Redis's clock). Waiting writers
// register a claim that stops new readers. Fencing tokens: INCR of a counter per name, in the
// same script as the acquisition. Waiters are woken by a PUBLISH on release.
//
// Keys (one hash tag per name, so a name's keys share a cluster slot):
//   {prefix}lock:{name}           owner of the exclusive lock (string, PX lease)
//   {prefix}lock:{name}:readers   shared owners (zset, score = lease end in ms)
//   {prefix}lock:{name}:writers   waiting exclusive owners (zset, score = claim end in ms)
//   {prefix}lock:{name}:fence     fencing counter (never expires: tokens never go back)
//   channel {prefix}lock:released message = name
//
// A single Redis is a single point of truth: a failover to a replica that missed the last writes
// can hand a lock out twice. Fencing tokens are what keeps the protected resource safe.
#pragma once

#include <memory>

#include "svckit/coord/lock_backend.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/redis/redis_client.hpp"

namespace svckit::coord {

struct RedisLockOptions {
  std::string prefix = "svckit:";
  /// A waiter re-checks at least this often: an exclusive waiter renews its claim (which lapses
  /// after 3× this if the waiter died), and a release message lost while the subscription
  /// reconnects costs at most this. Default: 3 s.
  std::chrono::milliseconds recheck{3000};
};

/// Thread-safe. One subscriber connection per backend, opened on the first wait and kept until
/// destruction; `time` and `sleeper` must outlive it.
class RedisLockBackend final : public LockBackend {
 public:
  RedisLockBackend(std::shared_ptr<redis::RedisClient> redis, boost::asio::any_io_executor executor,
                   const TimeSource& time, Sleeper& sleeper, RedisLockOptions options = {});
  ~RedisLockBackend() override;

  std::string kind() const override { return "redis"; }
  Awaitable<Result<HeldLock>> acquire(AcquireRequest request) override;
  Awaitable<Result<void>> extend(const HeldLock& held, std::chrono::milliseconds lease) override;
  Awaitable<Result<void>> release(const HeldLock& held) override;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace svckit::coord
