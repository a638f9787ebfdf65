// follow_changes: hot reload for a ConfigManager — every `interval`, reload_if_changed(); a
// failed reload keeps the last good version and is reported to `on_error` (once per distinct
// error, not every poll). Runs until `stop` fires. The composition root co_spawns it.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <functional>

#include "svckit/config/config_manager.hpp"
#include "svckit/core/cancel_token.hpp"
#include "svckit/core/sleeper.hpp"

namespace svckit::config {

/// `config`, `sleeper` and `stop` must outlive the coroutine.
boost::asio::awaitable<void> follow_changes(ConfigManager& config, Sleeper& sleeper, std::chrono::milliseconds interval,
                                            std::function<void(const Error&)> on_error, CancelToken& stop);

}  // namespace svckit::config
