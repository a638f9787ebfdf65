// ConfigReplica: svckitd's config store kept in etcd (cluster mode), so every node serves the same
// document, history, versions and long polls. Each version is one key, written once:
//
//   P/config/v/<version, 20 digits>  {"version", "applied_at", "reason", "config"}
//
// A change is drafted against this node's copy and stored as the next version with a transaction
// that succeeds only if no node took that version first (etcd's create_revision == 0); a node that
// loses the race waits for the winner's version to arrive and drafts its change again on top of it.
// The same transaction deletes the version that falls out of the kept history. Each node's
// ConfigStore follows the keys with one etcd watch; a write is answered once this node's copy has
// the new version. When etcd is unreachable, reads and long polls go on from the copy and writes
// fail with `unavailable` (503).
//
// Thread-safety: write() from any coroutine; follow() runs as one coroutine.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <atomic>
#include <memory>
#include <string>

#include "daemon/config_api.hpp"
#include "daemon/config_store.hpp"
#include "svckit/core/cancel_token.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/etcd/etcd_client.hpp"
#include "svckit/etcd/prefix_follower.hpp"

namespace svckit::daemon {

class ConfigReplica {
 public:
  /// `etcd` and `store` must outlive the replica. `keep`: versions kept (the store's history).
  ConfigReplica(etcd::EtcdClient& etcd, const std::string& prefix, ConfigStore& store, const TimeSource& time,
                std::size_t keep);

  /// Loads the kept versions into the store (before the node serves). Errors: etcd unreachable.
  http::Awaitable<Result<void>> load();
  /// Follows the versions into the store until stop(), reconnecting after failures.
  http::Awaitable<void> follow();
  void stop();
  /// Opens the watch again (etcd stopped answering: the stream may wait forever on a dead link).
  void reopen();
  /// Reads everything again, then follows (etcd went back in time: restored from a backup).
  void reload() { follower_.reload(); }
  /// ConfigApi's writer: stores the drafted change as the next version.
  http::Awaitable<Result<std::uint64_t>> write(ConfigApi::Drafter drafter);

 private:
  std::string version_key(std::uint64_t version) const;
  Result<ConfigStore::Version> decode(const nlohmann::json& kv) const;
  /// Waits (a few seconds at most) until the store's version is at least `version`.
  http::Awaitable<bool> reach(std::uint64_t version);
  void apply_events(const nlohmann::json& events);

  etcd::EtcdClient& etcd_;
  const std::string prefix_;  // P/config/v/
  ConfigStore& store_;
  const TimeSource& time_;
  const std::size_t keep_;
  std::atomic<bool> stopped_{false};
  std::int64_t revision_ = 0;  // the etcd revision load() read at
  etcd::PrefixFollower follower_;
};

}  // namespace svckit::daemon
