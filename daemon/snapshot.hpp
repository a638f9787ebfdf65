// Snapshot file of persistent (ttl = 0) registrations, so they survive a svckitd restart.
#pragma once

#include <filesystem>
#include <vector>

#include "svckit/core/result.hpp"
#include "svckit/core/service_instance.hpp"

namespace svckit::daemon {

struct Snapshot {
  std::uint64_t index = 0;
  std::vector<ServiceInstance> instances;
};

/// Writes the snapshot file from records already in JSON (MemoryRegistry::persistent_json, no
/// DOM), durably: a temporary file in the same folder, fsync, rename, fsync of the folder.
Result<void> save_snapshot_json(const std::filesystem::path& file, std::uint64_t index, const std::string& records);
/// A missing file is an empty snapshot; a damaged one is an error naming the file and field.
Result<Snapshot> load_snapshot(const std::filesystem::path& file);

}  // namespace svckit::daemon
