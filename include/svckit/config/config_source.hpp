// ConfigSource: one layer of a configuration (a file, the environment, a remote store). The
// ConfigManager merges its sources in order, later ones overriding earlier ones key by key.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/core/environment.hpp"
#include "svckit/core/result.hpp"

namespace svckit::config {

/// Implementations state their thread-safety; the ConfigManager calls a source from one thread at
/// a time.
class ConfigSource {
 public:
  virtual ~ConfigSource() = default;
  /// For messages and history: "file:/etc/app.yaml", "env:APP_".
  virtual std::string name() const = 0;
  /// Reads the source now: a JSON object (nested objects, arrays, scalars). Errors name the source
  /// and, where known, the line.
  virtual Result<nlohmann::json> load() = 0;
  /// Changes whenever the content may have changed (file: a hash of its content). Empty: unknown, so
  /// every reload_if_changed() reads it again.
  virtual std::string stamp() const { return {}; }
  /// Files this source reads (follow_changes watches them with inotify); none by default.
  virtual std::vector<std::filesystem::path> files() const { return {}; }
};

/// A YAML (.yaml, .yml) or JSON (.json) file. A missing file is an error unless `optional`
/// (then it contributes nothing).
std::unique_ptr<ConfigSource> file_source(std::filesystem::path path, bool optional = false);

/// Environment overrides: PREFIX + KEY with "__" between levels — APP_DATABASE__POOL_SIZE=20 sets
/// database.pool_size (lower-cased). Values are read as YAML scalars: 20 is a number, true a bool.
/// `getenv_all` lists the environment: svckit::process_environment, or a test's own.
std::unique_ptr<ConfigSource> env_source(std::string prefix,
                                         std::function<std::vector<std::pair<std::string, std::string>>()> getenv_all);
/// Fixed values (defaults, tests).
std::unique_ptr<ConfigSource> static_source(std::string name, nlohmann::json values);

}  // namespace svckit::config
