#include "svckit/config/follow_changes.hpp"
#include "svckit/core/log.hpp"

#include <spdlog/spdlog.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <mutex>
#include <set>

namespace svckit::config {

namespace asio = boost::asio;

namespace {

/// Wakes the follow loop from any thread; a signal that comes while it is busy is kept.
struct WakeSignal {
  std::mutex mutex;
  std::shared_ptr<CancelToken> current;  // guarded by mutex
  bool pending = false;                  // guarded by mutex

  void notify() {
    std::shared_ptr<CancelToken> token;
    {
      std::lock_guard lock(mutex);
      pending = true;
      token = current;
    }
    if (token) token->cancel();
  }
  /// A token for the next wait: already cancelled when a signal came since the last one.
  std::shared_ptr<CancelToken> arm() {
    auto token = std::make_shared<CancelToken>();
    std::lock_guard lock(mutex);
    if (pending) {
      pending = false;
      token->cancel();
    }
    current = token;
    return token;
  }
};

/// An inotify descriptor watching the directories of `files`; every event about one of their
/// names (or a Kubernetes-style "..data" swap) notifies `signal`. Lives on its own strand.
struct FileWatch {
  explicit FileWatch(const asio::any_io_executor& executor) : descriptor(asio::make_strand(executor)) {}
  asio::posix::stream_descriptor descriptor;
  std::map<int, std::set<std::string>> names;  // by watch descriptor
};

std::shared_ptr<FileWatch> watch_files(const asio::any_io_executor& executor,
                                       const std::vector<std::filesystem::path>& files) {
  if (files.empty()) return nullptr;
  const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return nullptr;
  auto watch = std::make_shared<FileWatch>(executor);
  watch->descriptor.assign(fd);
  std::map<std::string, int> by_directory;
  for (const auto& file : files) {
    auto directory = file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path();
    auto it = by_directory.find(directory.string());
    if (it == by_directory.end()) {
      // Not IN_MODIFY: it fires at the truncation and at every write of an in-place save, so a
      // reload could read a half-written file; IN_CLOSE_WRITE comes once the writer is done.
      const int wd = ::inotify_add_watch(fd, directory.c_str(),
                                         IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE);
      if (wd < 0) {
        logs::warn("config", "event=config_inotify_failed directory={} (polling only)", directory.string());
        continue;
      }
      it = by_directory.emplace(directory.string(), wd).first;
    }
    watch->names[it->second].insert(file.filename().string());
  }
  return watch;
}

Awaitable<void> read_events(std::shared_ptr<FileWatch> watch, std::shared_ptr<WakeSignal> signal) {
  alignas(inotify_event) char buffer[4096];
  for (;;) {
    boost::system::error_code ec;
    const auto n =
        co_await watch->descriptor.async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;  // closed: the follow loop ended
    for (std::size_t offset = 0; offset + sizeof(inotify_event) <= n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + offset);
      const std::string name = event->len > 0 ? std::string(event->name) : std::string();
      const auto& watched = watch->names[event->wd];
      if (watched.count(name) > 0 || name.rfind("..", 0) == 0) signal->notify();
      offset += sizeof(inotify_event) + event->len;
    }
  }
}

}  // namespace

// NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
asio::awaitable<void> follow_changes(ConfigManager& config, Sleeper& sleeper, FollowOptions options,
                                     CancelToken& stop) {
  auto signal = std::make_shared<WakeSignal>();
  if (!stop.set_hook([signal] { signal->notify(); })) co_return;
  for (auto& remote : options.remotes) remote->on_change([signal] { signal->notify(); });
  std::shared_ptr<FileWatch> watch;
  if (options.inotify) {
    watch = watch_files(co_await asio::this_coro::executor, config.files());
    if (watch) asio::co_spawn(watch->descriptor.get_executor(), read_events(watch, signal), asio::detached);
  }
  // A change made between the manager's load and this point had no watcher: look once now.
  signal->notify();
  std::string reported;
  while (!stop.cancelled()) {
    auto wake = signal->arm();
    const auto pause = std::chrono::duration_cast<std::chrono::nanoseconds>(options.interval);
    (void)co_await sleeper.sleep_for(pause, wake.get());
    if (stop.cancelled()) break;
    auto reloaded = config.reload_if_changed();
    if (reloaded) {
      reported.clear();
      continue;
    }
    const auto text = reloaded.error().describe();
    if (text == reported) continue;
    reported = text;
    if (options.on_error) options.on_error(reloaded.error());
  }
  stop.clear_hook();
  for (auto& remote : options.remotes) remote->on_change(nullptr);
  if (watch) {
    asio::post(watch->descriptor.get_executor(), [watch] {
      boost::system::error_code ignored;
      watch->descriptor.close(ignored);
    });
  }
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
asio::awaitable<void> follow_changes(ConfigManager& config, Sleeper& sleeper, std::chrono::milliseconds interval,
                                     std::function<void(const Error&)> on_error, CancelToken& stop) {
  FollowOptions options;
  options.interval = interval;
  options.on_error = std::move(on_error);
  options.inotify = false;
  co_await follow_changes(config, sleeper, std::move(options), stop);
}

}  // namespace svckit::config
