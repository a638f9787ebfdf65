// BucketLeases: one etcd lease per TTL (in whole seconds) held by this process and kept alive by
// it, under which the alive keys of every instance whose liveness this process tracks are put
// ("leases shared per TTL bucket and node"). Registering or tracking an instance then costs no
// lease grant (a raft write) of its own, and heartbeats cost etcd nothing: the process times the
// heartbeats itself and deletes an alive key when its instance's TTL ran out.
//
// If the process dies, nobody keeps its leases alive and etcd deletes their keys — the instances
// it tracked expire once, in etcd, no earlier than their own TTL after their last heartbeat here:
// a bucket's lease lives its bucket's TTL plus the keep-alive period (a third of the TTL, at least
// a second), and is kept alive once per period.
//
// Thread-safety: every member may be called from any thread.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <chrono>
#include <map>
#include <mutex>
#include <string>

#include "svckit/etcd/etcd_client.hpp"

namespace svckit::etcd {

class BucketLeases {
 public:
  explicit BucketLeases(EtcdClient& etcd) : etcd_(etcd) {}

  /// The bucket of a TTL: whole seconds, rounded up, at least 1.
  static std::int64_t bucket_of(std::chrono::milliseconds ttl);
  /// The TTL etcd gives a bucket's lease: the bucket plus one keep-alive period.
  static std::int64_t lease_ttl(std::int64_t bucket);
  /// How often a bucket's lease is kept alive.
  static std::chrono::milliseconds keep_alive_period(std::int64_t bucket);

  /// This process's lease for instances of `ttl`, granted on first use (a grant: one raft write).
  /// Errors: etcd's.
  Awaitable<Result<std::string>> lease_for(std::chrono::milliseconds ttl);
  /// Keeps alive every lease whose period has come (call it often: every few hundred ms). A lease
  /// etcd no longer has (this process was cut off longer than its TTL) is forgotten: its keys are
  /// gone, and the next lease_for() grants a new one. Returns how many leases were lost.
  Awaitable<std::size_t> keep_alive_due();
  /// Stops keeping every lease alive: their keys live on until each lease's TTL ran out. For when
  /// this process lost track of which keys it holds (its copy of the store was reloaded).
  void forget_all();
  std::size_t count() const;

 private:
  struct Held {
    std::string id;
    std::chrono::steady_clock::time_point renewed;
  };
  EtcdClient& etcd_;
  mutable std::mutex mutex_;
  std::map<std::int64_t, Held> leases_;  // by bucket; guarded by mutex_
};

}  // namespace svckit::etcd
