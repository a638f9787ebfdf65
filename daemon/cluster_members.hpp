// ClusterMembers: the svckitd nodes of a cluster (cluster mode), kept in etcd. Each node holds
// `P/members/<name>` under a lease of its own (TTL `cluster.member_ttl`), renewed every third of
// it; a node that dies drops out when its lease runs out, one that stops revokes it at once. Each
// node lists the members at the same pace, and owns() tells — by rendezvous hashing over the live
// names — whether a key (an instance's health checks) is this node's: every node computes the same
// owner, no key has two, and a leaving node's keys move to the others.
//
// Thread-safety: members(), owns() and the accessors from any thread; run() as one coroutine.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <atomic>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "svckit/core/cancel_token.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/etcd/etcd_client.hpp"

namespace svckit::daemon {

struct ClusterMember {
  std::string name;     // cluster.node_name (default: the API's address:port)
  std::string api;      // host:port of its API
  std::string gateway;  // host:port of its gateway, empty when off
  std::string started;  // RFC 3339
};

class ClusterMembers {
 public:
  /// `etcd` must outlive this object. `on_change` (may be empty) runs on run()'s coroutine after
  /// the live member list changed.
  ClusterMembers(etcd::EtcdClient& etcd, std::string prefix, ClusterMember self, std::chrono::milliseconds ttl,
                 std::function<void()> on_change);

  /// Joins, then renews the lease and reads the member list every ttl/3 until stop(); leaves
  /// (revokes the lease) at the end. Failures (etcd unreachable) are retried at the same pace;
  /// the last list read stays in force meanwhile.
  http::Awaitable<void> run();
  void stop();

  const ClusterMember& self() const { return self_; }
  /// The live members by name (this node alone before the first read).
  std::vector<ClusterMember> members() const;
  /// This node owns `key` among the live members.
  bool owns(std::string_view key) const;
  /// The owner of `key` among the live members.
  std::string owner(std::string_view key) const;

 private:
  http::Awaitable<Result<void>> join();
  http::Awaitable<Result<void>> renew();
  http::Awaitable<Result<bool>> read_members();  // true: the list changed

  etcd::EtcdClient& etcd_;
  const std::string prefix_;  // P/members/
  const ClusterMember self_;
  const std::chrono::milliseconds ttl_;
  std::function<void()> on_change_;
  AsioSleeper sleeper_;
  std::shared_ptr<CancelToken> cancel_ = std::make_shared<CancelToken>();
  std::atomic<bool> stopped_{false};
  std::string lease_ = "0";  // only touched by run()
  mutable std::mutex mutex_;
  std::vector<ClusterMember> members_;  // guarded by mutex_, sorted by name
  std::vector<std::string> names_;      // guarded by mutex_, the same, names only
};

}  // namespace svckit::daemon
