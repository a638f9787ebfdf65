// HTTP message types shared by the server, the client and the handlers (Boost.Beast, string bodies).
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/awaitable.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <nlohmann/json_fwd.hpp>

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

/// A JSON response with Content-Type set.
Response json_response(Status status, const nlohmann::json& body);
/// {"error":{"code":...,"message":...,"field":...}} with the status that fits error.code.
Response error_response(const Error& error);
/// HTTP status for an error code: invalid_argument 400, not_found 404, payload_too_large 413,
/// limit_exceeded 429, unavailable 503, timeout 504, cancelled 499, protocol 502, internal 500.
Status status_for(ErrorCode code) noexcept;
/// Reads {"error":{...}} from a response body; falls back to the status line.
Error error_from_response(const Response& response);

}  // namespace svckit::http
