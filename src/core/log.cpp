#include "svckit/core/log.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <vector>

#include <spdlog/details/log_msg.h>
#include <spdlog/sinks/sink.h>

namespace svckit::logs {

namespace {

/// Bumped by set_levels(); 0 while no component has a level of its own (then only the default
/// logger's level is consulted: one atomic load, as spdlog's own level check). Logging runs on
/// request paths (the client's per-attempt debug line, the gateway's access line), so the
/// registry's mutex is taken once per thread and component after a change, not per line.
std::atomic<std::uint64_t> levels_generation{0};

}  // namespace

bool enabled(std::string_view component, spdlog::level::level_enum level) {
  auto* fallback = spdlog::default_logger_raw();
  if (fallback == nullptr) return false;
  const auto generation = levels_generation.load(std::memory_order_acquire);
  if (generation == 0) return fallback->should_log(level);
  struct Known {
    std::uint64_t generation = 0;
    std::vector<std::pair<std::string, std::shared_ptr<spdlog::logger>>> loggers;  // null: none configured
  };
  thread_local Known known;
  if (known.generation != generation) {
    known.loggers.clear();
    known.generation = generation;
  }
  for (const auto& [name, configured] : known.loggers) {
    if (name == component) return (configured ? configured.get() : fallback)->should_log(level);
  }
  // A configured component is a logger of that name in spdlog's registry: its level decides.
  auto configured = spdlog::get(std::string(component));
  const bool on = (configured ? configured.get() : fallback)->should_log(level);
  if (known.loggers.size() < 64) known.loggers.emplace_back(std::string(component), std::move(configured));
  return on;
}

void write(std::string_view component, spdlog::level::level_enum level, std::string_view message) {
  auto* fallback = spdlog::default_logger_raw();
  if (fallback == nullptr) return;
  const spdlog::details::log_msg msg(spdlog::source_loc{}, spdlog::string_view_t(component.data(), component.size()),
                                     level, spdlog::string_view_t(message.data(), message.size()));
  for (const auto& sink : fallback->sinks()) {
    if (sink->should_log(level)) sink->log(msg);
  }
  if (level >= fallback->flush_level()) fallback->flush();
}

Result<std::vector<std::pair<std::string, spdlog::level::level_enum>>> parse_levels(std::string_view spec,
                                                                                    const std::string& field) {
  std::vector<std::pair<std::string, spdlog::level::level_enum>> out;
  auto level_of = [](std::string_view name) -> std::optional<spdlog::level::level_enum> {
    static constexpr std::pair<std::string_view, spdlog::level::level_enum> kLevels[] = {
        {"trace", spdlog::level::trace}, {"debug", spdlog::level::debug}, {"info", spdlog::level::info},
        {"warn", spdlog::level::warn},   {"error", spdlog::level::err},   {"off", spdlog::level::off}};
    for (const auto& [text, level] : kLevels) {
      if (name == text) return level;
    }
    return std::nullopt;
  };
  auto bad = [&](const std::string& part, const std::string& why) {
    return make_error(ErrorCode::invalid_argument, "'" + part + "': " + why, field);
  };
  bool default_seen = false;
  while (!spec.empty()) {
    const auto comma = spec.find(',');
    const std::string_view part = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    if (part.empty()) continue;
    const auto eq = part.find('=');
    const auto name = eq == std::string_view::npos ? std::string_view() : part.substr(0, eq);
    const auto level = level_of(eq == std::string_view::npos ? part : part.substr(eq + 1));
    if (!level) return bad(std::string(part), "the level must be one of trace, debug, info, warn, error, off");
    if (eq == std::string_view::npos) {
      if (default_seen) return bad(std::string(part), "a second default level");
      default_seen = true;
    } else if (name.empty() || name.size() > 64 ||
               name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-.") != std::string_view::npos) {
      return bad(std::string(part), "a component name is [a-z0-9_.-]{1,64}");
    }
    out.emplace_back(std::string(name), *level);
  }
  if (out.empty()) return make_error(ErrorCode::invalid_argument, "no level given", field);
  return out;
}

Result<void> set_levels(std::string_view spec, const std::string& field) {
  auto levels = parse_levels(spec, field);
  if (!levels) return levels.error();
  for (const auto& [component, level] : *levels) {
    if (!component.empty()) continue;
    // The default logger only: spdlog::set_level would also reset every component's level.
    if (auto* fallback = spdlog::default_logger_raw(); fallback != nullptr) fallback->set_level(level);
  }
  for (const auto& [component, level] : *levels) {
    if (component.empty()) continue;
    auto logger = spdlog::get(component);
    if (!logger) {
      // A level holder: its sinks are never written to (lines go to the default logger's sinks).
      try {
        spdlog::register_logger(std::make_shared<spdlog::logger>(component));
      } catch (const spdlog::spdlog_ex&) {  // registered meanwhile by another thread
      }
      logger = spdlog::get(component);
    }
    logger->set_level(level);
  }
  levels_generation.fetch_add(1, std::memory_order_acq_rel);
  return {};
}

}  // namespace svckit::logs
