// AclReplica: svckitd's ACL tokens kept in etcd (cluster mode), so a token created or revoked on
// one node holds on every node. Layout under the cluster prefix P:
//
//   P/acl/t/<accessor>   {"accessor", "secret_sha256", "description", "rules", "created"}
//   P/acl/generation     the number of ACL writes so far (its existence: the store was bootstrapped)
//
// Only the SHA-256 digest of a secret is stored, as in the token file. Every write (create,
// revoke, bootstrap) is checked against this node's copy and sent in one transaction that also
// bumps P/acl/generation and holds only if the generation is still the one this copy has applied
// — so the checks (a secret used twice, revoking the last management token, bootstrapping twice)
// hold cluster-wide: a node whose copy was behind waits for the newer generation and checks again.
// Each node's AclTokenStore follows P/acl/ with one etcd watch; a write is answered once this node's
// copy has it, and a revocation ends the token's long polls on every node as its deletion arrives.
//
// Thread-safety: writes from any coroutine; follow() runs as one coroutine.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <atomic>
#include <memory>
#include <string>

#include "daemon/acl_tokens.hpp"
#include "svckit/core/cancel_token.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/core/wait_list.hpp"
#include "svckit/etcd/etcd_client.hpp"
#include "svckit/etcd/prefix_follower.hpp"

namespace svckit::daemon {

class AclReplica {
 public:
  /// `etcd` and `tokens` must outlive the replica.
  AclReplica(etcd::EtcdClient& etcd, const std::string& prefix, AclTokenStore& tokens);

  /// Loads the tokens into the store (before the node serves). Errors: etcd unreachable, a token
  /// in etcd that is not svckitd's (named by its key).
  http::Awaitable<Result<void>> load();
  /// Follows P/acl/ into the store until stop(), reconnecting after failures.
  http::Awaitable<void> follow();
  void stop();
  /// Opens the watch again (etcd stopped answering: the stream may wait forever on a dead link).
  void reopen();
  /// Reads everything again, then follows (etcd went back in time: restored from a backup).
  void reload() { follower_.reload(); }

  /// AclTokenStore::create / revoke / bootstrap, stored in etcd. Errors as the store's, plus
  /// `unavailable` (503) when etcd did not answer or the tokens kept changing on other nodes.
  http::Awaitable<Result<AclTokenStore::Created>> create(std::string description, AclRules rules, std::string secret);
  http::Awaitable<Result<void>> revoke(std::string accessor);
  /// Creates the management token for `secret` unless the cluster was ever bootstrapped.
  http::Awaitable<Result<bool>> bootstrap(std::string secret);

 private:
  /// Sends `ops` with the generation bump, guarded by the generation this copy has applied.
  /// True: stored and applied here; false: another node wrote first (this copy then caught up).
  http::Awaitable<Result<bool>> guarded_write(nlohmann::json ops, std::int64_t generation_revision);
  /// Applies one watch event (or a loaded key) to the store.
  void apply_event(const nlohmann::json& kv, bool deleted);
  void apply_events(const nlohmann::json& events);
  /// Waits (a few seconds at most) until this copy has applied `revision`.
  http::Awaitable<bool> reach(std::int64_t revision);
  void advanced(std::int64_t revision);

  etcd::EtcdClient& etcd_;
  const std::string prefix_;          // P/acl/
  const std::string generation_key_;  // P/acl/generation
  AclTokenStore& tokens_;
  AsioSleeper sleeper_;
  std::atomic<bool> stopped_{false};
  std::atomic<std::int64_t> revision_{0};    // the etcd revision this copy has applied
  std::atomic<std::int64_t> generation_{0};  // the mod revision of P/acl/generation applied here (0: none)
  std::atomic<std::int64_t> count_{0};       // P/acl/generation's value applied here
  WaitList progress_;                        // woken whenever revision_ moves
  etcd::PrefixFollower follower_;
};

}  // namespace svckit::daemon
