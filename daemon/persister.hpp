// Persister: svckitd's persistent state — registrations without a TTL and the config store — is
// on disk before a write that changed it is acknowledged. Concurrent writers share one write
// (group commit). Registrations go to an append-only log (<snapshot>.log: one JSON line per
// changed or removed record, fsynced), so a commit costs what changed, not the whole registry;
// once the log outgrows the snapshot (or 1 MiB) the snapshot file is rewritten and the log
// emptied. Whole files are replaced durably (temporary file, fsync, rename, fsync of the folder),
// and a torn last log line (kill -9 mid-append) is ignored at start, so kill -9 or a power cut at
// any point loses no acknowledged write. The config store is small and written whole
// (<snapshot>.config.json).
//
// When a write fails (a full or read-only disk, a vanished folder) the writer that needed it gets
// unavailable (HTTP 503: not acknowledged), /healthz and svckit_persist_healthy report it, and
// every later write or the periodic loop tries again.
#pragma once

#include <atomic>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>

#include "daemon/config_store.hpp"
#include "daemon/snapshot.hpp"
#include "svckit/core/group_commit.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/http/types.hpp"
#include "svckit/registry/memory_registry.hpp"

namespace svckit::daemon {

/// Writes `text` to `file` durably: a temporary file beside it, fsync, rename, fsync of the folder.
Result<void> write_file_durably(const std::filesystem::path& file, const std::string& text);

/// The snapshot file with its log applied (the state to restore at start). A missing file is an
/// empty snapshot; a damaged snapshot is an error; a torn last log line is skipped.
Result<Snapshot> load_persistent_state(const std::filesystem::path& snapshot_file);

/// Thread-safe. The registry, the config store and the metrics must outlive it.
class Persister {
 public:
  Persister(MemoryRegistry& registry, ConfigStore& config, std::filesystem::path snapshot_file,
            MetricsRegistry& metrics);

  /// Returns once every change made before the call is on disk; concurrent callers share one
  /// write. At once when nothing changed. unavailable (naming the file) when the write failed.
  http::Awaitable<Result<void>> sync();
  /// Changes whenever persistent state changes (for "did this request change it?").
  std::uint64_t change_mark() const { return registry_.persistent_version() + config_.current().version; }
  /// Writes whatever changed now (the periodic loop and shutdown).
  Result<void> write_changed();
  /// The last write's error while storage is failing; nullopt when it is healthy.
  std::optional<Error> failure() const;
  std::filesystem::path config_file() const { return config_file_; }

 private:
  bool dirty() const;
  /// Appends what changed since the last write to the log (or compacts). REQUIRES: mutex_ held.
  Result<void> write_registry_locked();

  MemoryRegistry& registry_;
  ConfigStore& config_;
  const std::filesystem::path snapshot_file_;
  const std::filesystem::path config_file_;
  mutable std::mutex mutex_;  // serialises writes
  // Read without the lock by dirty(): a writer never waits for the lock held during an fsync.
  std::atomic<std::uint64_t> registry_written_{~std::uint64_t{0}};
  std::atomic<std::uint64_t> config_written_{~std::uint64_t{0}};
  std::size_t log_bytes_ = 0;       // guarded by mutex_
  std::size_t snapshot_bytes_ = 0;  // guarded by mutex_
  bool compacted_ = false;          // guarded by mutex_: the first write compacts
  std::optional<Error> failure_;    // guarded by failure_mutex_
  mutable std::mutex failure_mutex_;
  Family<Counter>& writes_;
  Gauge& healthy_;
  Histogram& write_seconds_;
  GroupCommit<int, Result<void>> commits_;
};

}  // namespace svckit::daemon
