#include "svckit/config/config_manager.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>

namespace svckit::config {

using nlohmann::json;

namespace {

void merge_into(json& base, const json& layer) {
  if (!base.is_object() || !layer.is_object()) {
    base = layer;
    return;
  }
  for (const auto& [key, value] : layer.items()) {
    auto it = base.find(key);
    if (it != base.end() && it->is_object() && value.is_object()) {
      merge_into(*it, value);
    } else {
      base[key] = value;
    }
  }
}

void flatten(const json& node, const std::string& prefix, std::map<std::string, json>& out) {
  if (node.is_object() && !node.empty()) {
    for (const auto& [key, value] : node.items()) flatten(value, prefix.empty() ? key : prefix + "." + key, out);
  } else if (!prefix.empty()) {
    out[prefix] = node;
  }
}

Result<std::string> expand(const std::string& text, const std::string& key,
                           const std::function<const char*(const char*)>& getenv) {
  std::string out;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {  // escaped
      out += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      out += text[i++];
      continue;
    }
    const auto end = text.find('}', i + 2);
    if (end == std::string::npos) {
      return make_error(ErrorCode::invalid_argument, key + ": unterminated ${ in '" + text + "'", key);
    }
    const auto inner = text.substr(i + 2, end - i - 2);
    const auto dflt = inner.find(":-");
    const auto name = inner.substr(0, dflt);
    if (name.empty())
      return make_error(ErrorCode::invalid_argument, key + ": empty variable name in '" + text + "'", key);
    const char* value = getenv(name.c_str());
    if (value != nullptr && *value != '\0') {
      out += value;
    } else if (dflt != std::string::npos) {
      out += inner.substr(dflt + 2);
    } else {
      return make_error(ErrorCode::invalid_argument, key + ": ${" + name + "} is not set and has no default", key);
    }
    i = end + 1;
  }
  return out;
}

Result<void> expand_node(json& node, const std::string& key, const std::function<const char*(const char*)>& getenv) {
  if (node.is_string()) {
    auto expanded = expand(node.get<std::string>(), key, getenv);
    if (!expanded) return expanded.error();
    node = std::move(*expanded);
  } else if (node.is_object()) {
    for (auto& [k, v] : node.items()) {
      if (auto r = expand_node(v, key.empty() ? k : key + "." + k, getenv); !r) return r;
    }
  } else if (node.is_array()) {
    for (std::size_t i = 0; i < node.size(); ++i) {
      if (auto r = expand_node(node[i], key + "[" + std::to_string(i) + "]", getenv); !r) return r;
    }
  }
  return {};
}

}  // namespace

const json* ConfigSnapshot::find(std::string_view dotted_key) const {
  const json* at = &tree_;
  std::size_t start = 0;
  while (start <= dotted_key.size()) {
    const auto dot = dotted_key.find('.', start);
    const auto part = dotted_key.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (!at->is_object()) return nullptr;
    auto it = at->find(std::string(part));
    if (it == at->end()) return nullptr;
    at = &*it;
    if (dot == std::string_view::npos) return at;
    start = dot + 1;
  }
  return nullptr;
}

std::vector<ConfigChange> diff(const json& a, const json& b) {
  std::map<std::string, json> before, after;
  flatten(a, "", before);
  flatten(b, "", after);
  std::vector<ConfigChange> out;
  for (const auto& [key, value] : before) {
    auto it = after.find(key);
    if (it == after.end()) {
      out.push_back({key, value, std::nullopt});
    } else if (it->second != value) {
      out.push_back({key, value, it->second});
    }
  }
  for (const auto& [key, value] : after) {
    if (!before.count(key)) out.push_back({key, std::nullopt, value});
  }
  std::sort(out.begin(), out.end(), [](const ConfigChange& x, const ConfigChange& y) { return x.key < y.key; });
  return out;
}

Result<json> expand_variables(json tree, const std::function<const char*(const char*)>& getenv) {
  if (auto r = expand_node(tree, "", getenv); !r) return r.error();
  return tree;
}

Result<std::unique_ptr<ConfigManager>> ConfigManager::create(std::vector<std::unique_ptr<ConfigSource>> sources,
                                                             ConfigOptions options, const TimeSource& time,
                                                             std::vector<ConfigValidator> validators) {
  if (options.history == 0) return make_error(ErrorCode::invalid_argument, "history must be at least 1", "history");
  if (!options.getenv) options.getenv = [](const char* name) { return std::getenv(name); };
  std::unique_ptr<ConfigManager> manager(
      new ConfigManager(std::move(sources), std::move(options), time, std::move(validators)));
  std::lock_guard lock(manager->sources_mutex_);
  auto tree = manager->build(manager->read_stamps());
  if (!tree) return tree.error();
  manager->apply(std::move(*tree), "load");
  return manager;
}

ConfigManager::ConfigManager(std::vector<std::unique_ptr<ConfigSource>> sources, ConfigOptions options,
                             const TimeSource& time, std::vector<ConfigValidator> validators)
    : options_(std::move(options)),
      time_(time),
      sources_(std::move(sources)),
      stamps_(sources_.size()),
      validators_(std::move(validators)) {}

std::vector<std::string> ConfigManager::read_stamps() const {
  std::vector<std::string> stamps;
  stamps.reserve(sources_.size());
  for (const auto& source : sources_) stamps.push_back(source->stamp());
  return stamps;
}

Result<json> ConfigManager::build(std::vector<std::string> stamps) {
  // Stamps read before the content: an edit in between shows as a change at the next check.
  stamps_ = std::move(stamps);
  json merged = json::object();
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    auto layer = sources_[i]->load();
    if (!layer) return layer.error();
    merge_into(merged, *layer);
  }
  if (options_.expand_variables) {
    auto expanded = expand_variables(std::move(merged), options_.getenv);
    if (!expanded) return expanded.error();
    merged = std::move(*expanded);
  }
  auto previous = std::move(from_sources_);
  from_sources_ = std::move(merged);
  auto composed = compose(overrides_);
  if (!composed) from_sources_ = std::move(previous);  // nothing of a refused load is kept
  return composed;
}

Result<json> ConfigManager::compose(const json& overrides) const {
  json tree = from_sources_;
  merge_into(tree, overrides);
  for (const auto& validate : validators_) {
    if (auto ok = validate(tree); !ok) return ok.error();
  }
  return tree;
}

namespace {

/// "a.b.c" -> {"a","b","c"}; errors for an empty key or segment.
Result<std::vector<std::string>> split_key(std::string_view dotted_key) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  for (;;) {
    const auto dot = dotted_key.find('.', start);
    auto part = dotted_key.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (part.empty()) {
      return make_error(ErrorCode::invalid_argument,
                        "a config key is dotted names without empty parts, got '" + std::string(dotted_key) + "'",
                        "key");
    }
    parts.emplace_back(part);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return parts;
}

}  // namespace

Result<std::uint64_t> ConfigManager::set(std::string_view dotted_key, json value, const std::string& reason) {
  auto parts = split_key(dotted_key);
  if (!parts) return parts.error();
  std::lock_guard sources(sources_mutex_);
  json overrides = overrides_;
  json* node = &overrides;
  for (const auto& part : *parts) {
    if (!node->is_object()) *node = json::object();
    node = &(*node)[part];
  }
  *node = std::move(value);
  return apply_overrides(std::move(overrides), reason.empty() ? "set " + std::string(dotted_key) : reason);
}

Result<std::uint64_t> ConfigManager::unset(std::string_view dotted_key, const std::string& reason) {
  auto parts = split_key(dotted_key);
  if (!parts) return parts.error();
  std::lock_guard sources(sources_mutex_);
  json overrides = overrides_;
  json* node = &overrides;
  for (std::size_t i = 0; i + 1 < parts->size(); ++i) {
    if (!node->is_object() || !node->contains((*parts)[i])) node = nullptr;
    if (node == nullptr) break;
    node = &(*node)[(*parts)[i]];
  }
  if (node == nullptr || !node->is_object() || node->erase(parts->back()) == 0) {
    return make_error(ErrorCode::not_found, "no run-time override at " + std::string(dotted_key), "key");
  }
  return apply_overrides(std::move(overrides), reason.empty() ? "unset " + std::string(dotted_key) : reason);
}

Result<std::uint64_t> ConfigManager::apply_overrides(json overrides, const std::string& reason) {
  auto tree = compose(overrides);
  if (!tree) return tree.error();
  {
    std::lock_guard lock(mutex_);  // overrides() reads it under mutex_ only
    overrides_ = std::move(overrides);
  }
  apply(std::move(*tree), reason);
  return snapshot()->version();
}

json ConfigManager::overrides() const {
  std::lock_guard lock(mutex_);
  return overrides_;
}

Result<std::string> config_profile(const std::function<const char*(const char*)>& getenv, std::string fallback) {
  for (const char* name : {"MICROSERVICE_ENV", "ENVIRONMENT"}) {
    const char* value = getenv(name);
    if (value == nullptr || *value == '\0') continue;
    std::string profile(value);
    for (auto& ch : profile) {
      ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      if (std::isalnum(static_cast<unsigned char>(ch)) == 0 && ch != '-' && ch != '_') {
        return make_error(
            ErrorCode::invalid_argument,
            std::string(name) + " must be a profile name (letters, digits, '-', '_'), got '" + value + "'", name);
      }
    }
    return profile;
  }
  return fallback;
}

std::vector<std::unique_ptr<ConfigSource>> profile_file_sources(const std::filesystem::path& base,
                                                                const std::string& profile) {
  std::vector<std::unique_ptr<ConfigSource>> out;
  out.push_back(file_source(base));
  auto with_profile = base;
  with_profile.replace_filename(base.stem().string() + "." + profile + base.extension().string());
  out.push_back(file_source(with_profile, true));
  return out;
}

bool ConfigManager::apply(json tree, const std::string& reason) {
  std::vector<ConfigChange> changes;
  std::shared_ptr<const ConfigSnapshot> now;
  std::vector<std::shared_ptr<const ChangeCallback>> callbacks;
  {
    std::lock_guard lock(mutex_);
    last_error_.clear();
    if (current_ && current_->tree() == tree) return false;
    changes = diff(current_ ? current_->tree() : json::object(), tree);
    now = std::make_shared<const ConfigSnapshot>(next_version_++, std::move(tree));
    current_ = now;
    history_.push_back({ConfigVersion{now->version(), time_.system_now(), reason}, now, overrides_});
    if (history_.size() > options_.history) history_.erase(history_.begin());
    for (const auto& [id, cb] : callbacks_) callbacks.push_back(cb);
  }
  for (const auto& cb : callbacks) (*cb)(*now, changes);
  return true;
}

std::shared_ptr<const ConfigSnapshot> ConfigManager::snapshot() const {
  std::lock_guard lock(mutex_);
  return current_;
}

Result<bool> ConfigManager::reload(const std::string& reason) {
  std::lock_guard sources(sources_mutex_);
  return reload_locked(read_stamps(), reason);
}

Result<bool> ConfigManager::reload_locked(std::vector<std::string> stamps, const std::string& reason) {
  auto tree = build(std::move(stamps));
  if (!tree) {
    std::lock_guard lock(mutex_);
    last_error_ = tree.error().describe();
    return tree.error();
  }
  return apply(std::move(*tree), reason);
}

Result<bool> ConfigManager::reload_if_changed() {
  std::lock_guard sources(sources_mutex_);
  auto stamps = read_stamps();  // each source's stamp read once per check, and reused for the reload
  for (std::size_t i = 0; i < sources_.size(); ++i) {
    if (stamps[i].empty() || stamps[i] != stamps_[i]) {
      return reload_locked(std::move(stamps), "reload: " + sources_[i]->name() + " changed");
    }
  }
  return false;
}

std::vector<ConfigVersion> ConfigManager::history() const {
  std::lock_guard lock(mutex_);
  std::vector<ConfigVersion> out;
  for (const auto& kept : history_) out.push_back(kept.info);
  return out;
}

Result<std::uint64_t> ConfigManager::rollback(std::uint64_t version) {
  json tree;
  json overrides;
  {
    std::lock_guard lock(mutex_);
    auto it =
        std::find_if(history_.begin(), history_.end(), [version](const Kept& k) { return k.info.version == version; });
    if (it == history_.end()) {
      return make_error(ErrorCode::not_found, "version " + std::to_string(version) + " is not kept", "version");
    }
    if (current_->version() == version) return version;
    tree = it->snapshot->tree();
    overrides = it->overrides;
  }
  std::lock_guard sources(sources_mutex_);  // not interleaved with a reload
  for (const auto& validate : validators_) {
    if (auto ok = validate(tree); !ok) return ok.error();
  }
  {
    std::lock_guard lock(mutex_);
    overrides_ = std::move(overrides);
  }
  apply(std::move(tree), "rollback to " + std::to_string(version));
  return snapshot()->version();
}

std::uint64_t ConfigManager::on_change(ChangeCallback callback) {
  std::lock_guard lock(mutex_);
  const auto id = next_callback_++;
  callbacks_.emplace(id, std::make_shared<const ChangeCallback>(std::move(callback)));
  return id;
}

void ConfigManager::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mutex_);
  callbacks_.erase(id);
}

std::vector<std::filesystem::path> ConfigManager::files() const {
  std::lock_guard lock(sources_mutex_);
  std::vector<std::filesystem::path> out;
  for (const auto& source : sources_) {
    auto mine = source->files();
    out.insert(out.end(), mine.begin(), mine.end());
  }
  return out;
}

std::string ConfigManager::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

}  // namespace svckit::config
