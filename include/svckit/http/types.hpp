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
#include <string_view>

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
/// An answer's body produced piece by piece while it is written, so a large answer costs the
/// server one piece per connection instead of the whole text (svckitd's instance lists: a slow or
/// stalled reader holds a few bytes per instance, not a copy of the list). Used from the
/// connection's strand only.
class AnswerSource {
 public:
  virtual ~AnswerSource() = default;
  /// The body's length in bytes (sent as the Content-Length; next() must produce exactly this).
  virtual std::uint64_t size() const = 0;
  /// Memory this source holds while it is written (counted against the server's
  /// max_buffered_response_bytes like a buffered answer's body).
  virtual std::size_t held_bytes() const = 0;
  /// The next piece, valid until the next call; empty at the end.
  virtual std::string_view next() = 0;
};

struct RequestContext {
  std::string remote_address;  // empty when the socket could not tell
  std::uint16_t remote_port = 0;
  /// Starts watching the connection for the client's close, and returns a token that is
  /// cancelled when it closes (or resets) before the answer is written — long polls pass it on
  /// so an abandoned wait ends at once and frees its slot. Created on the first call; later calls
  /// return the same token. Unset (empty function) when the server cannot watch (streaming).
  /// Call it only from the handler's coroutine.
  std::function<std::shared_ptr<CancelToken>()> watch_close;
  /// Set by HttpServer for buffered handlers: the answer the handler returns (its status and
  /// headers; its body must be empty) gets its body from `source`, written piece by piece as the
  /// client reads. Unset when the server cannot stream (then build the body whole). Call it only
  /// from the handler's coroutine, at most once per request.
  std::function<void(std::unique_ptr<AnswerSource> source)> stream_body;
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
