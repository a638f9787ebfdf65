// TOML documents read into nlohmann::json (through toml++, header-only, kept to this one file:
// its header is large). Used by parse_structured() for *.toml.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "svckit/core/result.hpp"

namespace svckit {

/// Tables become objects, arrays arrays; strings, integers, floats and booleans keep their type;
/// dates and times become their TOML text ("2026-12-02T10:00:00Z"). Errors are invalid_argument
/// naming `source` with the line and column, field `file`.
Result<nlohmann::json> parse_toml(std::string_view text, const std::string& source);

}  // namespace svckit
