// LockManager: distributed locks over a LockBackend (memory://, redis://, etcd://) — exclusive,
// shared (read/write) and reentrant locks with a wait timeout, a lease renewed by a watchdog while
// the holder lives, a fencing token per acquisition, loss notification and metrics.
//
//   LockOptions wait;  // named: GCC 12 mishandles braced temporaries inside co_await
//   wait.wait = 5s;
//   auto lock = co_await locks.acquire(name, wait);
//   if (!lock) co_return lock.error();                  // timeout: someone else holds it
//   co_await store.write(data, lock->fencing_token());  // the store refuses older tokens
//   co_await lock->release();                           // or let the Lock go out of scope
//
// Locks are advisory and leases can lapse (a paused process, a partition): a holder can lose a
// lock without knowing it in time. Anything the lock protects must check the fencing token.
//
// Thread-safety: every member may be called from any thread; a Lock handle is used by one
// coroutine at a time. The TimeSource and Sleeper must outlive the manager and every Lock.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/any_io_executor.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "svckit/coord/lock_backend.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/core/random.hpp"
#include "svckit/core/sleeper.hpp"

namespace svckit::coord {

namespace detail {
struct Holding;
struct LockManagerState;
}  // namespace detail

struct LockOptions {
  LockMode mode = LockMode::exclusive;
  /// How long to wait for a held lock. Default: 0 = try once (error limit_exceeded when held).
  std::chrono::milliseconds wait{0};
  /// How long the backend keeps the lock if this process stops renewing it. Default: 30 s.
  std::chrono::milliseconds lease{30000};
  /// Default: true — the lease is renewed every lease/3 while held (Redisson's watchdog), so a
  /// long holder keeps it and a dead one loses it within one lease. false: it lapses `lease` after
  /// acquisition.
  bool watchdog = true;
  /// Non-empty: reentrant for this owner within this manager — acquiring a name the owner holds
  /// returns at once with the same fencing token and a higher hold count; the backend lock is
  /// released with the last hold. An owner holding it shared cannot take it exclusive
  /// (invalid_argument, field "mode": an upgrade could deadlock).
  std::string reentrant_owner;
  /// Optional: ends the wait with `cancelled`. Its hook is taken while waiting.
  std::shared_ptr<CancelToken> cancel;
  /// Optional: called (once, on a manager thread) when the lock is lost while held.
  std::function<void(const std::string& name)> on_lost;
};

/// One hold of a lock. Move-only; destroying a held Lock releases it in the background.
class Lock {
 public:
  Lock() = default;
  ~Lock();
  Lock(Lock&& other) noexcept;
  Lock& operator=(Lock&& other) noexcept;
  Lock(const Lock&) = delete;
  Lock& operator=(const Lock&) = delete;

  const std::string& name() const;
  LockMode mode() const;
  /// Higher than every token handed out for this name before (any process, any mode).
  std::uint64_t fencing_token() const;
  /// True until released or lost.
  bool held() const;
  /// Holds of a reentrant lock by its owner (1 otherwise).
  std::uint32_t hold_count() const;
  /// Cancelled when the lock is lost while held: the backend refused a renewal, or renewals failed
  /// until the lease was about to lapse (it fires lease/10 before), or a lease without watchdog
  /// ran out. Not cancelled by release().
  std::shared_ptr<CancelToken> lost() const;
  /// Gives up this hold (the backend lock goes with the last hold). Errors: not_found when the
  /// lock had been lost before (whatever it protected may have been changed by another holder);
  /// unavailable when the backend could not be told (the lease then lapses on its own).
  Awaitable<Result<void>> release();

 private:
  friend class LockManager;
  explicit Lock(std::shared_ptr<detail::Holding> holding);
  std::shared_ptr<detail::Holding> holding_;
};

struct LockStats {
  std::uint64_t acquired = 0;         // successful acquisitions (reentrant ones included)
  std::uint64_t contended = 0;        // acquisitions that found the lock held (waited or failed)
  std::uint64_t lost = 0;             // held locks lost (expired, renewal refused or failing)
  std::uint64_t renewals = 0;         // successful watchdog renewals
  std::uint64_t renewals_failed = 0;  // failed ones (the lock is kept while the lease lasts)
};

class LockManager {
 public:
  /// `random` makes this manager's owner ids (used here only). `metrics` (optional):
  /// svckit_lock_* series labelled by backend.
  LockManager(std::shared_ptr<LockBackend> backend, boost::asio::any_io_executor executor, const TimeSource& time,
              Sleeper& sleeper, Random& random, MetricsRegistry* metrics = nullptr);
  /// Lock handles may outlive the manager: they keep the backend, and their watchdogs run until
  /// they are released.
  ~LockManager();
  LockManager(const LockManager&) = delete;
  LockManager& operator=(const LockManager&) = delete;

  /// Takes `name` as `options` say. Errors: limit_exceeded (held, wait 0), timeout (still held
  /// when the wait ran out), cancelled, unavailable, invalid_argument (name, mode).
  Awaitable<Result<Lock>> acquire(std::string name, LockOptions options);
  /// With the default options (try once, exclusive, 30 s lease with the watchdog). Not a
  /// coroutine: GCC 12 destroys a defaulted coroutine argument twice.
  Awaitable<Result<Lock>> acquire(std::string name) { return acquire(std::move(name), LockOptions{}); }
  /// Takes every name, in sorted order (so two callers asking for overlapping sets cannot
  /// deadlock), duplicates once. All or nothing: on an error the ones taken are released.
  Awaitable<Result<std::vector<Lock>>> acquire_all(std::vector<std::string> names, LockOptions options);

  /// Runs `body(lock)` (a coroutine returning Awaitable<Result<void>>) while holding `name`, then
  /// releases it: Python's `async with acquire_lock(name):`. Returns the acquire error, the
  /// body's error, or not_found when the lock was lost before the body ended.
  template <class Body>
  Awaitable<Result<void>> with_lock(std::string name, LockOptions options, Body body) {
    auto lock = co_await acquire(std::move(name), std::move(options));
    if (!lock) co_return lock.error();
    Result<void> done = co_await body(*lock);
    auto released = co_await lock->release();
    if (!done) co_return done;
    co_return released;
  }

  LockStats stats() const;
  const LockBackend& backend() const;

 private:
  std::shared_ptr<detail::LockManagerState> state_;
};

}  // namespace svckit::coord
