#include "daemon/persister.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

#include "daemon/snapshot.hpp"

namespace svckit::daemon {

namespace {

Error io_failure(const std::string& what, const std::filesystem::path& path) {
  return make_error(ErrorCode::unavailable, what + " " + path.string() + ": " + std::strerror(errno), "snapshot_file");
}

}  // namespace

Result<void> write_file_durably(const std::filesystem::path& file, const std::string& text) {
  const auto tmp = std::filesystem::path(file.string() + ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return io_failure("cannot create", tmp);
  std::size_t written = 0;
  while (written < text.size()) {
    const auto n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      auto e = io_failure("cannot write", tmp);
      ::close(fd);
      return e;
    }
    written += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) {
    auto e = io_failure("cannot fsync", tmp);
    ::close(fd);
    return e;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), file.c_str()) != 0) return io_failure("cannot rename onto", file);
  // The rename is durable only once the folder is.
  const auto folder = file.has_parent_path() ? file.parent_path() : std::filesystem::path(".");
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return io_failure("cannot open", folder);
  const bool synced = ::fsync(dir) == 0;
  auto e = synced ? Error{} : io_failure("cannot fsync", folder);
  ::close(dir);
  if (!synced) return e;
  return {};
}

Persister::Persister(MemoryRegistry& registry, ConfigStore& config, std::filesystem::path snapshot_file,
                     MetricsRegistry& metrics)
    : registry_(registry),
      config_(config),
      snapshot_file_(std::move(snapshot_file)),
      config_file_(snapshot_file_.string() + ".config.json"),
      writes_(metrics.counter("svckit_persist_writes_total",
                              "Writes of the snapshot and config files (each fsynced), by result.", {"result"})),
      healthy_(metrics.gauge("svckit_persist_healthy", "1 while the last write of persistent state succeeded.").get()),
      write_seconds_(
          metrics.histogram("svckit_persist_write_seconds", "Time to write and fsync the persistent state.").get()),
      commits_(
          [this](std::vector<int> batch) -> http::Awaitable<std::vector<Result<void>>> {
            auto written = write_changed();
            co_return std::vector<Result<void>>(batch.size(), written);
          },
          4096) {
  healthy_.set(1);
}

bool Persister::dirty() const {
  std::lock_guard lock(mutex_);
  return registry_.persistent_version() != registry_written_ || config_.current().version != config_written_;
}

http::Awaitable<Result<void>> Persister::sync() {
  if (!dirty()) co_return Result<void>{};
  co_return co_await commits_.submit(0);
}

Result<void> Persister::write_changed() {
  std::lock_guard lock(mutex_);
  const auto started = std::chrono::steady_clock::now();
  Result<void> result;
  std::uint64_t version = 0;
  auto instances = registry_.persistent_instances(&version);
  if (version != registry_written_) {
    result = save_snapshot(snapshot_file_, Snapshot{registry_.index(), std::move(instances)});
    if (result) registry_written_ = version;
  }
  const auto config = config_.current();
  if (result && config.version != config_written_) {
    result = write_file_durably(config_file_, config_.save().dump() + "\n");
    if (result) config_written_ = config.version;
  }
  write_seconds_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  writes_.with({result ? "ok" : "error"}).inc();
  healthy_.set(result ? 1 : 0);
  if (!result) {
    if (!failure_) spdlog::error("event=persist_failed error=\"{}\"", result.error().describe());
    failure_ = result.error();
  } else if (failure_) {
    spdlog::info("event=persist_recovered");
    failure_.reset();
  }
  return result;
}

std::optional<Error> Persister::failure() const {
  std::lock_guard lock(mutex_);
  return failure_;
}

}  // namespace svckit::daemon
