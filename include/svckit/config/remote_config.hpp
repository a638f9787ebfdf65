// RemoteConfig: a configuration layer kept in a remote store — an etcd prefix (watched), a Redis
// hash (pub/sub notification), an HTTP endpoint (polled with ETag), svckitd's config store (long
// poll) — with a local file cache of the last good content, so a service starts while the store
// is down.
//
//   auto backend = connect_config_backend("etcd://etcd:2379/shop/config", executor);  // Result<...>
//   auto remote = co_await RemoteConfig::open(std::move(*backend), options, sleeper);
//   sources.push_back((*remote)->source());                    // a ConfigSource layer like a file
//   co_spawn(executor, (*remote)->follow(stop), detached);     // keeps it current
//   FollowOptions follow;
//   follow.remotes = {*remote};                                // its changes reload at once
//   co_spawn(executor, follow_changes(*config, sleeper, follow, follow_stop), detached);
//
// Thread-safety: every member may be called from any thread; the ConfigSource view reads the
// content under a lock.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <nlohmann/json.hpp>

#include "svckit/config/config_source.hpp"
#include "svckit/core/cancel_token.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/net/plugin_table.hpp"

namespace svckit::config {

template <class T>
using Awaitable = boost::asio::awaitable<T>;

/// One read of the store: the tree and a version that changes whenever the content does.
struct RemoteContent {
  nlohmann::json tree = nlohmann::json::object();
  std::string version;
};

/// A store of configuration. Implementations are thread-safe.
class RemoteConfigBackend {
 public:
  virtual ~RemoteConfigBackend() = default;
  /// "etcd:/app/config", "redis:app:config", "http://cfg/app.json".
  virtual std::string name() const = 0;
  /// The whole content now. Errors: unavailable, timeout, invalid_argument (content that does not
  /// parse, naming the key).
  virtual Awaitable<Result<RemoteContent>> read() = 0;
  /// Returns true when the content may have changed after `version` was read, false when
  /// `timeout` passed first; `cancel` ends it (cancelled). etcd: a watch; Redis: a pub/sub message;
  /// HTTP: the poll interval passes.
  virtual Awaitable<Result<bool>> wait_change(const std::string& version, std::chrono::milliseconds timeout,
                                              std::shared_ptr<CancelToken> cancel) = 0;
};

struct RemoteConfigOptions {
  /// Empty: no cache. Written (atomically) with every new content; read at open() when the store
  /// cannot be reached.
  std::filesystem::path cache_file;
  /// Re-read at least this often even without a change signal (a lost notification costs at
  /// most this). Default: 30 s.
  std::chrono::milliseconds resync{30000};
  std::chrono::milliseconds retry{500};  // first reconnect delay, doubling up to max_retry
  std::chrono::milliseconds max_retry{10000};
};

class RemoteConfig : public std::enable_shared_from_this<RemoteConfig> {
 public:
  /// Reads the store once; when that fails, the cache file (the error then says so in
  /// last_error()); when both fail, an error naming both.
  static Awaitable<Result<std::shared_ptr<RemoteConfig>>> open(std::unique_ptr<RemoteConfigBackend> backend,
                                                               RemoteConfigOptions options, Sleeper& sleeper);

  /// A ConfigSource layer with the current content (for ConfigManager::create).
  std::unique_ptr<ConfigSource> source();
  /// Keeps the content current until `stop`: waits for changes, re-reads, reconnects with backoff.
  /// `stop`'s hook is taken while it runs. Co_spawn it once.
  Awaitable<void> follow(std::shared_ptr<CancelToken> stop);
  /// Called (on follow's thread) after each new content; used by follow_changes to reload at once.
  void on_change(std::function<void()> callback);

  nlohmann::json tree() const;
  std::string version() const;
  /// True while the content came from the cache file and the store was not reached since.
  bool from_cache() const;
  /// The last read/watch error ("" when the last one worked).
  std::string last_error() const;

  RemoteConfig(std::unique_ptr<RemoteConfigBackend> backend, RemoteConfigOptions options, Sleeper& sleeper);

 private:
  bool apply(RemoteContent content);  // true when it was new
  void fail(const Error& error);

  std::unique_ptr<RemoteConfigBackend> backend_;
  RemoteConfigOptions options_;
  Sleeper& sleeper_;
  mutable std::mutex mutex_;
  RemoteContent content_;          // guarded by mutex_
  bool from_cache_ = false;        // guarded by mutex_
  std::string last_error_;         // guarded by mutex_
  std::function<void()> changed_;  // guarded by mutex_
};

/// What a remote config backend may use.
struct RemoteConfigDeps {
  boost::asio::any_io_executor executor;  // runs the backend client's I/O
};

/// Remote config backends by URL scheme (net::PluginTable: unknown schemes and options refused).
using RemoteConfigPlugins = net::PluginTable<std::unique_ptr<RemoteConfigBackend>, RemoteConfigDeps>;

/// Adds svckitd://, etcd://, redis://, rediss://, http:// and https://.
void register_builtin_config_backends(RemoteConfigPlugins::Builder& builder);

/// A backend by URL (the built-in backends):
///   svckitd://host:8500[,host2:8500]    svckitd's config store (/v1/config), long-polled
///   etcd://h1:2379,h2:2379/app/config   keys under /app/config/: database/pool -> database.pool
///   redis://host:6379/0?key=app:config&channel=app:config:changed   a hash: field database.pool
///   http://host:port/path/app.json (https://…)?interval=5s   polled with If-None-Match
/// Values in etcd and Redis are JSON when they parse as JSON (20, true, {"a":1}), strings
/// otherwise. Errors name the option.
Result<std::unique_ptr<RemoteConfigBackend>> connect_config_backend(const std::string& url,
                                                                    const boost::asio::any_io_executor& executor);

/// Builds a nested tree from flat keys ("database.pool" or "database/pool") with values that are
/// JSON when they parse, strings otherwise. Errors: a key that is both a value and a parent.
Result<nlohmann::json> tree_from_flat(const std::vector<std::pair<std::string, std::string>>& entries,
                                      const std::string& source);

}  // namespace svckit::config
