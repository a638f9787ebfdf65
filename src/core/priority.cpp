#include "svckit/core/priority.hpp"

#include "core/enum_names.hpp"

namespace svckit {
namespace {

constexpr detail::EnumNames<Priority, 3> kPriorityNames{{
    {Priority::high, "high"},
    {Priority::medium, "medium"},
    {Priority::low, "low"},
}};

}  // namespace

std::string_view to_string(Priority priority) noexcept { return detail::name_of(kPriorityNames, priority); }
std::optional<Priority> parse_priority(std::string_view text) noexcept {
  return detail::parse_name(kPriorityNames, text);
}

}  // namespace svckit
