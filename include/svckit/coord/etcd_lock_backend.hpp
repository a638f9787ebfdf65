// EtcdLockBackend (etcd://): locks in an etcd cluster, by etcd's own recipe. Each acquisition
// grants a lease and creates prefix/<name>/<lease> with it; the key with the lowest create
// revision holds the lock (for shared: readers hold together up to the first writer). A waiter
// watches only its predecessor's key (no thundering herd) and keeps its lease alive while it
// waits. The fencing token is the key's create revision: raft-ordered, increasing per name.
// A paused holder's lease lapses in etcd (its key goes, its successor takes over).
#pragma once

#include <memory>

#include "svckit/coord/lock_backend.hpp"

namespace svckit::etcd {
class EtcdClient;  // svckit/etcd/etcd_client.hpp
}

namespace svckit::coord {

struct EtcdLockOptions {
  std::string prefix = "/svckit/locks";  // keys: prefix/<name>/<lease id in hex>
};

/// Thread-safe (the EtcdClient is).
class EtcdLockBackend final : public LockBackend {
 public:
  EtcdLockBackend(std::shared_ptr<etcd::EtcdClient> etcd, const TimeSource& time, EtcdLockOptions options = {});

  std::string kind() const override { return "etcd"; }
  Awaitable<Result<HeldLock>> acquire(AcquireRequest request) override;
  Awaitable<Result<void>> extend(const HeldLock& held, std::chrono::milliseconds lease) override;
  Awaitable<Result<void>> release(const HeldLock& held) override;

 private:
  std::shared_ptr<etcd::EtcdClient> etcd_;
  const TimeSource& time_;
  EtcdLockOptions options_;
};

}  // namespace svckit::coord
