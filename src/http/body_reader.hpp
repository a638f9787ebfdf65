// read_body_some: feeds a request parser from a socket, like Beast's async_read_some, but refuses
// chunked framing that Beast 1.74 would wait on forever (internal to http/).
//
// Beast's chunk parser looks for CRLF only: a chunk-size line ended by a bare LF is never
// complete, so the read waits for bytes that will not come (until the read timeout, when the
// connection is closed without an answer) and a line without CR grows the buffer for as long as
// the client sends. Here a line the parser is waiting on is checked each time it stalls: a bare LF
// (RFC 9112 7.1 requires CRLF) or a line over kMaxFramingLine bytes fails with bad_chunk.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <string_view>

#include "svckit/http/types.hpp"

namespace svckit::http::detail {

/// Longest chunk-size line (with extensions) or trailer line accepted while the parser waits.
inline constexpr std::size_t kMaxFramingLine = 8 * 1024;

/// True when the bytes a stalled parser has left over cannot become a valid line.
inline bool stalled_line_is_malformed(std::string_view pending) {
  if (pending.size() > kMaxFramingLine) return true;
  for (std::size_t i = 0; i < pending.size(); ++i) {
    if (pending[i] == '\n' && (i == 0 || pending[i - 1] != '\r')) return true;
  }
  return false;
}

/// Parses what `buffer` holds and reads from `socket` until the parser made progress (consumed
/// bytes), finished, or failed. need_buffer (a buffer_body piece is full) is reported as success.
/// Errors: Beast's (bad_chunk for the framing above, partial_message at an early end of stream) or
/// the socket's.
template <class Stream, class Parser>
Awaitable<boost::system::error_code> read_body_some(Stream& socket, boost::beast::flat_buffer& buffer, Parser& parser) {
  namespace asio = boost::asio;
  for (;;) {
    boost::system::error_code ec;
    if (buffer.size() != 0) {
      const auto used = parser.put(buffer.data(), ec);
      buffer.consume(used);
      if (ec == beast_http::error::need_buffer) co_return boost::system::error_code{};
      if (ec != beast_http::error::need_more) co_return ec;  // success (progress or done) or a parse error
      if (used != 0 || parser.is_done()) co_return boost::system::error_code{};
      const auto pending = buffer.data();
      if (parser.chunked() &&
          stalled_line_is_malformed(std::string_view(static_cast<const char*>(pending.data()), pending.size()))) {
        co_return beast_http::error::bad_chunk;
      }
    }
    const auto n =
        co_await socket.async_read_some(buffer.prepare(64 * 1024), asio::redirect_error(asio::use_awaitable, ec));
    buffer.commit(n);
    if (ec == asio::error::eof) {
      parser.put_eof(ec);
      if (!ec) co_return ec;
      co_return beast_http::error::partial_message;
    }
    if (ec) co_return ec;
  }
}

}  // namespace svckit::http::detail
