// ConfigStore: svckitd's embedded configuration document — dotted keys, versions, a bounded
// history, rollback as a new version, and long-poll waits for the next version. The HTTP side is
// config_api.hpp; RemoteConfig reads it as svckitd://host:port.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/core/cancel_token.hpp"
#include "svckit/core/result.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/core/wait_list.hpp"

namespace svckit::daemon {

/// Thread-safe.
class ConfigStore {
 public:
  struct Version {
    std::uint64_t version = 0;
    SystemTime applied_at{};
    std::string reason;  // "put database.pool", "delete features", "replace", "rollback to 3", "load"
    std::shared_ptr<const nlohmann::json> tree;
  };

  explicit ConfigStore(const TimeSource& time, std::size_t history = 64);

  /// The current version (0: nothing stored yet, an empty document).
  Version current() const;
  /// Sets the value at a dotted key ("database.pool"), creating parents. Errors (nothing changes):
  /// invalid_argument naming "key" (a bad key, or one under a key that holds a value).
  Result<std::uint64_t> put(const std::string& key, nlohmann::json value);
  /// Replaces the whole document (a JSON object; field "body" otherwise).
  Result<std::uint64_t> replace(nlohmann::json document);
  /// Errors: not_found when the key is not set.
  Result<std::uint64_t> remove(const std::string& key);
  /// Applies `version`'s document again as a new version. not_found when it is no longer kept.
  Result<std::uint64_t> rollback(std::uint64_t version);

  /// A change computed against the current version and not applied yet: the document it makes and
  /// why. The draft_* twins of put/replace/remove/rollback check the same things; commit() applies
  /// one as the next version. (Cluster mode stores drafts in etcd instead: config_replica.hpp.)
  struct Draft {
    nlohmann::json tree;
    std::string reason;
  };
  Result<Draft> draft_put(const std::string& key, nlohmann::json value) const;
  Result<Draft> draft_replace(nlohmann::json document) const;
  Result<Draft> draft_remove(const std::string& key) const;
  Result<Draft> draft_rollback(std::uint64_t version) const;
  Result<std::uint64_t> commit(Draft draft);

  /// Replication (cluster mode): a version made on another node, kept as it is when it is newer
  /// than the current one; wakes the waits and calls on_change like a local commit.
  void apply_replicated(Version version);
  /// Replication: the history as the shared store holds it (any order), replacing this one.
  void load_replicated(std::vector<Version> versions);
  /// Oldest first; at most `history` versions.
  std::vector<Version> history() const;

  /// Returns when the version is no longer `after` (above it; or below it, at once: the store was
  /// reloaded from an older state), at `until`, or when `cancel` (optional) is cancelled: the
  /// version then.
  boost::asio::awaitable<std::uint64_t> wait_newer(std::uint64_t after, std::chrono::steady_clock::time_point until,
                                                   std::shared_ptr<CancelToken> cancel = nullptr);

  /// Shutdown: ends every wait now and makes later ones return at once (long polls answer 304).
  void release_waiters();
  bool waiters_released() const { return waiters_.closed(); }

  /// Called after every new version (outside the lock) — persistence.
  void on_change(std::function<void(const Version&)> callback);
  /// The document and version as saved / restored by svckitd (restoring is not a change).
  nlohmann::json save() const;
  Result<void> restore(const nlohmann::json& saved);

  static Result<std::vector<std::string>> parse_key(const std::string& key);

 private:
  const TimeSource& time_;
  const std::size_t keep_;
  mutable std::mutex mutex_;
  std::vector<Version> history_;                 // guarded by mutex_; back() is current
  WaitList waiters_;                             // long polls; closed by release_waiters()
  AsioSleeper sleeper_;                          // their deadlines are steady_clock time points
  std::function<void(const Version&)> changed_;  // guarded by mutex_
};

}  // namespace svckit::daemon
