// MemoryLockBackend (memory://): locks within one process — for tests, single-process services
// and the embedded default. Same semantics as the distributed backends: leases that lapse,
// fencing tokens, shared/exclusive with waiting writers first.
#pragma once

#include <map>
#include <mutex>
#include <set>

#include "svckit/coord/lock_backend.hpp"
#include "svckit/core/sleeper.hpp"

namespace svckit::coord {

/// Thread-safe. Waits sleep on `sleeper` and are woken by releases (VirtualTime in tests makes
/// every wait deterministic); `time` and `sleeper` must outlive it. A name's entry is kept after
/// its last holder goes (its fencing counter must never restart): memory grows with the number
/// of distinct names, ~100 bytes each.
class MemoryLockBackend final : public LockBackend {
 public:
  MemoryLockBackend(const TimeSource& time, Sleeper& sleeper) : time_(time), sleeper_(sleeper) {}

  std::string kind() const override { return "memory"; }
  Awaitable<Result<HeldLock>> acquire(AcquireRequest request) override;
  Awaitable<Result<void>> extend(const HeldLock& held, std::chrono::milliseconds lease) override;
  Awaitable<Result<void>> release(const HeldLock& held) override;

  /// Holders of `name` whose lease has not run out (for tests).
  std::size_t holders(const std::string& name) const;

 private:
  struct Holder {
    LockMode mode;
    SteadyTime expires;
  };
  struct Entry {
    std::map<std::string, Holder> holders;  // by owner
    std::set<std::string> waiting_writers;  // exclusive acquisitions waiting: new readers wait too
    std::uint64_t fence = 0;
    std::vector<std::shared_ptr<CancelToken>> waiters;  // woken on every release
  };
  /// With mutex_ held: drops expired holders (waking the waiters when some went).
  void expire(Entry& entry, SteadyTime now);
  bool grantable(const Entry& entry, LockMode mode) const;
  void wake_all(Entry& entry);

  const TimeSource& time_;
  Sleeper& sleeper_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> entries_;  // guarded by mutex_
};

}  // namespace svckit::coord
