// Priority: the three levels events and tasks share (high is delivered / fetched first).
#pragma once

#include <optional>
#include <string_view>

namespace svckit {

enum class Priority { high, medium, low };
std::string_view to_string(Priority priority) noexcept;
/// "high", "medium" or "low"; nullopt for anything else.
std::optional<Priority> parse_priority(std::string_view text) noexcept;

}  // namespace svckit
