// Reads one series out of a Prometheus text exposition, for tests.
#pragma once

#include <optional>
#include <string>

namespace svckit::testing {

/// The value of the line `series value` ("name" or "name{a=\"b\",...}" exactly as rendered), or
/// nullopt when the exposition has no such line.
inline std::optional<double> metric_value(const std::string& text, const std::string& series) {
  const std::string needle = series + " ";
  for (std::size_t at = 0; at < text.size();) {
    const auto end = text.find('\n', at);
    const auto line = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
    if (line.compare(0, needle.size(), needle) == 0) return std::stod(line.substr(needle.size()));
    if (end == std::string::npos) break;
    at = end + 1;
  }
  return std::nullopt;
}

}  // namespace svckit::testing
