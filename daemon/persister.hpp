// Persister: svckitd's persistent state — registrations without a TTL (the snapshot file) and the
// config store (<snapshot>.config.json) — is on disk before a write that changed it is
// acknowledged. Concurrent writers share one write (group commit): each write of the files is a
// temporary file, fsync, rename and an fsync of the folder, so kill -9 or a power cut at any
// point leaves either the old or the new file, never a torn one.
//
// When a write fails (a full or read-only disk, a vanished folder) the writer that needed it gets
// unavailable (HTTP 503: not acknowledged), /healthz and svckit_persist_healthy report it, and
// every later write or the periodic loop tries again.
#pragma once

#include <filesystem>
#include <mutex>
#include <optional>

#include "daemon/config_store.hpp"
#include "svckit/core/group_commit.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/registry/memory_registry.hpp"

namespace svckit::daemon {

/// Writes `text` to `file` durably: a temporary file beside it, fsync, rename, fsync of the folder.
Result<void> write_file_durably(const std::filesystem::path& file, const std::string& text);

/// Thread-safe. The registry, the config store and the metrics must outlive it.
class Persister {
 public:
  Persister(MemoryRegistry& registry, ConfigStore& config, std::filesystem::path snapshot_file,
            MetricsRegistry& metrics);

  /// Returns once every change made before the call is on disk; concurrent callers share one
  /// write. At once when nothing changed. unavailable (naming the file) when the write failed.
  http::Awaitable<Result<void>> sync();
  /// Writes whatever changed now (the periodic loop and shutdown).
  Result<void> write_changed();
  /// The last write's error while storage is failing; nullopt when it is healthy.
  std::optional<Error> failure() const;
  std::filesystem::path config_file() const { return config_file_; }

 private:
  bool dirty() const;

  MemoryRegistry& registry_;
  ConfigStore& config_;
  const std::filesystem::path snapshot_file_;
  const std::filesystem::path config_file_;
  mutable std::mutex mutex_;                               // serialises writes
  std::uint64_t registry_written_ = ~std::uint64_t{0};      // guarded by mutex_
  std::uint64_t config_written_ = ~std::uint64_t{0};        // guarded by mutex_
  std::optional<Error> failure_;                           // guarded by mutex_
  Family<Counter>& writes_;
  Gauge& healthy_;
  Histogram& write_seconds_;
  GroupCommit<int, Result<void>> commits_;
};

}  // namespace svckit::daemon
