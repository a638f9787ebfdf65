#include "daemon/persister.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>

#include <spdlog/spdlog.h>

#include "daemon/snapshot.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"

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
  return registry_.persistent_version() != registry_written_ || config_.current().version != config_written_;
}

http::Awaitable<Result<void>> Persister::sync() {
  if (!dirty()) co_return Result<void>{};
  co_return co_await commits_.submit(0);
}

Result<void> Persister::write_changed() {
  std::lock_guard lock(mutex_);
  // Nothing changed since the last successful write (a failed one leaves its change dirty): no I/O,
  // and nothing counted — the periodic loop calls this every snapshot_interval.
  if (!dirty()) return {};
  const auto started = std::chrono::steady_clock::now();
  Result<void> result;
  if (registry_.persistent_version() != registry_written_) result = write_registry_locked();
  const auto config = config_.current();
  if (result && config.version != config_written_) {
    result = write_file_durably(config_file_, config_.save().dump() + "\n");
    if (result) config_written_ = config.version;
  }
  write_seconds_.observe(std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  writes_.with({result ? "ok" : "error"}).inc();
  healthy_.set(result ? 1 : 0);
  std::lock_guard failure_lock(failure_mutex_);
  if (!result) {
    if (!failure_) logs::error("persistence", "event=persist_failed error=\"{}\"", result.error().describe());
    failure_ = result.error();
  } else if (failure_) {
    logs::info("persistence", "event=persist_recovered");
    failure_.reset();
  }
  return result;
}

Result<void> Persister::write_registry_locked() {
  const auto log_file = std::filesystem::path(snapshot_file_.string() + ".log");
  if (!compacted_ || log_bytes_ > std::max<std::size_t>(snapshot_bytes_, std::size_t{1} << 20)) {
    // Compaction: the whole state as the snapshot, then an empty log (in that order: a crash
    // between the two replays the old log over the new snapshot, which changes nothing). The
    // change set is taken first: what changes after it is in the snapshot and logged again.
    registry_.take_persistent_changes([](const std::string&, const std::string&, const std::string*) {}, nullptr);
    std::uint64_t version = 0;
    std::uint64_t index = 0;
    const auto records = registry_.persistent_json(&version, &index);
    if (auto r = save_snapshot_json(snapshot_file_, index, records); !r) return r;
    if (auto r = write_file_durably(log_file, ""); !r) return r;
    snapshot_bytes_ = records.size();
    log_bytes_ = 0;
    compacted_ = true;
    registry_written_ = version;
    return {};
  }
  std::string lines;
  std::uint64_t index = 0;
  const auto version = registry_.take_persistent_changes(
      [&](const std::string& service, const std::string& id, const std::string* json) {
        if (json != nullptr) {
          lines += R"({"put":)" + *json + "}\n";
        } else {
          lines += nlohmann::json{{"delete", {{"service", service}, {"id", id}}}}.dump() + "\n";
        }
      },
      &index);
  if (lines.empty()) {
    registry_written_ = version;
    return {};
  }
  lines += R"({"index":)" + std::to_string(index) + "}\n";
  const int fd = ::open(log_file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  bool ok = fd >= 0;
  std::size_t written = 0;
  while (ok && written < lines.size()) {
    const auto n = ::write(fd, lines.data() + written, lines.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  ok = ok && written == lines.size() && ::fdatasync(fd) == 0;
  auto e = ok ? Error{} : io_failure("cannot append to", log_file);
  if (fd >= 0) ::close(fd);
  if (!ok) {
    // The changes taken are not on disk: the next write compacts (the whole state, whatever
    // part of a line this one left; a torn line is skipped at start).
    compacted_ = false;
    return e;
  }
  log_bytes_ += lines.size();
  registry_written_ = version;
  return {};
}

Result<Snapshot> load_persistent_state(const std::filesystem::path& snapshot_file) {
  auto snapshot = load_snapshot(snapshot_file);
  if (!snapshot) return snapshot;
  const auto log_file = std::filesystem::path(snapshot_file.string() + ".log");
  std::ifstream in(log_file);
  if (!in) return snapshot;
  std::map<std::pair<std::string, std::string>, ServiceInstance> state;
  for (auto& instance : snapshot->instances)
    state.emplace(std::pair{instance.service, instance.id}, std::move(instance));
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    const auto entry = parse_json_or_discarded(line);
    if (in.eof() && (entry.is_discarded() || !entry.is_object())) break;  // torn by a crash mid-append
    const auto where = log_file.string() + " line " + std::to_string(number);
    if (!entry.is_object()) {
      return make_error(ErrorCode::invalid_argument, where + ": not a svckitd log entry", "snapshot_file");
    }
    if (entry.contains("index") && entry["index"].is_number_unsigned()) {
      snapshot->index = std::max(snapshot->index, entry["index"].get<std::uint64_t>());
    }
    if (entry.contains("put")) {
      auto instance = instance_from_json(entry["put"]);
      if (!instance)
        return make_error(ErrorCode::invalid_argument, where + ": " + instance.error().message, "snapshot_file");
      state[{instance->service, instance->id}] = std::move(*instance);
    } else if (entry.contains("delete") && entry["delete"].is_object()) {
      state.erase({entry["delete"].value("service", ""), entry["delete"].value("id", "")});
    }
  }
  snapshot->instances.clear();
  for (auto& [key, instance] : state) snapshot->instances.push_back(std::move(instance));
  return snapshot;
}

std::optional<Error> Persister::failure() const {
  std::lock_guard lock(failure_mutex_);
  return failure_;
}

}  // namespace svckit::daemon
