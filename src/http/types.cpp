#include "svckit/http/types.hpp"
#include "svckit/core/instance_json.hpp"

#include <nlohmann/json.hpp>

namespace svckit::http {

Response json_response(Status status, const nlohmann::json& body) {
  Response res{status, 11};
  res.set(beast_http::field::content_type, "application/json");
  // Error messages may quote client input: invalid UTF-8 is replaced (U+FFFD), never a throw.
  res.body() = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  res.prepare_payload();
  return res;
}

Status status_for(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::invalid_argument:
      return Status::bad_request;
    case ErrorCode::not_found:
      return Status::not_found;
    case ErrorCode::payload_too_large:
      return Status::payload_too_large;
    case ErrorCode::limit_exceeded:
      return Status::too_many_requests;
    case ErrorCode::unavailable:
      return Status::service_unavailable;
    case ErrorCode::timeout:
      return Status::gateway_timeout;
    case ErrorCode::cancelled:
      return static_cast<Status>(499);
    case ErrorCode::protocol:
      return Status::bad_gateway;
    case ErrorCode::internal:
      return Status::internal_server_error;
    case ErrorCode::unauthenticated:
      return Status::unauthorized;
    case ErrorCode::permission_denied:
      return Status::forbidden;
  }
  return Status::internal_server_error;
}

Response error_response(const Error& error) {
  nlohmann::json inner{{"code", std::string(to_string(error.code))}, {"message", error.message}};
  if (!error.field.empty()) inner["field"] = error.field;
  return json_response(status_for(error.code), nlohmann::json{{"error", inner}});
}

Error error_from_response(const Response& response) {
  auto body = parse_json_or_discarded(response.body());
  if (body.is_object() && body.contains("error") && body["error"].is_object()) {
    const auto& e = body["error"];
    Error out;
    out.code = error_code_from_string(e.value("code", "internal"));
    out.message = e.value("message", "");
    out.field = e.value("field", "");
    return out;
  }
  const auto code = response.result_int();
  ErrorCode kind = code == 404   ? ErrorCode::not_found
                   : code == 400 ? ErrorCode::invalid_argument
                   : code == 401 ? ErrorCode::unauthenticated
                   : code == 403 ? ErrorCode::permission_denied
                   : code == 413 ? ErrorCode::payload_too_large
                   : code == 429 ? ErrorCode::limit_exceeded
                   : code == 503 ? ErrorCode::unavailable
                   : code == 504 ? ErrorCode::timeout
                                 : ErrorCode::protocol;
  return make_error(kind, "HTTP " + std::to_string(code) + " " + std::string(response.reason()));
}

}  // namespace svckit::http
