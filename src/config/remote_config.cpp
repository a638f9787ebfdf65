#include "svckit/config/remote_config.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"

#include <spdlog/spdlog.h>

#include <fstream>
#include <optional>
#include <set>
#include <sstream>

#include "config/remote/remote_backends.hpp"

namespace svckit::config {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// The ConfigManager's view of a RemoteConfig.
class RemoteSourceView final : public ConfigSource {
 public:
  explicit RemoteSourceView(std::shared_ptr<RemoteConfig> remote, std::string name)
      : remote_(std::move(remote)), name_(std::move(name)) {}
  std::string name() const override { return name_; }
  Result<json> load() override { return remote_->tree(); }
  std::string stamp() const override { return remote_->version() + (remote_->from_cache() ? "@cache" : ""); }

 private:
  std::shared_ptr<RemoteConfig> remote_;
  std::string name_;
};

Result<RemoteContent> read_cache(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return make_error(ErrorCode::not_found, "no cache file " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = parse_json_or_discarded(text.str());
  if (!parsed.is_object() || !parsed.contains("tree") || !parsed["tree"].is_object() ||
      !parsed.value("version", json()).is_string()) {
    return make_error(ErrorCode::invalid_argument, "cache file " + path.string() + " is not a svckit config cache");
  }
  return RemoteContent{parsed["tree"], parsed["version"].get<std::string>()};
}

/// Written beside the target, then renamed over it: a reader sees the old file or the new one.
void write_cache(const std::filesystem::path& path, const std::string& source, const RemoteContent& content) {
  if (path.empty()) return;
  const auto temporary = path.string() + ".tmp";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << json{{"source", source}, {"version", content.version}, {"tree", content.tree}}.dump(2) << "\n";
    if (!out) {
      logs::warn("config", "event=config_cache_write_failed path={}", path.string());
      return;
    }
  }
  std::error_code ec;
  std::filesystem::rename(temporary, path, ec);
  if (ec) logs::warn("config", "event=config_cache_write_failed path={} error=\"{}\"", path.string(), ec.message());
}

/// A value as JSON when it parses as JSON, otherwise the text itself.
json leaf_value(const std::string& text) {
  auto parsed = parse_json_or_discarded(text);
  if (parsed.is_discarded()) return text;
  return parsed;
}

}  // namespace

Result<json> tree_from_flat(const std::vector<std::pair<std::string, std::string>>& entries,
                            const std::string& source) {
  json tree = json::object();
  for (const auto& [key, value] : entries) {
    std::vector<std::string> parts;
    std::string part;
    for (const char c : key) {
      if (c == '.' || c == '/') {
        if (!part.empty()) parts.push_back(std::move(part));
        part.clear();
      } else {
        part += c;
      }
    }
    if (!part.empty()) parts.push_back(std::move(part));
    if (parts.empty()) continue;
    json* node = &tree;
    for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
      auto& child = (*node)[parts[i]];
      if (child.is_null()) child = json::object();
      if (!child.is_object()) {
        return make_error(ErrorCode::invalid_argument, source + ": " + key + " is under a key that has a value", key);
      }
      node = &child;
    }
    auto& leaf = (*node)[parts.back()];
    if (leaf.is_object() && !leaf.empty()) {
      return make_error(ErrorCode::invalid_argument, source + ": " + key + " has a value and keys under it", key);
    }
    leaf = leaf_value(value);
  }
  return tree;
}

RemoteConfig::RemoteConfig(std::unique_ptr<RemoteConfigBackend> backend, RemoteConfigOptions options, Sleeper& sleeper)
    : backend_(std::move(backend)), options_(std::move(options)), sleeper_(sleeper) {}

Awaitable<Result<std::shared_ptr<RemoteConfig>>> RemoteConfig::open(std::unique_ptr<RemoteConfigBackend> backend,
                                                                    RemoteConfigOptions options, Sleeper& sleeper) {
  auto self = std::make_shared<RemoteConfig>(std::move(backend), std::move(options), sleeper);
  auto content = co_await self->backend_->read();
  if (content) {
    self->apply(std::move(*content));
    co_return self;
  }
  const auto name = self->backend_->name();
  if (self->options_.cache_file.empty()) co_return content.error();
  auto cached = read_cache(self->options_.cache_file);
  if (!cached) {
    co_return make_error(content.error().code,
                         name + ": " + content.error().message + "; and " + cached.error().message);
  }
  logs::warn("config", "event=config_started_from_cache source={} cache={} version={} error=\"{}\"", name,
             self->options_.cache_file.string(), cached->version, content.error().message);
  std::lock_guard lock(self->mutex_);
  self->content_ = std::move(*cached);
  self->from_cache_ = true;
  self->last_error_ = name + ": " + content.error().message + " (started from the local cache)";
  co_return self;
}

std::unique_ptr<ConfigSource> RemoteConfig::source() {
  return std::make_unique<RemoteSourceView>(shared_from_this(), backend_->name());
}

bool RemoteConfig::apply(RemoteContent content) {
  std::function<void()> changed;
  {
    std::lock_guard lock(mutex_);
    last_error_.clear();
    if (!from_cache_ && content.tree == content_.tree) {
      content_.version = std::move(content.version);  // (etcd: an unrelated write moved the revision)
      return false;
    }
    from_cache_ = false;
    content_ = std::move(content);
    write_cache(options_.cache_file, backend_->name(), content_);
    changed = changed_;
  }
  if (changed) changed();
  return true;
}

void RemoteConfig::fail(const Error& error) {
  std::lock_guard lock(mutex_);
  if (last_error_ != error.message) {
    logs::warn("config", "event=config_remote_failed source={} error=\"{}\"", backend_->name(), error.message);
  }
  last_error_ = error.message;
}

Awaitable<void> RemoteConfig::follow(std::shared_ptr<CancelToken> stop) {
  auto self = shared_from_this();
  auto delay = options_.retry;
  bool read_now = from_cache();
  while (!stop->cancelled()) {
    std::optional<Error> failure;
    if (!read_now) {
      const auto seen = version();
      auto changed = co_await backend_->wait_change(seen, options_.resync, stop);
      if (stop->cancelled()) break;
      if (!changed) failure = changed.error();
    }
    if (!failure) {
      auto content = co_await backend_->read();
      if (stop->cancelled()) break;
      if (content) {
        delay = options_.retry;
        read_now = false;
        if (apply(std::move(*content))) {
          logs::info("config", "event=config_remote_changed source={} version={}", backend_->name(), version());
        }
        continue;
      }
      failure = content.error();
    }
    // The store could not be reached: wait (doubling), then read again before watching.
    fail(*failure);
    const auto pause = std::chrono::duration_cast<std::chrono::nanoseconds>(delay);
    const bool slept = co_await sleeper_.sleep_for(pause, stop.get());
    if (!slept) break;
    delay = std::min(delay * 2, options_.max_retry);
    read_now = true;
  }
}

void RemoteConfig::on_change(std::function<void()> callback) {
  std::lock_guard lock(mutex_);
  changed_ = std::move(callback);
}

json RemoteConfig::tree() const {
  std::lock_guard lock(mutex_);
  return content_.tree;
}
std::string RemoteConfig::version() const {
  std::lock_guard lock(mutex_);
  return content_.version;
}
bool RemoteConfig::from_cache() const {
  std::lock_guard lock(mutex_);
  return from_cache_;
}
std::string RemoteConfig::last_error() const {
  std::lock_guard lock(mutex_);
  return last_error_;
}

}  // namespace svckit::config
