// Result<T>: a value or an Error. Used on every request path instead of exceptions.
#pragma once

#include <cassert>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace svckit {

/// Kinds of failure; stable names are part of the HTTP API (see to_string).
enum class ErrorCode {
  invalid_argument,   // bad input; `field` names the offending field
  not_found,          // unknown service or instance
  limit_exceeded,     // a configured limit (instances per service, watchers) was hit
  payload_too_large,  // body or header over the configured size
  unavailable,        // backend or peer unreachable; retrying may help
  timeout,            // deadline passed
  cancelled,          // the caller cancelled the operation
  protocol,           // the peer answered something we cannot understand
  internal,           // a bug or an unexpected state
  unauthenticated,    // no credential, or one svckitd does not know (HTTP 401)
  permission_denied,  // a known credential that does not grant the access asked for (HTTP 403)
};

std::string_view to_string(ErrorCode code) noexcept;
/// Parses the names printed by to_string; unknown names map to `internal`.
ErrorCode error_code_from_string(std::string_view name) noexcept;

struct Error {
  ErrorCode code = ErrorCode::internal;
  std::string message;
  std::string field;  // the input field at fault, when the error is about input

  /// "invalid_argument: port must be in 1..65535 (field: port)".
  std::string describe() const;
};

inline Error make_error(ErrorCode code, std::string message, std::string field = {}) {
  return Error{code, std::move(message), std::move(field)};
}

/// A value of T or an Error. Accessing the wrong alternative is a programming error (asserted).
template <class T>
class [[nodiscard]] Result {
 public:
  /// An `internal` error until assigned (needed by generic code such as std::future).
  Result() : v_(std::in_place_index<1>, Error{ErrorCode::internal, "result not set", {}}) {}
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

  bool ok() const noexcept { return ok_; }
  explicit operator bool() const noexcept { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

}  // namespace svckit
