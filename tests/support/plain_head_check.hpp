// Holds the fast head parsers (src/http/plain_head.hpp) to Beast's: wherever the fast path takes a
// head, Beast's parser must take the same bytes and read the same start line (version and status
// and reason, or method and target), fields (names, ids, values, order), Content-Length,
// keep-alive and body length. Shared by the unit tests and the fuzz target.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <limits>
#include <string>
#include <string_view>

#include "src/http/plain_head.hpp"

namespace svckit::http::testing {

/// The fields of two heads, name by name: empty when they are the same, in the same order.
template <class Fields>
std::string fields_disagreement(const Fields& fast, const Fields& slow) {
  auto a = fast.begin();
  auto b = slow.begin();
  for (; a != fast.end() && b != slow.end(); ++a, ++b) {
    if (a->name() != b->name() || a->name_string() != b->name_string() || a->value() != b->value()) {
      return "field " + std::string(b->name_string());
    }
  }
  if (a != fast.end() || b != slow.end()) return "field count";
  return {};
}

/// What the fast path's reading of `text`'s head and Beast's differ in; empty when they agree or
/// the fast path does not take the head. `taken` (optional) tells whether it took it.
inline std::string plain_head_disagreement(std::string_view text, bool head_request, bool* taken = nullptr) {
  if (taken != nullptr) *taken = false;
  const auto end = detail::head_end(text);
  if (end == 0) return {};
  const auto head = text.substr(0, end);
  Response fast;
  const auto facts = detail::parse_plain_response_head(head, head_request, fast);
  if (!facts) return {};
  if (taken != nullptr) *taken = true;

  beast_http::response_parser<beast_http::buffer_body> parser;
  parser.skip(head_request);
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  boost::system::error_code ec;
  const auto used = parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (ec) return "Beast refuses the head: " + ec.message();
  if (!parser.is_header_done() || used != head.size()) return "Beast did not read the whole head";
  const auto& slow = parser.get();
  if (facts->head_bytes != head.size()) return "head size";
  if (fast.version() != slow.version()) return "version";
  if (fast.result_int() != slow.result_int()) return "status";
  if (fast.reason() != slow.reason()) return "reason";
  if (auto differs = fields_disagreement(fast.base(), slow.base()); !differs.empty()) return differs;
  if (facts->keep_alive != parser.keep_alive()) return "keep-alive";
  const auto length = parser.content_length();
  if (facts->content_length.has_value() != length.has_value() || (length && *facts->content_length != *length)) {
    return "content length";
  }
  if (parser.is_done() != (facts->body_bytes == 0)) return "body or not";
  if (!parser.is_done() && (!length || facts->body_bytes != *length)) return "body length";
  return {};
}

/// The same for a request head (the streaming server's fast path), read with `header_limit`.
inline std::string plain_request_disagreement(std::string_view text, std::size_t header_limit = 8192,
                                              bool* taken = nullptr) {
  if (taken != nullptr) *taken = false;
  const auto end = detail::head_end(text, header_limit);
  if (end == 0) return {};
  const auto head = text.substr(0, end);
  RequestHead fast;
  const auto facts = detail::parse_plain_request_head(head, fast);
  if (!facts) return {};
  if (taken != nullptr) *taken = true;

  beast_http::request_parser<beast_http::buffer_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(header_limit));
  parser.body_limit(std::numeric_limits<std::uint64_t>::max());
  boost::system::error_code ec;
  const auto used = parser.put(boost::asio::buffer(head.data(), head.size()), ec);
  if (ec) return "Beast refuses the head: " + ec.message();
  if (!parser.is_done() || used != head.size()) return "Beast did not read the whole request";
  const auto& slow = parser.get();
  if (facts->head_bytes != head.size() || facts->body_bytes != 0) return "sizes";
  if (fast.version() != slow.version()) return "version";
  if (fast.method() != slow.method() || fast.method_string() != slow.method_string()) return "method";
  if (fast.target() != slow.target()) return "target";
  if (auto differs = fields_disagreement(fast, slow.base()); !differs.empty()) return differs;
  if (facts->keep_alive != parser.keep_alive()) return "keep-alive";
  const auto length = parser.content_length();
  if (facts->content_length.has_value() != length.has_value() || (length && *facts->content_length != *length)) {
    return "content length";
  }
  return {};
}

}  // namespace svckit::http::testing
