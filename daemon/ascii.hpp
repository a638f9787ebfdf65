// ASCII helpers shared by svckitd's request handling (header values, host names).
#pragma once

#include <string>
#include <string_view>

namespace svckit::daemon {

/// `s` with A-Z turned to a-z (other bytes unchanged).
inline std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

}  // namespace svckit::daemon
