// HTTP message types shared by the server, the client and the handlers (Boost.Beast, string bodies).
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "svckit/core/cancel_token.hpp"
#include "svckit/core/result.hpp"

namespace svckit::http {

namespace beast_http = boost::beast::http;
using Request = beast_http::request<beast_http::string_body>;
using RequestHead = beast_http::request_header<>;  // request line and fields, no body
using Response = beast_http::response<beast_http::string_body>;
using Status = beast_http::status;
using Verb = beast_http::verb;

template <class T>
using Awaitable = boost::asio::awaitable<T>;

/// Who sent a request (for X-Forwarded-For, access logs and per-client limits), and a way to learn
/// that the client went away while its request is being handled.
struct RequestContext {
  std::string remote_address;  // empty when the socket could not tell
  std::uint16_t remote_port = 0;
  /// Starts watching the connection for the client's close, and returns a token that is
  /// cancelled when it closes (or resets) before the answer is written — long polls pass it on
  /// so an abandoned wait ends at once and frees its slot. Created on the first call; later calls
  /// return the same token. Unset (empty function) when the server cannot watch (streaming).
  /// Call it only from the handler's coroutine.
  std::function<std::shared_ptr<CancelToken>()> watch_close;
};

/// A JSON response with Content-Type set.
Response json_response(Status status, const nlohmann::json& body);
/// {"error":{"code":...,"message":...,"field":...}} with the status that fits error.code.
Response error_response(const Error& error);
/// HTTP status for an error code: invalid_argument 400, not_found 404, payload_too_large 413,
/// limit_exceeded 429, unavailable 503, timeout 504, cancelled 499, protocol 502, internal 500,
/// unauthenticated 401, permission_denied 403.
Status status_for(ErrorCode code) noexcept;
/// Reads {"error":{...}} from a response body; falls back to the status line.
Error error_from_response(const Response& response);

}  // namespace svckit::http
