// One name table per enum, looked up both ways (internal to the library).
#pragma once

#include <array>
#include <optional>
#include <string_view>
#include <utility>

namespace svckit::detail {

template <class E, std::size_t N>
using EnumNames = std::array<std::pair<E, std::string_view>, N>;

/// The table's name for `value`; REQUIRES: every enumerator is in the table (tests check this).
template <class E, std::size_t N>
constexpr std::string_view name_of(const EnumNames<E, N>& names, E value) noexcept {
  for (const auto& [e, name] : names) {
    if (e == value) return name;
  }
  return "unknown";
}

template <class E, std::size_t N>
constexpr std::optional<E> parse_name(const EnumNames<E, N>& names, std::string_view text) noexcept {
  for (const auto& [e, name] : names) {
    if (name == text) return e;
  }
  return std::nullopt;
}

}  // namespace svckit::detail
