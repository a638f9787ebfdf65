// Logging per component: every log line of the library names its component ("gateway", "health",
// "discovery", "client", "registry", ...), and each component may have its own level — the way
// spdlog's SPDLOG_LEVEL and Python's named loggers do it:
//
//   svckit::logs::set_levels("info,gateway=debug,discovery=warn");   // or svckitd --log-level ...
//   svckit::logs::info("gateway", "event=route_added prefix={}", prefix);
//
// Lines go to spdlog's default logger's sinks (whatever the application set up: console, file,
// JSON via make_json_log_formatter, whose "component" field is the component's name), filtered by
// the component's level, or the default logger's level when the component has none. Levels live
// in spdlog's own registry (a logger per configured component): spdlog::get("gateway")->set_level()
// changes one at once; a component logger registered with spdlog directly is seen after the next
// set_levels(). Checking a level costs one atomic load until a component has a level of its own,
// then a per-thread lookup (spdlog's registry is asked once per thread and component).
//
// Thread-safety: as spdlog's: any thread may log and set levels.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <spdlog/spdlog.h>

#include "svckit/core/result.hpp"

namespace svckit::logs {

/// Whether `component` logs at `level` now.
bool enabled(std::string_view component, spdlog::level::level_enum level);
/// Writes one line of `component` (already formatted) to the default logger's sinks.
void write(std::string_view component, spdlog::level::level_enum level, std::string_view message);

template <class... Args>
void log(std::string_view component, spdlog::level::level_enum level, spdlog::format_string_t<Args...> format,
         Args&&... args) {
  if (!enabled(component, level)) return;
  spdlog::memory_buf_t buffer;
  fmt::format_to(fmt::appender(buffer), format, std::forward<Args>(args)...);
  write(component, level, std::string_view(buffer.data(), buffer.size()));
}
template <class... Args>
void trace(std::string_view component, spdlog::format_string_t<Args...> format, Args&&... args) {
  log(component, spdlog::level::trace, format, std::forward<Args>(args)...);
}
template <class... Args>
void debug(std::string_view component, spdlog::format_string_t<Args...> format, Args&&... args) {
  log(component, spdlog::level::debug, format, std::forward<Args>(args)...);
}
template <class... Args>
void info(std::string_view component, spdlog::format_string_t<Args...> format, Args&&... args) {
  log(component, spdlog::level::info, format, std::forward<Args>(args)...);
}
template <class... Args>
void warn(std::string_view component, spdlog::format_string_t<Args...> format, Args&&... args) {
  log(component, spdlog::level::warn, format, std::forward<Args>(args)...);
}
template <class... Args>
void error(std::string_view component, spdlog::format_string_t<Args...> format, Args&&... args) {
  log(component, spdlog::level::err, format, std::forward<Args>(args)...);
}

/// Parses "LEVEL" or "LEVEL,component=LEVEL,..." (either part optional: "gateway=debug") with the
/// levels trace, debug, info, warn, error, off. Errors (invalid_argument, field `field`) name the
/// bad part; nothing is applied then.
Result<std::vector<std::pair<std::string, spdlog::level::level_enum>>> parse_levels(std::string_view spec,
                                                                                    const std::string& field);
/// Applies a spec: the default level (when given) to the default logger, each component's to its
/// own. All or nothing.
Result<void> set_levels(std::string_view spec, const std::string& field = "log_level");

}  // namespace svckit::logs
