#include "svckit/core/structured_text.hpp"
#include "svckit/core/instance_json.hpp"

#include "core/toml_text.hpp"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <cstdlib>

namespace svckit {

namespace {

using nlohmann::json;

json scalar(const YAML::Node& node) {
  const auto& text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") return nullptr;
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  char* end = nullptr;
  errno = 0;
  const long long i = std::strtoll(text.c_str(), &end, 10);
  if (errno == 0 && end != nullptr && *end == '\0') return i;
  const double d = std::strtod(text.c_str(), &end);
  if (end != nullptr && *end == '\0' && text.find_first_not_of("0123456789+-.eE") == std::string::npos) return d;
  return text;
}

json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      json out = json::object();
      for (const auto& kv : node) out[kv.first.as<std::string>()] = to_json(kv.second);
      return out;
    }
    case YAML::NodeType::Sequence: {
      json out = json::array();
      for (const auto& item : node) out.push_back(to_json(item));
      return out;
    }
    case YAML::NodeType::Scalar:
      return scalar(node);
    default:
      return nullptr;
  }
}

}  // namespace

Result<json> parse_structured(std::string_view text, std::string_view format, const std::string& source) {
  if (format == "json") {
    auto parsed = parse_json(text);
    if (!parsed) return make_error(ErrorCode::invalid_argument, source + ": " + parsed.error().message, "file");
    return parsed;
  }
  if (format == "toml") return parse_toml(text, source);
  if (format != "yaml") {
    return make_error(ErrorCode::invalid_argument, source + ": unknown format (use .yaml, .yml, .json or .toml)",
                      "file");
  }
  try {
    return to_json(YAML::Load(std::string(text)));
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::invalid_argument,
                      source + ": YAML error at line " + std::to_string(e.mark.line + 1) + ": " + e.msg, "file");
  }
}

std::string structured_format_of(const std::string& path) {
  auto ends = [&](std::string_view ext) {
    return path.size() >= ext.size() && path.compare(path.size() - ext.size(), ext.size(), ext) == 0;
  };
  if (ends(".json")) return "json";
  if (ends(".yaml") || ends(".yml")) return "yaml";
  if (ends(".toml")) return "toml";
  return {};
}

json yaml_scalar(const std::string& text) {
  try {
    return scalar(YAML::Load(text));
  } catch (const YAML::Exception&) {
    return text;
  }
}

}  // namespace svckit
