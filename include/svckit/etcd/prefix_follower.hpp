// PrefixFollower: every change under an etcd key prefix, on one long-lived watch stream — the loop
// svckitd's cluster mode runs for each thing it keeps in etcd (config versions, ACL tokens).
//
// The stream starts after a given revision; each watch message's events are handed over in order
// (etcd sends one transaction's events together, so a copy is whole after each message). When the
// stream fails it is opened again from the last revision seen, after a pause that doubles from
// 100 ms to 2 s; when etcd has compacted the history past that revision, `reload` reads the whole
// prefix again and the stream goes on from the revision it returns. reopen() closes the current
// stream at once (a caller that noticed etcd stopped answering — a silent partition leaves a
// stream waiting forever) and it is opened again; reload() reads the whole prefix first (etcd was
// restored from a backup: the revisions after the backup's are gone).
//
// Thread-safety: run() as one coroutine; stop(), reopen() and revision() from any thread.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "svckit/core/cancel_token.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/etcd/etcd_client.hpp"

namespace svckit::etcd {

class PrefixFollower {
 public:
  /// One watch message's events (etcd's JSON: {"type", "kv": {"key", "value", "mod_revision"}}).
  using Apply = std::function<void(const nlohmann::json& events)>;
  /// Reads the whole prefix again (after a compaction); returns the revision it read at.
  using Reload = std::function<Awaitable<Result<std::int64_t>>()>;

  /// `etcd` must outlive the follower.
  PrefixFollower(EtcdClient& etcd, std::string prefix, Apply apply, Reload reload);

  /// Follows the changes after `revision` until stop().
  Awaitable<void> run(std::int64_t revision);
  void stop();
  /// Closes the current stream; run() opens it again from the last revision seen.
  void reopen();
  /// Closes the current stream; run() reads the whole prefix again (`reload`) and goes on from
  /// there (etcd went back in time: restored from a backup).
  void reload();
  /// The last revision whose changes were handed over.
  std::int64_t revision() const { return revision_.load(); }

 private:
  EtcdClient& etcd_;
  const std::string prefix_;
  Apply apply_;
  Reload reload_;
  AsioSleeper sleeper_;
  std::atomic<bool> stopped_{false};
  std::atomic<std::int64_t> revision_{0};
  std::atomic<bool> reload_wanted_{false};
  std::shared_ptr<CancelToken> cancel_ = std::make_shared<CancelToken>();  // stop(): pauses and stream
  std::mutex stream_mutex_;
  std::shared_ptr<CancelToken> stream_cancel_;  // guarded by stream_mutex_: the open stream's
};

}  // namespace svckit::etcd
