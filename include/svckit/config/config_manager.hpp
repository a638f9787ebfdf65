// ConfigManager: dynamic configuration from ordered sources (later override earlier), read
// through immutable snapshots, reloaded only when the whole result parses, expands and validates,
// with a bounded version history, rollback and change callbacks.
//
//   auto config = ConfigManager::create({file_source("app.yaml"), env_source("APP_", process_environment)},
//                                       ConfigOptions{}, time);
//   auto snap = (*config)->snapshot();            // one consistent version
//   int pool = snap->get<int>("database.pool_size", 10);
//
// Thread-safety: every member may be called from any thread. Snapshots are immutable and shared;
// callbacks run on the thread that applied the change, after it is visible, without locks held.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/config/config_source.hpp"
#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit::config {

/// One applied configuration. Immutable.
class ConfigSnapshot {
 public:
  ConfigSnapshot(std::uint64_t version, nlohmann::json tree) : version_(version), tree_(std::move(tree)) {}
  std::uint64_t version() const { return version_; }
  const nlohmann::json& tree() const { return tree_; }
  /// The value at a dotted key ("database.url"), or nullptr.
  const nlohmann::json* find(std::string_view dotted_key) const;
  /// The value converted to T, or `fallback` when missing or of another type.
  template <class T>
  T get(std::string_view dotted_key, T fallback) const {
    const auto* v = find(dotted_key);
    if (v == nullptr) return fallback;
    try {
      return v->get<T>();
    } catch (const nlohmann::json::exception&) {
      return fallback;
    }
  }
  /// As get(), but missing or mistyped is an error naming the key.
  template <class T>
  Result<T> require(std::string_view dotted_key) const {
    const auto* v = find(dotted_key);
    if (v == nullptr) {
      return make_error(ErrorCode::not_found, std::string(dotted_key) + " is not set", std::string(dotted_key));
    }
    try {
      return v->get<T>();
    } catch (const nlohmann::json::exception& e) {
      return make_error(ErrorCode::invalid_argument, std::string(dotted_key) + " has the wrong type: " + e.what(),
                        std::string(dotted_key));
    }
  }

 private:
  std::uint64_t version_;
  nlohmann::json tree_;
};

/// What one applied version changed, key by key (dotted keys of leaves; arrays are leaves).
struct ConfigChange {
  std::string key;
  std::optional<nlohmann::json> before;  // nullopt: added
  std::optional<nlohmann::json> after;   // nullopt: removed
};

struct ConfigVersion {
  std::uint64_t version = 0;
  SystemTime applied_at{};
  std::string reason;  // "load", "reload: file:/etc/app.yaml changed", "rollback to 3"
};

struct ConfigOptions {
  std::size_t history = 32;  // Default: 32 versions kept for rollback (the oldest are dropped).
  /// Default: true. "${VAR}" and "${VAR:-default}" in string values are replaced from `getenv`;
  /// "$${" is a literal "${". A variable that is unset, with no default, is an error naming the key.
  bool expand_variables = true;
  std::function<const char*(const char*)> getenv;  // Default: std::getenv.
};

/// Checks a complete merged document before it is applied; an error keeps the current version.
using ConfigValidator = std::function<Result<void>(const nlohmann::json& tree)>;
using ChangeCallback = std::function<void(const ConfigSnapshot& now, const std::vector<ConfigChange>& changes)>;

class ConfigManager {
 public:
  /// Loads every source once: all must load, expand and validate (validators can be added after;
  /// pass them here to check the first version too). Errors name the source or key.
  static Result<std::unique_ptr<ConfigManager>> create(std::vector<std::unique_ptr<ConfigSource>> sources,
                                                       ConfigOptions options, const TimeSource& time,
                                                       std::vector<ConfigValidator> validators = {});

  std::shared_ptr<const ConfigSnapshot> snapshot() const;
  template <class T>
  T get(std::string_view dotted_key, T fallback) const {
    return snapshot()->get<T>(dotted_key, std::move(fallback));
  }

  /// Reads every source again and applies the result as a new version if it differs. Nothing is
  /// applied when any source fails, expansion fails or a validator refuses: the error is
  /// returned and the current version stays. Returns whether a new version was applied.
  Result<bool> reload(const std::string& reason = "reload");
  /// reload(), only if some source's stamp() changed (or cannot tell) since the last read.
  Result<bool> reload_if_changed();

  /// The versions kept, oldest first.
  std::vector<ConfigVersion> history() const;
  /// Applies the content of `version` again as a new version (history is never rewritten), with
  /// the run-time overrides it had. Errors: not_found when it is no longer kept. It holds until a
  /// source changes again.
  Result<std::uint64_t> rollback(std::uint64_t version);

  /// A run-time override: `value` at `dotted_key` ("features.search", or "limits" with an object),
  /// over every source, as a new version — checked by the validators first (a refusal changes
  /// nothing and names the key), kept across reloads until unset(), and rolled back like any
  /// version (rollback to a version before the set() drops it). Values are taken as given (no
  /// ${VAR} expansion). Returns the version applied (the current one when nothing changed).
  /// Errors: invalid_argument for an empty key or segment (field "key"), a validator's error.
  Result<std::uint64_t> set(std::string_view dotted_key, nlohmann::json value, const std::string& reason = {});
  /// Removes the override at `dotted_key` (and any below it): the sources' value shows again.
  /// not_found when no override is there.
  Result<std::uint64_t> unset(std::string_view dotted_key, const std::string& reason = {});
  /// The run-time overrides now (a tree; empty object when none).
  nlohmann::json overrides() const;

  /// Registers a callback for every applied version; returns an id for unsubscribe().
  std::uint64_t on_change(ChangeCallback callback);
  void unsubscribe(std::uint64_t id);

  /// The files the sources read (for inotify).
  std::vector<std::filesystem::path> files() const;

  /// The last reload error ("" after a successful one), for health endpoints.
  std::string last_error() const;

 private:
  struct Kept {
    ConfigVersion info;
    std::shared_ptr<const ConfigSnapshot> snapshot;
    nlohmann::json overrides;  // the run-time overrides it was built with
  };
  ConfigManager(std::vector<std::unique_ptr<ConfigSource>> sources, ConfigOptions options, const TimeSource& time,
                std::vector<ConfigValidator> validators);
  // The rest run with sources_mutex_ held.
  std::vector<std::string> read_stamps() const;
  Result<nlohmann::json> build(std::vector<std::string> stamps);  // merge + expand, then compose()
  /// The sources' tree with `overrides` over it, checked by the validators.
  Result<nlohmann::json> compose(const nlohmann::json& overrides) const;
  Result<bool> reload_locked(std::vector<std::string> stamps, const std::string& reason);
  bool apply(nlohmann::json tree, const std::string& reason);
  Result<std::uint64_t> apply_overrides(nlohmann::json overrides, const std::string& reason);

  ConfigOptions options_;
  const TimeSource& time_;
  mutable std::mutex sources_mutex_;  // one load at a time
  std::vector<std::unique_ptr<ConfigSource>> sources_;
  std::vector<std::string> stamps_;  // guarded by sources_mutex_
  std::vector<ConfigValidator> validators_;
  nlohmann::json from_sources_ = nlohmann::json::object();  // the last good sources' tree; sources_mutex_
  // set()'s overrides: written with sources_mutex_ and mutex_ held, read under either.
  nlohmann::json overrides_ = nlohmann::json::object();

  mutable std::mutex mutex_;
  std::shared_ptr<const ConfigSnapshot> current_;                             // guarded by mutex_
  std::vector<Kept> history_;                                                 // guarded by mutex_
  std::uint64_t next_version_ = 1;                                            // guarded by mutex_
  std::map<std::uint64_t, std::shared_ptr<const ChangeCallback>> callbacks_;  // guarded by mutex_
  std::uint64_t next_callback_ = 1;                                           // guarded by mutex_
  std::string last_error_;                                                    // guarded by mutex_
};

/// The configuration profile this process runs in: MICROSERVICE_ENV, else ENVIRONMENT (lower-cased:
/// "dev", "test", "prod", ...), else `fallback`. Errors: a value other than letters, digits, '-'
/// and '_' (field: the variable's name).
Result<std::string> config_profile(const std::function<const char*(const char*)>& getenv, std::string fallback = "dev");
/// `base` ("config/app.yaml") and, after it, its profile's file ("config/app.prod.yaml", optional:
/// a profile without one adds nothing) — later sources win, so the profile overrides the base.
std::vector<std::unique_ptr<ConfigSource>> profile_file_sources(const std::filesystem::path& base,
                                                                const std::string& profile);

/// Leaves of `a` and `b` that differ, by dotted key, sorted.
std::vector<ConfigChange> diff(const nlohmann::json& a, const nlohmann::json& b);
/// Expands ${VAR} and ${VAR:-default} in every string of `tree`. Errors name the key.
Result<nlohmann::json> expand_variables(nlohmann::json tree, const std::function<const char*(const char*)>& getenv);

}  // namespace svckit::config
