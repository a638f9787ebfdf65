// follow_changes: hot reload for a ConfigManager — reload_if_changed() whenever a file source's
// file changes (inotify on its directory, so an editor's or Kubernetes' rename-into-place is
// seen), a RemoteConfig reports new content, or `interval` passed (the fallback poll). A failed
// reload keeps the last good version and is reported to `on_error` (once per distinct error, not
// every poll). Runs until `stop` fires. The composition root co_spawns it.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "svckit/config/config_manager.hpp"
#include "svckit/config/remote_config.hpp"
#include "svckit/core/cancel_token.hpp"
#include "svckit/core/sleeper.hpp"

namespace svckit::config {

struct FollowOptions {
  std::chrono::milliseconds interval{1000};  // the poll when nothing signals; default 1 s
  std::function<void(const Error&)> on_error;
  /// Default: true — watch the file sources' directories with inotify and reload within
  /// milliseconds of a change.
  bool inotify = true;
  /// Their new content reloads at once (each RemoteConfig's on_change is taken).
  std::vector<std::shared_ptr<RemoteConfig>> remotes;
};

/// `config`, `sleeper` and `stop` must outlive the coroutine; `stop`'s hook is taken while it runs.
boost::asio::awaitable<void> follow_changes(ConfigManager& config, Sleeper& sleeper, FollowOptions options,
                                            CancelToken& stop);
/// Polling only (no inotify, no remotes): for virtual-time tests and exotic file systems.
boost::asio::awaitable<void> follow_changes(ConfigManager& config, Sleeper& sleeper, std::chrono::milliseconds interval,
                                            std::function<void(const Error&)> on_error, CancelToken& stop);

}  // namespace svckit::config
