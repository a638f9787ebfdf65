// Human durations as used in config files, flags and query strings: "250ms", "30s", "5m", "1h".
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "svckit/core/result.hpp"

namespace svckit {

/// Parses "<integer><unit>" with unit in {ms, s, m, h}; a bare integer means seconds.
/// `field` names the input in the error.
Result<std::chrono::milliseconds> parse_duration(std::string_view text, std::string_view field);

/// The shortest exact form: 1500ms -> "1500ms", 30000ms -> "30s", 120000ms -> "2m".
std::string format_duration(std::chrono::milliseconds d);

}  // namespace svckit
