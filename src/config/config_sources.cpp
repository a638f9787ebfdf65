#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "svckit/config/config_source.hpp"
#include "svckit/core/structured_text.hpp"

namespace svckit::config {

namespace {

using nlohmann::json;

class FileSource final : public ConfigSource {
 public:
  FileSource(std::filesystem::path path, bool optional) : path_(std::move(path)), optional_(optional) {}
  std::string name() const override { return "file:" + path_.string(); }

  Result<json> load() override {
    std::ifstream in(path_);
    if (!in) {
      if (optional_ && !std::filesystem::exists(path_)) return json::object();
      return make_error(ErrorCode::unavailable, name() + ": cannot be read", "file");
    }
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = parse_structured(text.str(), structured_format_of(path_.string()), name());
    if (!parsed) return parsed.error();
    if (parsed->is_null()) return json::object();
    if (!parsed->is_object()) return make_error(ErrorCode::invalid_argument, name() + ": must be a mapping", "file");
    return parsed;
  }

  /// The content's hash: an edit within the file system's timestamp granularity (or one that
  /// keeps the size) is still seen. Config files are small; reading one per poll is cheap.
  std::string stamp() const override {
    std::ifstream in(path_);
    if (!in) return "missing";
    std::stringstream text;
    text << in.rdbuf();
    return std::to_string(std::hash<std::string>{}(text.str()));
  }
  std::vector<std::filesystem::path> files() const override { return {path_}; }

 private:
  std::filesystem::path path_;
  bool optional_;
};

class EnvSource final : public ConfigSource {
 public:
  EnvSource(std::string prefix, std::function<std::vector<std::pair<std::string, std::string>>()> all)
      : prefix_(std::move(prefix)), all_(std::move(all)) {}
  std::string name() const override { return "env:" + prefix_; }

  Result<json> load() override {
    json out = json::object();
    for (const auto& [variable, value] : all_()) {
      if (variable.size() <= prefix_.size() || variable.compare(0, prefix_.size(), prefix_) != 0) continue;
      std::string rest = variable.substr(prefix_.size());
      std::transform(rest.begin(), rest.end(), rest.begin(), [](unsigned char c) { return std::tolower(c); });
      json* at = &out;
      std::size_t start = 0;
      for (;;) {
        const auto sep = rest.find("__", start);
        const auto part = rest.substr(start, sep == std::string::npos ? std::string::npos : sep - start);
        if (part.empty()) return make_error(ErrorCode::invalid_argument, variable + ": empty key level", variable);
        if (sep == std::string::npos) {
          (*at)[part] = yaml_scalar(value);
          break;
        }
        if (!(*at)[part].is_object()) (*at)[part] = json::object();
        at = &(*at)[part];
        start = sep + 2;
      }
    }
    return out;
  }

  std::string stamp() const override {
    std::string seen;
    for (const auto& [variable, value] : all_()) {
      if (variable.compare(0, prefix_.size(), prefix_) == 0) seen += variable + '=' + value + '\n';
    }
    return std::to_string(std::hash<std::string>{}(seen));
  }

 private:
  std::string prefix_;
  std::function<std::vector<std::pair<std::string, std::string>>()> all_;
};

class StaticSource final : public ConfigSource {
 public:
  StaticSource(std::string name, json values) : name_(std::move(name)), values_(std::move(values)) {}
  std::string name() const override { return name_; }
  Result<json> load() override { return values_; }
  std::string stamp() const override { return "static"; }

 private:
  std::string name_;
  json values_;
};

}  // namespace

std::unique_ptr<ConfigSource> file_source(std::filesystem::path path, bool optional) {
  return std::make_unique<FileSource>(std::move(path), optional);
}

std::unique_ptr<ConfigSource> env_source(std::string prefix,
                                         std::function<std::vector<std::pair<std::string, std::string>>()> all) {
  return std::make_unique<EnvSource>(std::move(prefix), std::move(all));
}

std::unique_ptr<ConfigSource> static_source(std::string name, nlohmann::json values) {
  return std::make_unique<StaticSource>(std::move(name), std::move(values));
}

}  // namespace svckit::config
