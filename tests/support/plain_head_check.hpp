// Holds the client's fast response-head parser (src/http/response_head.hpp) to Beast's: wherever
// the fast path takes a head, Beast's response parser must take the same bytes and read the same
// version, status, reason, fields (names, ids, values, order), Content-Length, keep-alive and body
// length. Shared by the unit tests and the fuzz target.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <limits>
#include <string>
#include <string_view>

#include "src/http/response_head.hpp"

namespace svckit::http::testing {

/// What the fast path's reading of `text`'s head and Beast's differ in; empty when they agree or
/// the fast path does not take the head. `taken` (optional) tells whether it took it.
inline std::string plain_head_disagreement(std::string_view text, bool head_request, bool* taken = nullptr) {
  if (taken != nullptr) *taken = false;
  const auto end = detail::response_head_end(text);
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
  auto a = fast.begin();
  auto b = slow.begin();
  for (; a != fast.end() && b != slow.end(); ++a, ++b) {
    if (a->name() != b->name() || a->name_string() != b->name_string() || a->value() != b->value()) {
      return "field " + std::string(b->name_string());
    }
  }
  if (a != fast.end() || b != slow.end()) return "field count";
  if (facts->keep_alive != parser.keep_alive()) return "keep-alive";
  const auto length = parser.content_length();
  if (facts->content_length.has_value() != length.has_value() || (length && *facts->content_length != *length)) {
    return "content length";
  }
  if (parser.is_done() != (facts->body_bytes == 0)) return "body or not";
  if (!parser.is_done() && (!length || facts->body_bytes != *length)) return "body length";
  return {};
}

}  // namespace svckit::http::testing
