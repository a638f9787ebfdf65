#include "svckit/http/client.hpp"

#include <array>

#include <sys/socket.h>
#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <cerrno>
#include <charconv>
#include <deque>
#include <limits>
#include <optional>

#include "core/per_thread_cache.hpp"
#include "http/plain_head.hpp"
#include "http/watchdog.hpp"
#include "http/wire.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/core/wait_list.hpp"
#include "svckit/net/tls_context.hpp"

namespace svckit::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct HttpClient::CachedAddress {
  tcp::resolver::results_type results;
  Clock::time_point expires;
};

struct HttpClient::Tls {
  std::shared_ptr<asio::ssl::context> context;
};

struct HttpClient::Endpoint {
  std::mutex mutex;
  std::vector<std::shared_ptr<Connection>> idle;  // guarded by mutex
  std::size_t open = 0;                           // guarded by mutex: connections alive, busy or idle
  WaitList waiters;                               // requests waiting for a connection (own lock)
  /// A connection came free (or a slot): the oldest waiter still waiting gets it; one that timed
  /// out as it was picked takes it anyway, one destroyed first passes it on (WaitList).
  void wake_one_locked() { waiters.notify_one(); }
};

/// One pooled connection. Timeouts come from a lazy Watchdog (watchdog.hpp) rather than a timer
/// per operation; a timeout or a cancel shuts the socket down.
struct HttpClient::Connection {
  Connection(const asio::any_io_executor& ex, asio::ssl::context* tls, std::shared_ptr<Endpoint> owner)
      : home(std::move(owner)) {
    if (tls != nullptr) {
      secure.emplace(ex, *tls);
    } else {
      plain.emplace(ex);
    }
    // Beast reads at most (capacity - size) bytes per call: a small buffer turns a 3 MB answer
    // into thousands of 512-byte reads.
    buffer.reserve(kReadBuffer);
  }
  static constexpr std::size_t kReadBuffer = std::size_t{64} * 1024;
  /// Idle connections past this many per endpoint give their read buffer back (it is reserved
  /// again when they are used): a pool that keeps every connection of a burst until idle_timeout
  /// then holds no more buffers than one that kept only these.
  static constexpr std::size_t kIdleWithBuffer = 32;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  /// Gives the endpoint's slot back. Never destroy a connection while holding home->mutex.
  ~Connection() {
    std::lock_guard lock(home->mutex);
    --home->open;
    home->wake_one_locked();
  }
  tcp::socket& socket() { return secure ? secure->next_layer() : *plain; }

  /// A pooled connection may carry nothing between exchanges. Bytes already buffered past the
  /// last answer, or waiting on the socket (a server that wrote a second answer, or more than its
  /// Content-Length), would be read as the next caller's answer; an end of stream means the server
  /// closed it. Either way the connection must not be reused. For TLS only the buffered bytes are
  /// checked: a TLS 1.3 server may send session tickets that are not answer bytes.
  bool clean_for_reuse() {
    if (buffer.size() != 0) return false;
    if (secure) return true;
    char byte = 0;
    const auto n = ::recv(socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
  }

  /// Ends whatever is in progress (cancel, timeout): the connection is not reused.
  void abort(bool by_timeout) {
    if (by_timeout) timed_out = true;
    boost::system::error_code ec;
    socket().shutdown(tcp::socket::shutdown_both, ec);
    socket().cancel(ec);
  }
  void arm(Clock::time_point deadline) { watchdog->arm(deadline); }
  void disarm() { watchdog->disarm(); }

  std::shared_ptr<Endpoint> home;
  std::optional<tcp::socket> plain;
  std::optional<beast::ssl_stream<tcp::socket>> secure;
  std::shared_ptr<detail::Watchdog> watchdog;  // set right after construction (it needs a weak_ptr to us)
  beast::flat_buffer buffer;
  std::string wire;  // the request being written (wire.hpp): kept, so its capacity is reused
  std::size_t requests = 0;
  Clock::time_point idle_since{};
  std::atomic<bool> timed_out{false};
};

/// What acquire() hands out: a pooled connection, or a reserved slot to open a new one.
struct HttpClient::Slot {
  std::shared_ptr<Connection> reused;  // null: open a new connection (the slot is counted in `open`)
};

namespace {

constexpr std::size_t kStreamChunk = std::size_t{64} * 1024;

/// "[https://]host:port", written in place: no temporaries on the request path.
std::string pool_key(const net::HostPort& ep) {
  char port[8];
  const auto end = std::to_chars(port, port + sizeof port, ep.port).ptr;
  std::string key;
  // Exactly its size: an IPv4 "host:port" then fits the string's own buffer (no allocation).
  key.reserve((ep.tls ? 8 : 0) + ep.host.size() + 1 + static_cast<std::size_t>(end - port));
  if (ep.tls) key.append("https://");
  key.append(ep.host).append(1, ':').append(port, end);
  return key;
}

/// What one exchange on one connection came to.
struct Exchange {
  Response response;
  bool got_some = false;  // any byte of the answer arrived (a stale connection is ruled out)
  bool pulled = false;    // the request body source was pulled: the request cannot be sent again
  bool keep_alive = false;
  std::optional<Error> sink;  // a streaming callback (source, head or body sink) failed
};

/// Writes a request whose body comes from `source`, piece by piece (Beast's buffer_body relay).
template <class Stream>
Awaitable<boost::system::error_code> write_streamed(Stream& stream, Request& request, const BodySource& source,
                                                    Exchange& out) {
  beast_http::request<beast_http::buffer_body> head(request.base());  // a copy: a stale connection resends it
  if (!head.has_content_length()) head.chunked(true);
  head.body().data = nullptr;
  head.body().more = true;
  beast_http::request_serializer<beast_http::buffer_body> serializer(head);
  boost::system::error_code ec;
  co_await beast_http::async_write_header(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return ec;
  for (;;) {
    out.pulled = true;
    auto piece = co_await source();
    if (!piece) {
      out.sink = piece.error();
      co_return asio::error::operation_aborted;
    }
    head.body().data = piece->empty() ? nullptr : const_cast<char*>(piece->data());  // NOLINT: Beast's API
    head.body().size = piece->size();
    head.body().more = !piece->empty();
    co_await beast_http::async_write(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == beast_http::error::need_buffer) ec = {};
    if (ec || piece->empty()) co_return ec;
  }
}

/// A body of a declared length is read straight into the answer's string: Beast's string body
/// reader copies every byte once more out of the connection's buffer (and zero-fills the string
/// before it copies). What the buffer already holds goes first; the rest is read into the string's
/// tail, grown by at most kDirectPiece at a time, so a server that declares a large body and sends
/// little makes the client commit little memory. Bytes past the body stay in the buffer (the
/// connection is then not reused, see clean_for_reuse).
constexpr std::size_t kDirectPiece = std::size_t{256} * 1024;

/// Takes the body's bytes the buffer holds; true when that was all of it.
bool take_buffered_body(beast::flat_buffer& buffer, std::string& body, std::uint64_t length) {
  body.clear();
  body.reserve(length);  // address space only: the pages are touched as bytes arrive
  const auto have = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), length));
  body.append(static_cast<const char*>(buffer.data().data()), have);
  buffer.consume(have);
  return body.size() == length;
}

/// Reads the rest of a declared-length body into `body` (after take_buffered_body).
template <class Stream>
Awaitable<boost::system::error_code> read_body_rest(Stream& stream, std::string& body, std::uint64_t length) {
  boost::system::error_code ec;
  // The string grows (zero-filled) only when the bytes read so far fill it: each byte is filled
  // once however the peer splits its writes (a peer sending a byte at a time costs no 256 KiB
  // fill per byte).
  std::size_t filled = body.size();
  while (filled < length) {
    if (filled == body.size()) {
      body.resize(filled + static_cast<std::size_t>(std::min<std::uint64_t>(length - filled, kDirectPiece)));
    }
    const auto n = co_await stream.async_read_some(asio::buffer(body.data() + filled, body.size() - filled),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    filled += n;
    if (ec) break;
  }
  body.resize(filled);
  // The stream ended before the declared length: what Beast's parser reports.
  if (ec == asio::error::eof) co_return beast_http::error::partial_message;
  co_return ec;
}

/// After the head: whether the body has a declared length still to read (not chunked, not
/// skipped, not empty, not read to the end of the stream).
template <class Parser>
std::optional<std::uint64_t> sized_body(const Parser& parser) {
  if (parser.is_done() || parser.chunked()) return std::nullopt;
  const auto length = parser.content_length();  // none: the body runs to the end of the stream
  if (!length) return std::nullopt;
  return *length;
}

/// Looks at what `buffer` holds of an answer's head: true when reading can stop — a whole plain head
/// parsed into `plain` and `response` (plain_head.hpp; its bytes are still in the buffer), or a
/// head that is not plain, or more bytes than a plain head may have (`plain` empty: Beast's parser
/// reads those bytes instead); false while more bytes are needed. `scanned` (0 for a new head)
/// carries where the next look starts.
bool head_read(const beast::flat_buffer& buffer, bool head_request, Response& response,
               std::optional<detail::PlainHead>& plain, std::size_t& scanned) {
  const std::string_view held(static_cast<const char*>(buffer.data().data()), buffer.size());
  if (const auto end = detail::head_end(held, detail::kMaxPlainHead, scanned)) {
    plain = detail::parse_plain_response_head(held.substr(0, end), head_request, response);
    return true;
  }
  scanned = detail::scan_resume(held);
  return held.size() >= detail::kMaxPlainHead;
}

/// A plain answer's head taken (head_read): its bytes leave the buffer, and the body's bytes the
/// buffer already holds go into the answer. Returns the exchange's result when that is all of it
/// (or the body is over `limit`, as Beast's parser would refuse it); nullopt when the rest of the
/// body is still to be read (read_body_rest).
std::optional<boost::system::error_code> take_plain_answer(beast::flat_buffer& buffer, const detail::PlainHead& plain,
                                                           std::size_t limit, Exchange& out) {
  buffer.consume(plain.head_bytes);
  out.got_some = true;
  out.keep_alive = plain.keep_alive;
  if (plain.body_bytes > limit) return beast_http::error::body_limit;
  if (plain.body_bytes == 0 || take_buffered_body(buffer, out.response.body(), plain.body_bytes)) {
    return boost::system::error_code{};
  }
  return std::nullopt;
}

/// A read of the head failed: the error Beast's read_header would give (an end of stream before a
/// byte is end_of_stream, after some partial_message), and whether any byte arrived.
boost::system::error_code head_read_failed(boost::system::error_code ec, const beast::flat_buffer& buffer,
                                           Exchange& out) {
  out.got_some = buffer.size() > 0;
  if (ec == asio::error::eof)
    return out.got_some ? beast_http::error::partial_message : beast_http::error::end_of_stream;
  return ec;
}

/// The request as at most two pieces: head (and a small body) in `wire`, then a large body.
std::array<asio::const_buffer, 2> wire_pieces(std::string& wire, const Request& request) {
  const auto rest = detail::to_wire(wire, request);
  return {asio::buffer(wire), asio::buffer(rest.data(), rest.size())};
}

/// Writes the request and reads the whole response on a plain or a TLS stream. `wire` is the
/// connection's buffer for the request's bytes.
template <class Stream>
Awaitable<boost::system::error_code> round_trip(Stream& stream, Request& request, std::string& wire,
                                                beast::flat_buffer& buffer, std::size_t limit, Exchange& out) {
  boost::system::error_code ec;
  const bool head_request = request.method() == beast_http::verb::head;
  if (!request.chunked()) {  // one contiguous write (wire.hpp)
    const auto pieces = wire_pieces(wire, request);
    co_await asio::async_write(stream, pieces, asio::redirect_error(asio::use_awaitable, ec));
    detail::keep_wire_small(wire);
  } else {  // Beast frames the chunks
    beast_http::request_serializer<beast_http::string_body> serializer{request};
    co_await beast_http::async_write(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec) co_return ec;
  // A plain head is read whole and parsed in one pass (plain_head.hpp); any other goes to
  // Beast's parser below, which reads the same bytes from the buffer.
  std::optional<detail::PlainHead> plain;
  std::size_t scanned = 0;
  while (!head_read(buffer, head_request, out.response, plain, scanned)) {
    const auto n = co_await stream.async_read_some(buffer.prepare(beast::read_size(buffer, detail::kHeadReadSize)),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    buffer.commit(n);
    if (ec) co_return head_read_failed(ec, buffer, out);
  }
  if (plain) {
    if (const auto done = take_plain_answer(buffer, *plain, limit, out)) co_return *done;
    co_return co_await read_body_rest(stream, out.response.body(), plain->body_bytes);
  }
  beast_http::response_parser<beast_http::string_body> parser;
  parser.body_limit(limit);   // checked against the Content-Length as the head is parsed
  parser.skip(head_request);  // an answer to HEAD has a Content-Length but no body
  co_await beast_http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  out.got_some = parser.got_some();
  if (ec) co_return ec;
  if (const auto length = sized_body(parser)) {
    if (*length > limit) co_return beast_http::error::body_limit;  // as the parser would have
    out.keep_alive = parser.keep_alive();
    out.response = parser.release();
    if (!take_buffered_body(buffer, out.response.body(), *length)) {
      ec = co_await read_body_rest(stream, out.response.body(), *length);
    }
    co_return ec;
  }
  co_await beast_http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return ec;
  out.keep_alive = parser.keep_alive();
  out.response = parser.release();
  co_return ec;
}

/// As round_trip, but streamed: the request body from the source, and the head and body of an
/// answer below 400 to the sinks, through a fixed buffer.
template <class Stream>
Awaitable<boost::system::error_code> round_trip_streaming(Stream& stream, Request& request, std::string& wire,
                                                          beast::flat_buffer& buffer, std::size_t limit,
                                                          const Streaming& streaming, Exchange& out) {
  const bool head_request = request.method() == beast_http::verb::head;
  boost::system::error_code ec;
  if (streaming.request_body) {
    ec = co_await write_streamed(stream, request, streaming.request_body, out);
  } else if (!request.chunked()) {  // written here, not in a coroutine of its own; one contiguous write
    const auto pieces = wire_pieces(wire, request);
    co_await asio::async_write(stream, pieces, asio::redirect_error(asio::use_awaitable, ec));
    detail::keep_wire_small(wire);
  } else {  // Beast frames the chunks
    beast_http::request_serializer<beast_http::string_body> serializer{request};
    co_await beast_http::async_write(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec) co_return ec;
  // A plain head read whole and parsed in one pass (as in round_trip) when the answer is then
  // buffered; an answer that will be streamed to the sinks goes to Beast's parser, from the start.
  std::optional<detail::PlainHead> plain;
  std::size_t scanned = 0;
  while (!head_read(buffer, head_request, out.response, plain, scanned)) {
    const auto n = co_await stream.async_read_some(buffer.prepare(beast::read_size(buffer, detail::kHeadReadSize)),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    buffer.commit(n);
    if (ec) co_return head_read_failed(ec, buffer, out);
  }
  if (plain && (out.response.result_int() >= 400 || !streaming.on_body ||
                (plain->content_length && *plain->content_length <= streaming.buffer_up_to))) {
    if (const auto done = take_plain_answer(buffer, *plain, limit, out)) co_return *done;
    co_return co_await read_body_rest(stream, out.response.body(), plain->body_bytes);
  }
  beast_http::response_parser<beast_http::buffer_body> head;
  // Not boost::none: Beast 1.74 compares `len_ > body_limit_` on the optional, so "no limit"
  // refuses every body with a Content-Length.
  head.body_limit(std::numeric_limits<std::uint64_t>::max());
  head.skip(head_request);
  co_await beast_http::async_read_header(stream, buffer, head, asio::redirect_error(asio::use_awaitable, ec));
  out.got_some = head.got_some();
  if (ec) co_return ec;
  const auto length = head.content_length();
  const bool small = length && *length <= streaming.buffer_up_to;
  if (head.get().result_int() >= 400 || !streaming.on_body || small) {  // buffered (bounded)
    // The limit is checked against the Content-Length before a byte of the body is read (Beast
    // checks body_limit only when it parses the header, and this parser's was unlimited).
    if (length && *length > limit) co_return beast_http::error::body_limit;
    if (const auto sized = sized_body(head)) {
      out.keep_alive = head.keep_alive();
      out.response = Response(std::move(head.release().base()));
      if (!take_buffered_body(buffer, out.response.body(), *sized)) {
        ec = co_await read_body_rest(stream, out.response.body(), *sized);
      }
      co_return ec;
    }
    beast_http::response_parser<beast_http::string_body> rest(std::move(head));
    rest.body_limit(limit);
    co_await beast_http::async_read(stream, buffer, rest, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return ec;
    out.keep_alive = rest.keep_alive();
    out.response = rest.release();
    co_return ec;
  }
  if (streaming.on_head) {
    const Response copy(head.get().base());
    if (auto taken = co_await streaming.on_head(copy); !taken) {
      out.sink = taken.error();
      co_return asio::error::operation_aborted;
    }
  }
  std::vector<char> chunk(kStreamChunk);
  while (!head.is_done()) {
    head.get().body().data = chunk.data();
    head.get().body().size = chunk.size();
    // read_some, not read: read() waits until the 64 KiB piece is full, which holds back a stream
    // of small messages (an etcd watch, server-sent events) until it ends.
    co_await beast_http::async_read_some(stream, buffer, head, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == beast_http::error::need_buffer) ec = {};
    if (ec) co_return ec;
    const std::size_t n = chunk.size() - head.get().body().size;
    if (n == 0) continue;
    if (auto taken = co_await streaming.on_body(std::string_view(chunk.data(), n)); !taken) {
      out.sink = taken.error();
      co_return asio::error::operation_aborted;
    }
  }
  out.keep_alive = head.keep_alive();
  out.response = Response(std::move(head.release().base()));
  co_return ec;
}

Error from_asio(const boost::system::error_code& ec, const net::HostPort& ep, bool cancelled) {
  const auto where = " (" + pool_key(ep) + ")";
  if (cancelled) return make_error(ErrorCode::cancelled, "request cancelled" + where);
  if (ec == beast::error::timeout) return make_error(ErrorCode::timeout, "request timed out" + where);
  if (ec == beast_http::error::body_limit) {
    return make_error(ErrorCode::payload_too_large, "response body over the configured limit" + where);
  }
  if (ec.category() == beast_http::make_error_code(beast_http::error::bad_target).category() &&
      ec != beast_http::error::end_of_stream && ec != beast_http::error::partial_message) {
    return make_error(ErrorCode::protocol, "malformed HTTP response: " + ec.message() + where);
  }
  return make_error(ErrorCode::unavailable, ec.message() + where);
}

bool peer_closed(const boost::system::error_code& ec) {
  return ec == beast_http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == beast_http::error::partial_message;
}

}  // namespace

namespace {
std::atomic<std::uint64_t> next_http_client_id{1};
}  // namespace

HttpClient::HttpClient(asio::any_io_executor executor, ClientOptions options)
    : id_(next_http_client_id.fetch_add(1, std::memory_order_relaxed)),
      executor_(std::move(executor)),
      options_(std::move(options)) {}

// Idle connections hold their endpoint (home) and the endpoint holds them: break the cycle.
HttpClient::~HttpClient() { close_idle(); }

std::shared_ptr<HttpClient::Endpoint> HttpClient::endpoint_for(const std::string& key) {
  // A request takes no client-wide lock (one ServiceClient's pool serves every thread of an
  // application): each thread remembers the endpoints it used. Endpoints are never removed.
  thread_local svckit::detail::PerThreadCache<Endpoint> known;
  if (auto endpoint = known.find(id_, 0, key)) return endpoint;
  std::shared_ptr<Endpoint> endpoint;
  {
    std::lock_guard lock(mutex_);
    auto& slot = endpoints_[key];
    if (!slot) slot = std::make_shared<Endpoint>();
    endpoint = slot;
  }
  known.remember(key, endpoint);
  return endpoint;
}

std::optional<Result<HttpClient::Slot>> HttpClient::take_slot(Endpoint& endpoint, bool allow_idle,
                                                              std::optional<WaitList::Ticket>& ticket,
                                                              std::vector<std::shared_ptr<Connection>>& stale) {
  std::lock_guard lock(endpoint.mutex);
  const auto now = Clock::now();
  while (allow_idle && !endpoint.idle.empty()) {
    auto c = std::move(endpoint.idle.back());
    endpoint.idle.pop_back();
    if (now - c->idle_since < options_.idle_timeout && c->socket().is_open() && c->clean_for_reuse()) {
      return Slot{std::move(c)};
    }
    stale.push_back(std::move(c));
  }
  // Stale connections still count in `open` until destroyed: they leave after the lock.
  const std::size_t leaving = stale.size();
  if (options_.max_connections_per_endpoint == 0 || endpoint.open - leaving < options_.max_connections_per_endpoint) {
    ++endpoint.open;
    return Slot{};
  }
  const auto waiting = endpoint.waiters.waiting();
  if (waiting >= options_.max_pending_per_endpoint) {
    return make_error(ErrorCode::limit_exceeded, std::to_string(waiting) + " requests already wait for a connection");
  }
  ticket.emplace(endpoint.waiters.park());  // under the endpoint's lock: no give_back slips past
  return std::nullopt;
}

Awaitable<Result<HttpClient::Slot>> HttpClient::acquire(std::shared_ptr<Endpoint> endpoint, bool allow_idle,
                                                        Clock::time_point deadline, WaitList::Ticket ticket) {
  std::optional<WaitList::Ticket> waiting(std::move(ticket));
  for (;;) {
    ++pool_waits_;
    const auto left = std::max(deadline - Clock::now(), Clock::duration::zero());
    if (!co_await waiting->wait_for(left, sleeper_)) {
      co_return make_error(ErrorCode::timeout, "no free connection within the deadline (max_connections_per_endpoint " +
                                                   std::to_string(options_.max_connections_per_endpoint) + ")");
    }
    waiting.reset();
    std::vector<std::shared_ptr<Connection>> stale;  // destroyed after the lock is released
    auto taken = take_slot(*endpoint, allow_idle, waiting, stale);
    stale.clear();
    if (taken) co_return std::move(*taken);
  }
}

void HttpClient::give_back(Endpoint& endpoint, std::shared_ptr<Connection> connection) {
  if (options_.max_requests_per_connection != 0 && connection->requests >= options_.max_requests_per_connection) return;
  connection->idle_since = Clock::now();
  std::lock_guard lock(endpoint.mutex);
  if (endpoint.idle.size() >= options_.max_idle_per_endpoint) return;  // destroyed by the caller, unlocked
  if (endpoint.idle.size() >= Connection::kIdleWithBuffer) connection->buffer.shrink_to_fit();  // empty: freed
  endpoint.idle.push_back(std::move(connection));
  endpoint.wake_one_locked();
}

void HttpClient::close_idle() {
  std::vector<std::shared_ptr<Endpoint>> endpoints;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, e] : endpoints_) endpoints.push_back(e);
    dns_.clear();
  }
  for (const auto& e : endpoints) {
    std::vector<std::shared_ptr<Connection>> closing;
    {
      std::lock_guard lock(e->mutex);
      closing.swap(e->idle);
    }
  }
}

ClientStats HttpClient::stats() const {
  ClientStats out;
  std::vector<std::shared_ptr<Endpoint>> endpoints;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, e] : endpoints_) endpoints.push_back(e);
  }
  for (const auto& e : endpoints) {
    std::lock_guard lock(e->mutex);
    out.idle += e->idle.size();
    out.open += e->open;
  }
  out.requests = requests_.load();
  out.connections_opened = opened_.load();
  out.connections_reused = reused_.load();
  out.stale_retries = stale_retries_.load();
  out.dns_lookups = dns_lookups_.load();
  out.pool_waits = pool_waits_.load();
  return out;
}

ClientOptions client_options_for(const net::TlsFiles& tls) {
  ClientOptions options;
  options.ca_file = tls.ca_file;
  options.cert_file = tls.cert_file;
  options.key_file = tls.key_file;
  return options;
}

std::shared_ptr<HttpClient::Tls> HttpClient::tls_context(Error& error) {
  std::lock_guard lock(mutex_);
  if (tls_) return tls_;
  auto context =
      net::make_client_tls_context(options_.ca_file, options_.cert_file, options_.key_file, options_.verify_peer);
  if (!context) {
    error = context.error();
    return nullptr;
  }
  tls_ = std::make_shared<Tls>(Tls{std::move(*context)});
  return tls_;
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
Awaitable<Result<Response>> HttpClient::send(net::HostPort endpoint, Request request, std::chrono::milliseconds timeout,
                                             std::shared_ptr<CancelToken> cancel) {
  co_return co_await exchange(std::move(endpoint), request, timeout, std::move(cancel), nullptr);
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
Awaitable<Result<Response>> HttpClient::send_streaming(net::HostPort endpoint, Request request,
                                                       std::chrono::milliseconds timeout,
                                                       std::shared_ptr<CancelToken> cancel, Streaming streaming) {
  co_return co_await exchange(std::move(endpoint), request, timeout, std::move(cancel), &streaming);
}

Awaitable<Result<Response>> HttpClient::send_in_place(net::HostPort endpoint, Request& request,
                                                      std::chrono::milliseconds timeout,
                                                      std::shared_ptr<CancelToken> cancel, const Streaming* streaming) {
  return exchange(std::move(endpoint), request, timeout, std::move(cancel), streaming);
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
Awaitable<Result<Response>> HttpClient::exchange(net::HostPort endpoint, Request& request,
                                                 std::chrono::milliseconds timeout, std::shared_ptr<CancelToken> cancel,
                                                 const Streaming* streaming) {
  ++requests_;
  const auto deadline = Clock::now() + timeout;
  const auto key = pool_key(endpoint);
  const auto pool = endpoint_for(key);
  std::shared_ptr<Tls> tls;
  if (endpoint.tls) {
    Error error;
    tls = tls_context(error);
    if (!tls) co_return error;
  }
  // A borrowed request may carry the Host of its previous attempt: replaced only when it differs.
  {
    // The key without its scheme is "host:port", the Host field's value.
    const std::string_view host = std::string_view(key).substr(endpoint.tls ? 8 : 0);
    if (request[beast_http::field::host] != host) request.set(beast_http::field::host, host);
  }
  detail::set_keep_alive(request, true);
  const bool streamed_request = streaming != nullptr && streaming->request_body;
  if (!streamed_request) request.prepare_payload();  // a streamed body keeps its Content-Length or goes chunked

  for (int attempt = 0; attempt < 2; ++attempt) {
    // Without a coroutine of its own when a connection is at hand (the common case).
    std::optional<WaitList::Ticket> ticket;
    std::vector<std::shared_ptr<Connection>> stale;
    auto taken = take_slot(*pool, attempt == 0, ticket, stale);
    stale.clear();
    Result<Slot> slot = make_error(ErrorCode::internal, "no slot");
    if (taken) {
      slot = std::move(*taken);
    } else {
      slot = co_await acquire(pool, attempt == 0, deadline, std::move(*ticket));
    }
    if (!slot) co_return slot.error();
    auto connection = std::move(slot->reused);
    const bool reused = connection != nullptr;
    boost::system::error_code ec;
    if (!reused) {
      connection = std::make_shared<Connection>(executor_, tls ? tls->context.get() : nullptr, pool);
      connection->watchdog = detail::Watchdog::make(executor_, [weak = std::weak_ptr<Connection>(connection)] {
        if (auto c = weak.lock()) c->abort(true);
      });
      std::shared_ptr<const CachedAddress> cached;
      {
        std::lock_guard lock(mutex_);
        auto it = dns_.find(key);
        if (it != dns_.end() && Clock::now() < it->second->expires) cached = it->second;
      }
      tcp::resolver::results_type results;
      if (cached) {
        results = cached->results;
      } else {
        tcp::resolver resolver(executor_);
        ++dns_lookups_;
        results = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                  asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          co_return make_error(ErrorCode::unavailable, "cannot resolve " + endpoint.host + ": " + ec.message(),
                               std::string(kNotSent));
        }
        if (options_.dns_ttl.count() > 0) {
          auto entry = std::make_shared<const CachedAddress>(CachedAddress{results, Clock::now() + options_.dns_ttl});
          std::lock_guard lock(mutex_);
          dns_[key] = std::move(entry);
        }
      }
      connection->arm(std::min(deadline, Clock::now() + options_.connect_timeout));
      co_await asio::async_connect(connection->socket(), results, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (connection->timed_out) {
          co_return make_error(ErrorCode::timeout, "connect to " + key + " timed out", std::string(kNotSent));
        }
        co_return make_error(ErrorCode::unavailable, "cannot connect to " + key + ": " + ec.message(),
                             std::string(kNotSent));
      }
      connection->socket().set_option(tcp::no_delay(true), ec);
      if (connection->secure) {
        auto* ssl = connection->secure->native_handle();
        if (SSL_set_tlsext_host_name(ssl, endpoint.host.c_str()) != 1) {  // SNI
          co_return make_error(ErrorCode::unavailable, "TLS: cannot set the server name for " + key);
        }
        if (options_.verify_peer) {
          connection->secure->set_verify_callback(asio::ssl::host_name_verification(endpoint.host));
        }
        connection->arm(deadline);
        co_await connection->secure->async_handshake(asio::ssl::stream_base::client,
                                                     asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
          if (connection->timed_out)
            co_return make_error(ErrorCode::timeout, "TLS handshake with " + key + " timed out");
          co_return make_error(ErrorCode::unavailable, "TLS handshake with " + key + " failed: " + ec.message());
        }
      }
      ++opened_;
    } else {
      ++reused_;
    }
    if (cancel) {
      std::weak_ptr<Connection> weak = connection;
      const bool hooked = cancel->set_hook([weak] {
        if (auto c = weak.lock()) c->abort(false);
      });
      if (!hooked) co_return make_error(ErrorCode::cancelled, "request cancelled");
    }
    struct ClearHook {
      CancelToken* token;
      ~ClearHook() {
        if (token != nullptr) token->clear_hook();
      }
    } clear_hook{cancel.get()};

    connection->arm(deadline);
    Exchange done;
    const auto limit = options_.max_response_bytes;
    auto& buffer = connection->buffer;
    if (buffer.capacity() < Connection::kReadBuffer) buffer.reserve(Connection::kReadBuffer);  // see kIdleWithBuffer
    // NOLINTBEGIN(bugprone-branch-clone): same calls, different stream types
    auto& wire = connection->wire;
    if (streaming != nullptr && connection->secure) {
      ec = co_await round_trip_streaming(*connection->secure, request, wire, buffer, limit, *streaming, done);
    } else if (streaming != nullptr) {
      ec = co_await round_trip_streaming(*connection->plain, request, wire, buffer, limit, *streaming, done);
    } else if (connection->secure) {
      ec = co_await round_trip(*connection->secure, request, wire, buffer, limit, done);
    } else {
      ec = co_await round_trip(*connection->plain, request, wire, buffer, limit, done);
    }
    // NOLINTEND(bugprone-branch-clone)
    if (done.sink) co_return *done.sink;  // the connection is dropped: the rest of the body is unread
    if (ec) {
      const bool cancelled = cancel && cancel->cancelled();
      if (connection->timed_out && !cancelled)
        co_return make_error(ErrorCode::timeout, "request timed out (" + key + ")");
      if (reused && !cancelled && peer_closed(ec) && !done.got_some && !done.pulled && Clock::now() < deadline) {
        ++stale_retries_;
        continue;  // the server closed an idle connection just before we used it
      }
      co_return from_asio(ec, endpoint, cancelled);
    }
    connection->disarm();
    ++connection->requests;
    if (done.response.body().size() > options_.max_response_bytes) {
      // Beast 1.74 does not apply body_limit in eager mode when header and body arrive in one read.
      co_return make_error(ErrorCode::payload_too_large, "response body over the configured limit (" + key + ")");
    }
    // Bytes left after the framed answer: the server broke the framing, and reusing the
    // connection would hand them to the next caller as its answer.
    if (done.keep_alive && connection->buffer.size() == 0) give_back(*pool, std::move(connection));
    co_return std::move(done.response);
  }
  co_return make_error(ErrorCode::unavailable, "connection to " + key + " closed twice in a row");
}

}  // namespace svckit::http
