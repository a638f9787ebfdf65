// Internal to http/: one accepted server connection, and the loop that serves a StreamHandler on it.
#pragma once

#include <algorithm>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "http/plain_head.hpp"
#include "http/watchdog.hpp"
#include "svckit/http/server.hpp"

namespace svckit::http::detail {

/// One accepted connection. Its socket's executor is a strand; the watchdog's timer runs there too.
struct ServerConnection {
  explicit ServerConnection(boost::asio::ip::tcp::socket s) : socket(std::move(s)) {}
  boost::asio::ip::tcp::socket socket;
  std::shared_ptr<Watchdog> watchdog;  // read/idle/write deadlines, lazily (watchdog.hpp)
  bool idle = true;                    // only touched on the connection's strand
  std::string wire;                    // an answer being written (wire.hpp): its capacity is reused
  void arm(std::chrono::milliseconds d) { watchdog->arm(Watchdog::Clock::now() + d); }
};

/// The answer to a request that could not be read: 413 (body over max_body_bytes), 431 (headers
/// over max_header_bytes), 400 (malformed), all with Connection: close; nullopt when the peer
/// just went away or timed out (nothing to answer).
std::optional<Response> answer_unreadable(const boost::system::error_code& ec, const ServerOptions& options);

/// A request head whose framing cannot be trusted, answered and followed by a close (its body,
/// if any, is never parsed as a request — RFC 9112 6.1 and 6.3, request smuggling):
/// a Transfer-Encoding whose final coding is not `chunked`, or `chunked` twice → 400; another
/// coding before `chunked` (gzip, deflate, ...) → 501; an HTTP/1.1 request without Host → 400.
/// nullopt when the head is fine.
std::optional<Response> refuse_framing(const RequestHead& head);

/// Looks at what `buffer` holds of a request's head: true when reading can stop — a whole plain
/// request without a body parsed into `plain` and `head` (plain_head.hpp; its bytes are still in
/// the buffer), or a head that is not plain, or `limit` bytes (min(kMaxPlainHead,
/// max_header_bytes)) without a whole head (`plain` empty: Beast's parser reads those bytes
/// instead); false while more bytes are needed. `scanned` (0 for a new head) carries where the
/// next look starts.
inline bool request_head_read(const boost::beast::flat_buffer& buffer, std::size_t limit, RequestHead& head,
                              std::optional<PlainHead>& plain, std::size_t& scanned) {
  const std::string_view held(static_cast<const char*>(buffer.data().data()), buffer.size());
  if (const auto end = head_end(held, limit, scanned)) {
    plain = parse_plain_request_head(held.substr(0, end), head);
    return true;
  }
  scanned = scan_resume(held);
  return held.size() >= limit;
}

/// A read of a request's head failed: the error Beast's read_header would give (an end of stream
/// before a byte is end_of_stream, after some partial_message).
boost::system::error_code head_read_failed(const boost::system::error_code& ec,
                                           const boost::beast::flat_buffer& buffer);

/// Waits until the client's side of `connection` becomes readable, and cancels `gone` if that was
/// its close or a reset (not a pipelined request). Ends quietly when the wait is cancelled.
Awaitable<void> watch_for_close(std::shared_ptr<ServerConnection> connection, std::shared_ptr<CancelToken> gone);

/// Waits through keep-alive silence for the next request's first byte (the caller arms the idle
/// deadline) and reads what has arrived into `buffer`. A read, not a readiness wait: on a plain
/// socket Asio queues it on the descriptor it already watches (a wait would re-arm epoll, one
/// epoll_ctl per request); under TLS the request may already sit decrypted, or read but not yet
/// decrypted, inside the TLS layer (it often arrives with the handshake's last flight), where the
/// socket's readiness could not see it anyway. The buffer grows to at most 16 KiB here (1 KiB for
/// a connection that never needed more), so idle connections stay small.
template <class Stream>
Awaitable<boost::system::error_code> await_next_request(Stream& stream, boost::beast::flat_buffer& buffer) {
  namespace asio = boost::asio;
  boost::system::error_code ec;
  const auto room = std::clamp(buffer.capacity(), std::size_t{1024}, std::size_t{16 * 1024});
  const auto n = co_await stream.async_read_some(buffer.prepare(room), asio::redirect_error(asio::use_awaitable, ec));
  buffer.commit(n);
  co_return ec;
}

/// What the streaming loop needs from its server.
struct StreamingServerState {
  const ServerOptions& options;
  const StreamHandler& handler;
  const std::atomic<bool>& shutting_down;
  std::atomic<std::uint64_t>& requests;
};

/// Serves requests on `connection` with a StreamHandler until the connection ends.
Awaitable<void> serve_streaming(ServerConnection& connection, boost::beast::flat_buffer& buffer,
                                const RequestContext& context, StreamingServerState server);
/// The same over `tls`, a TLS session (its handshake done) on the connection's socket.
Awaitable<void> serve_streaming(boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>& tls,
                                ServerConnection& connection, boost::beast::flat_buffer& buffer,
                                const RequestContext& context, StreamingServerState server);

}  // namespace svckit::http::detail
