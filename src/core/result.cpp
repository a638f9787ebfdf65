#include "svckit/core/result.hpp"

#include "core/enum_names.hpp"

namespace svckit {
namespace {
constexpr detail::EnumNames<ErrorCode, 11> kNames{{
    {ErrorCode::invalid_argument, "invalid_argument"},
    {ErrorCode::not_found, "not_found"},
    {ErrorCode::limit_exceeded, "limit_exceeded"},
    {ErrorCode::payload_too_large, "payload_too_large"},
    {ErrorCode::unavailable, "unavailable"},
    {ErrorCode::timeout, "timeout"},
    {ErrorCode::cancelled, "cancelled"},
    {ErrorCode::protocol, "protocol"},
    {ErrorCode::internal, "internal"},
    {ErrorCode::unauthenticated, "unauthenticated"},
    {ErrorCode::permission_denied, "permission_denied"},
}};
}  // namespace

std::string_view to_string(ErrorCode code) noexcept { return detail::name_of(kNames, code); }

ErrorCode error_code_from_string(std::string_view name) noexcept {
  return detail::parse_name(kNames, name).value_or(ErrorCode::internal);
}

std::string Error::describe() const {
  std::string out{to_string(code)};
  out += ": ";
  out += message;
  if (!field.empty()) {
    out += " (field: ";
    out += field;
    out += ")";
  }
  return out;
}

}  // namespace svckit
