#include "svckit/config/follow_changes.hpp"

namespace svckit::config {

// NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
boost::asio::awaitable<void> follow_changes(ConfigManager& config, Sleeper& sleeper, std::chrono::milliseconds interval,
                                            std::function<void(const Error&)> on_error, CancelToken& stop) {
  std::string reported;
  while (!stop.cancelled()) {
    if (!co_await sleeper.sleep_for(interval, &stop)) co_return;
    auto reloaded = config.reload_if_changed();
    if (reloaded) {
      reported.clear();
      continue;
    }
    const auto text = reloaded.error().describe();
    if (text == reported) continue;
    reported = text;
    if (on_error) on_error(reloaded.error());
  }
}

}  // namespace svckit::config
