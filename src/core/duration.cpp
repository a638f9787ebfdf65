#include "svckit/core/duration.hpp"

#include <charconv>

namespace svckit {

Result<std::chrono::milliseconds> parse_duration(std::string_view text, std::string_view field) {
  auto bad = [&] {
    return make_error(ErrorCode::invalid_argument,
                      "'" + std::string(text) + "' is not a duration (use e.g. 500ms, 30s, 5m, 1h)",
                      std::string(field));
  };
  if (text.empty()) return bad();
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || value < 0) return bad();
  std::string_view unit(ptr, static_cast<std::size_t>(end - ptr));
  std::int64_t factor = 0;
  if (unit.empty() || unit == "s") {
    factor = 1000;
  } else if (unit == "ms") {
    factor = 1;
  } else if (unit == "m") {
    factor = 60'000;
  } else if (unit == "h") {
    factor = 3'600'000;
  } else {
    return bad();
  }
  constexpr std::int64_t kMaxMs = std::int64_t{365} * 24 * 3'600'000;  // one year is plenty
  if (value > kMaxMs / factor) return bad();
  return std::chrono::milliseconds(value * factor);
}

std::string format_duration(std::chrono::milliseconds d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

}  // namespace svckit
