// YAML, JSON and TOML documents read into nlohmann::json, one way for every file svckit reads
// (config sources, the file:// registry). Pure functions.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "svckit/core/result.hpp"

namespace svckit {

/// A document as JSON. `format` is "json", "yaml" (YAML plain scalars are typed: null, bools,
/// numbers; quoted scalars stay strings; an empty YAML document is null) or "toml" (dates and
/// times as their text). Errors are invalid_argument naming `source` and, for YAML and TOML, the
/// line.
Result<nlohmann::json> parse_structured(std::string_view text, std::string_view format, const std::string& source);

/// "json" for *.json, "yaml" for *.yaml / *.yml, "toml" for *.toml, empty otherwise.
std::string structured_format_of(const std::string& path);

/// One YAML scalar typed as above; text that is not a YAML scalar is returned as a string.
nlohmann::json yaml_scalar(const std::string& text);

}  // namespace svckit
