#include "svckit/http/server.hpp"

#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <type_traits>
#include <unordered_map>
#include <vector>

#include "http/body_reader.hpp"
#include "http/server_connection.hpp"
#include "http/wire.hpp"
#include "svckit/core/log.hpp"
#include "svckit/http/tls_server.hpp"

namespace svckit::http {

namespace asio = boost::asio;
namespace beast = boost::beast;

namespace {

/// " trace_id=<32 hex> span_id=<16 hex>" of a W3C traceparent (the caller's span), or "" — for
/// log lines about a request (JSON logs lift both to the top of the line).
std::string trace_ids(std::string_view traceparent) {
  if (traceparent.size() < 55 || traceparent[2] != '-' || traceparent[35] != '-' || traceparent[52] != '-') return {};
  return " trace_id=" + std::string(traceparent.substr(3, 32)) + " span_id=" + std::string(traceparent.substr(36, 16));
}

}  // namespace
using tcp = asio::ip::tcp;

using Clock = std::chrono::steady_clock;
using Connection = detail::ServerConnection;

/// Everything the connection coroutines touch; they hold it by shared_ptr.
struct HttpServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& io, ServerOptions options, ContextHandler handler, StreamHandler stream_handler)
      : io_(io),
        options_(std::move(options)),
        handler_(std::move(handler)),
        stream_handler_(std::move(stream_handler)),
        acceptor_(io) {}

  Result<void> listen();
  Awaitable<void> accept_loop();
  /// `peer`: the client's address as counted in per_peer_ by the accept loop.
  Awaitable<void> serve(tcp::socket socket, std::string peer);
  /// Reads requests from `stream` (the plain socket or TLS over it) and answers them until the
  /// connection ends.
  template <class Stream>
  Awaitable<void> request_loop(Stream& stream, std::shared_ptr<Connection> connection, RequestContext& context,
                               beast::flat_buffer& buffer);
  /// Writes `head` with a Content-Length of source.size(), then (with_body) the source's pieces,
  /// each within read_timeout. False when the connection cannot go on (a write failed, or the
  /// source did not produce exactly its size).
  template <class Stream>
  Awaitable<bool> write_streamed(Stream& stream, Connection& connection, Response head, AnswerSource& source,
                                 bool with_body);
  /// TLS: refuses plain HTTP (a plain 400), then the handshake within read_timeout. False: closed.
  Awaitable<bool> tls_handshake(asio::ssl::stream<tcp::socket&>& stream, Connection& connection);
  void begin_shutdown(bool cancel_busy);
  std::size_t connections() const {
    std::lock_guard lock(mutex_);
    return connections_.size();
  }

  asio::io_context& io_;
  ServerOptions options_;
  ContextHandler handler_;
  StreamHandler stream_handler_;  // set instead of handler_ for a streaming server
  tcp::acceptor acceptor_;
  std::atomic<std::uint16_t> port_{0};
  std::atomic<bool> shutting_down_{false};
  std::atomic<std::uint64_t> requests_{0};
  std::atomic<std::size_t> buffered_{0};  // bytes of answers being written (max_buffered_response_bytes)
  mutable std::mutex mutex_;
  std::unordered_map<Connection*, std::weak_ptr<Connection>> connections_;  // guarded by mutex_
  std::unordered_map<std::string, std::size_t> per_peer_;                   // guarded by mutex_
};

HttpServer::HttpServer(asio::io_context& io, ServerOptions options, ContextHandler handler)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(handler), nullptr)) {}

HttpServer::HttpServer(asio::io_context& io, ServerOptions options, StreamHandler handler)
    : impl_(std::make_shared<Impl>(io, std::move(options), nullptr, std::move(handler))) {}

HttpServer::HttpServer(asio::io_context& io, ServerOptions options, Handler handler)
    : HttpServer(
          io, std::move(options),
          ContextHandler([h = std::move(handler)](Request& request, const RequestContext&) { return h(request); })) {}

HttpServer::HttpServer(asio::io_context& io, ServerOptions options, const Router& router)
    : HttpServer(io, std::move(options),
                 ContextHandler([&router](Request& request, const RequestContext& context) -> Awaitable<Response> {
                   std::string route;  // lives in this frame while dispatch runs
                   co_return co_await router.dispatch(request, route, &context);
                 })) {}

HttpServer::~HttpServer() { impl_->begin_shutdown(/*cancel_busy=*/true); }

Result<void> HttpServer::listen() { return impl_->listen(); }
void HttpServer::set_tls(std::shared_ptr<TlsServerContext> tls) { impl_->options_.tls = std::move(tls); }
std::uint16_t HttpServer::port() const { return impl_->port_.load(); }
void HttpServer::begin_shutdown() { impl_->begin_shutdown(/*cancel_busy=*/false); }
bool HttpServer::shutting_down() const { return impl_->shutting_down_.load(); }
std::size_t HttpServer::connections() const { return impl_->connections(); }
std::uint64_t HttpServer::requests_served() const { return impl_->requests_.load(); }

Result<void> HttpServer::Impl::listen() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options_.address, ec);
  if (ec) {
    return make_error(ErrorCode::invalid_argument, "'" + options_.address + "' is not an IP address", "listen");
  }
  const tcp::endpoint endpoint(address, options_.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec && options_.reuse_port) {
    acceptor_.set_option(asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true), ec);
  }
  if (!ec) acceptor_.bind(endpoint, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return make_error(
        ErrorCode::unavailable,
        "cannot listen on " + options_.address + ":" + std::to_string(options_.port) + ": " + ec.message(), "listen");
  }
  port_ = acceptor_.local_endpoint().port();
  asio::co_spawn(
      acceptor_.get_executor(), [self = shared_from_this()] { return self->accept_loop(); }, asio::detached);
  return {};
}

Awaitable<void> HttpServer::Impl::accept_loop() {
  for (;;) {
    boost::system::error_code ec;
    const auto where =
        options_.one_thread ? asio::any_io_executor(io_.get_executor()) : asio::any_io_executor(asio::make_strand(io_));
    auto socket = co_await acceptor_.async_accept(where, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      logs::warn("http", "accept failed: {}", ec.message());
      continue;
    }
    if (connections() >= options_.max_connections) {
      logs::warn("http", "connection limit {} reached; closing new connection", options_.max_connections);
      socket.close(ec);
      continue;
    }
    std::string address;
    {
      // Counted here, before serve() runs, so a burst of accepts cannot overshoot the cap;
      // serve()'s Unregister gives the count back.
      const auto peer = socket.remote_endpoint(ec);
      address = ec ? std::string() : peer.address().to_string();
      std::lock_guard lock(mutex_);
      auto& count = per_peer_[address];
      if (options_.max_connections_per_peer != 0 && count >= options_.max_connections_per_peer) {
        logs::warn("http", "connection limit per peer {} reached for {}; closing new connection",
                   options_.max_connections_per_peer, address);
        if (count == 0) per_peer_.erase(address);
        socket.close(ec);
        continue;
      }
      ++count;
    }
    socket.set_option(tcp::no_delay(true), ec);
    const auto executor = socket.get_executor();
    asio::co_spawn(
        executor,
        [self = shared_from_this(), s = std::move(socket), a = std::move(address)]() mutable {
          return self->serve(std::move(s), std::move(a));
        },
        asio::detached);
  }
}

Awaitable<void> HttpServer::Impl::serve(tcp::socket socket, std::string peer) {
  auto connection = std::make_shared<Connection>(std::move(socket));
  connection->watchdog =
      detail::Watchdog::make(connection->socket.get_executor(), [weak = std::weak_ptr<Connection>(connection)] {
        if (auto c = weak.lock()) {  // a deadline passed: end the operation in progress
          boost::system::error_code ec;
          c->socket.shutdown(tcp::socket::shutdown_both, ec);
          c->socket.cancel(ec);
        }
      });
  RequestContext context;
  {
    boost::system::error_code ec;
    const auto endpoint = connection->socket.remote_endpoint(ec);
    context.remote_address = std::move(peer);
    if (!ec) context.remote_port = endpoint.port();
  }
  {
    std::lock_guard lock(mutex_);
    connections_.emplace(connection.get(), connection);
  }
  struct Unregister {
    std::shared_ptr<Impl> server;  // keeps the shared state alive even if the HttpServer is gone
    Connection* key;
    std::string peer;
    ~Unregister() {
      std::lock_guard lock(server->mutex_);
      server->connections_.erase(key);
      auto it = server->per_peer_.find(peer);
      if (it != server->per_peer_.end() && --it->second == 0) server->per_peer_.erase(it);
    }
  } unregister{shared_from_this(), connection.get(), context.remote_address};
  beast::flat_buffer buffer;
  if (options_.tls) {
    const auto tls_context = options_.tls->current();  // this connection's for its whole life
    asio::ssl::stream<tcp::socket&> tls(connection->socket, *tls_context);
    const bool ready = co_await tls_handshake(tls, *connection);  // false: refused or failed, closed below
    if (ready && stream_handler_) {
      co_await detail::serve_streaming(
          tls, *connection, buffer, context,
          detail::StreamingServerState{options_, stream_handler_, shutting_down_, requests_});
    } else if (ready) {
      co_await request_loop(tls, connection, context, buffer);
    }
  } else if (stream_handler_) {
    co_await detail::serve_streaming(
        *connection, buffer, context,
        detail::StreamingServerState{options_, stream_handler_, shutting_down_, requests_});
  } else {
    co_await request_loop(connection->socket, connection, context, buffer);
  }
  connection->watchdog->stop();
  boost::system::error_code ignored;
  connection->socket.shutdown(tcp::socket::shutdown_send, ignored);
  connection->socket.close(ignored);
}

Awaitable<bool> HttpServer::Impl::tls_handshake(asio::ssl::stream<tcp::socket&>& stream, Connection& connection) {
  boost::system::error_code ec;
  connection.arm(options_.read_timeout);
  co_await connection.socket.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  unsigned char first = 0;
  const auto n = ::recv(connection.socket.native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n == 1 && first != 0x16 && std::isalpha(first)) {  // not a TLS handshake record: plain HTTP
    auto refused = error_response(make_error(
        ErrorCode::invalid_argument, "this port speaks TLS: use https:// (a plain HTTP request was sent)", "scheme"));
    refused.keep_alive(false);
    refused.prepare_payload();
    co_await beast_http::async_write(connection.socket, refused, asio::redirect_error(asio::use_awaitable, ec));
    co_return false;
  }
  co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    logs::debug("http", "event=tls_handshake_failed error=\"{}\"", ec.message());
    co_return false;
  }
  co_return true;
}

template <class Stream>
Awaitable<void> HttpServer::Impl::request_loop(Stream& stream, std::shared_ptr<Connection> connection,
                                               RequestContext& context, beast::flat_buffer& buffer) {
  const auto arm = [&connection](std::chrono::milliseconds d) { connection->watchdog->arm(Clock::now() + d); };
  for (;;) {
    if (shutting_down_) break;
    beast_http::request_parser<beast_http::string_body> parser;
    parser.body_limit(options_.max_body_bytes);
    parser.header_limit(static_cast<std::uint32_t>(options_.max_header_bytes));
    boost::system::error_code ec;
    if (buffer.size() == 0) {  // keep-alive silence: idle_timeout until the next request's first byte
      connection->idle = true;
      arm(options_.idle_timeout);
      ec = co_await detail::await_next_request(stream, buffer);
      connection->idle = false;
      if (ec || shutting_down_) break;
    }
    // A request has begun: all of it within read_timeout, however slowly it trickles (Slowloris).
    arm(options_.read_timeout);
    // A plain request without a body is read whole and parsed in one pass (plain_head.hpp); any
    // other goes to Beast's parser, which reads the same bytes from the buffer.
    RequestHead plain_head;
    std::optional<detail::PlainHead> plain;
    std::size_t scanned = 0;
    const auto head_limit = std::min(detail::kMaxPlainHead, options_.max_header_bytes);
    while (!detail::request_head_read(buffer, head_limit, plain_head, plain, scanned)) {
      const auto n = co_await stream.async_read_some(buffer.prepare(beast::read_size(buffer, detail::kHeadReadSize)),
                                                     asio::redirect_error(asio::use_awaitable, ec));
      buffer.commit(n);
      if (ec) {
        ec = detail::head_read_failed(ec, buffer);
        break;
      }
    }
    if (plain) {
      buffer.consume(plain->head_bytes);
    } else if (!ec) {
      co_await beast_http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    }
    std::optional<Response> refused;
    if (!ec) refused = detail::refuse_framing(plain ? plain_head : parser.get().base());  // before any body byte
    while (!ec && !refused && !plain && !parser.is_done()) ec = co_await detail::read_body_some(stream, buffer, parser);
    if (ec) refused = detail::answer_unreadable(ec, options_);
    if (ec || refused) {
      if (refused) {
        arm(options_.read_timeout);
        co_await beast_http::async_write(stream, *refused, asio::redirect_error(asio::use_awaitable, ec));
      }
      break;
    }
    connection->watchdog->disarm();  // the handler may take long (long polls): no deadline while it runs
    Request request = plain ? Request(std::move(plain_head)) : parser.release();
    Response response;
    if (request.body().size() > options_.max_body_bytes) {
      // Beast 1.74 may skip body_limit in eager mode when header and body arrive in one read.
      response = error_response(
          make_error(ErrorCode::payload_too_large,
                     "request body is larger than " + std::to_string(options_.max_body_bytes) + " bytes", "body"));
      response.keep_alive(false);
      arm(options_.read_timeout);
      co_await beast_http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
      break;
    }
    // The close watch is started only by handlers that ask for it (long polls), and stopped
    // (its wait cancelled) once the handler returns.
    std::shared_ptr<CancelToken> gone;
    context.watch_close = [&gone, &connection] {
      if (!gone) {
        gone = std::make_shared<CancelToken>();
        asio::co_spawn(connection->socket.get_executor(), detail::watch_for_close(connection, gone), asio::detached);
      }
      return gone;
    };
    std::unique_ptr<AnswerSource> source;  // a streamed answer's body (AnswerSource)
    context.stream_body = [&source](std::unique_ptr<AnswerSource> s) { source = std::move(s); };
    try {
      response = co_await handler_(request, context);
    } catch (const std::exception& e) {
      logs::error("http", "event=handler_threw method={} target=\"{}\" error=\"{}\"{}",
                  std::string(request.method_string()), std::string(request.target()), e.what(),
                  trace_ids(request["traceparent"]));
      response = error_response(make_error(ErrorCode::internal, "internal error"));
    }
    context.watch_close = nullptr;
    context.stream_body = nullptr;
    if (source && !response.body().empty()) source.reset();  // a wrapper replaced the handler's answer
    if (gone) {
      boost::system::error_code ignored;
      connection->socket.cancel(ignored);  // ends the close watch's wait (no other operation is pending)
      if (gone->cancelled()) break;        // the client is gone: nobody to answer
    }
    ++requests_;
    const bool keep_alive = request.keep_alive() && !shutting_down_;
    // A large answer is written only within the memory budget for answers in flight (a streamed
    // one holds its source's bytes, not its whole body).
    std::size_t held = 0;
    constexpr std::size_t kAlwaysAllowed = std::size_t{64} * 1024;
    const auto size = source ? source->held_bytes() : response.body().size();
    if (options_.max_buffered_response_bytes != 0 && size > kAlwaysAllowed) {
      if (buffered_.fetch_add(size) + size > options_.max_buffered_response_bytes) {
        buffered_.fetch_sub(size);
        source.reset();
        response = error_response(make_error(
            ErrorCode::unavailable,
            "too many large answers are being written to other clients; retry (" + std::to_string(size) + " bytes)",
            "request"));
        response.set(beast_http::field::retry_after, "1");
      } else {
        held = size;
      }
    }
    struct GiveBack {
      std::atomic<std::size_t>& buffered;
      std::size_t held;
      ~GiveBack() { buffered.fetch_sub(held); }
    } give_back{buffered_, held};
    response.version(request.version());
    response.keep_alive(keep_alive);
    if (source) {
      if (!co_await write_streamed(stream, *connection, std::move(response), *source, request.method() != Verb::head))
        break;
      source.reset();  // the memory goes with the budget
      if (!keep_alive) break;
      continue;
    }
    response.prepare_payload();
    arm(options_.read_timeout);
    if (!response.chunked()) {  // one contiguous write, a large body as a second piece (wire.hpp)
      const auto rest = detail::to_wire(connection->wire, response);
      const std::array<asio::const_buffer, 2> pieces{asio::buffer(connection->wire),
                                                     asio::buffer(rest.data(), rest.size())};
      co_await asio::async_write(stream, pieces, asio::redirect_error(asio::use_awaitable, ec));
      detail::keep_wire_small(connection->wire);
    } else {
      co_await beast_http::async_write(stream, response, asio::redirect_error(asio::use_awaitable, ec));
    }
    response = Response{};  // the memory goes with the budget
    if (ec || !keep_alive) break;
  }
}

template <class Stream>
Awaitable<bool> HttpServer::Impl::write_streamed(Stream& stream, Connection& connection, Response head,
                                                 AnswerSource& source, bool with_body) {
  beast_http::response<beast_http::empty_body> header{std::move(head.base())};
  header.content_length(source.size());
  beast_http::response_serializer<beast_http::empty_body> serializer{header};
  boost::system::error_code ec;
  connection.arm(options_.read_timeout);
  co_await beast_http::async_write_header(stream, serializer, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return false;
  if (!with_body) co_return true;
  std::uint64_t sent = 0;
  for (auto piece = source.next(); !piece.empty(); piece = source.next()) {
    connection.arm(options_.read_timeout);  // a reader that stops reading is cut off
    co_await asio::async_write(stream, asio::buffer(piece.data(), piece.size()),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
    sent += piece.size();
  }
  if (sent != source.size()) {
    logs::error("http", "event=streamed_body_mismatch promised={} sent={}", source.size(), sent);
    co_return false;
  }
  co_return true;
}

namespace detail {

namespace {

bool iequal(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

Response refuse(Status status, ErrorCode code, const std::string& message, const std::string& field) {
  auto response = error_response(make_error(code, message, field));
  response.result(status);
  response.keep_alive(false);
  response.prepare_payload();
  return response;
}

}  // namespace

std::optional<Response> refuse_framing(const RequestHead& head) {
  if (head.version() >= 11 && head.find(beast_http::field::host) == head.end()) {
    return refuse(Status::bad_request, ErrorCode::invalid_argument, "an HTTP/1.1 request must carry a Host header",
                  "Host");
  }
  std::vector<std::string_view> codings;  // every Transfer-Encoding field, in order
  for (auto it = head.find(beast_http::field::transfer_encoding);
       it != head.end() && it->name() == beast_http::field::transfer_encoding; ++it) {
    std::string_view value = it->value();
    while (!value.empty()) {
      const auto comma = value.find(',');
      const auto coding = trim(value.substr(0, comma));
      const auto semicolon = coding.find(';');  // transfer parameters
      if (!coding.empty()) codings.push_back(trim(coding.substr(0, semicolon)));
      value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    }
  }
  if (head.count(beast_http::field::transfer_encoding) == 0) return std::nullopt;
  if (codings.empty() || !iequal(codings.back(), "chunked")) {
    return refuse(Status::bad_request, ErrorCode::invalid_argument,
                  "Transfer-Encoding must end with chunked in a request (RFC 9112 6.3)", "Transfer-Encoding");
  }
  codings.pop_back();
  const auto twice = std::find_if(codings.begin(), codings.end(), [](auto c) { return iequal(c, "chunked"); });
  if (twice != codings.end()) {
    return refuse(Status::bad_request, ErrorCode::invalid_argument, "chunked may be applied only once",
                  "Transfer-Encoding");
  }
  if (!codings.empty()) {
    return refuse(Status::not_implemented, ErrorCode::invalid_argument,
                  "transfer coding '" + std::string(codings.front()) + "' is not supported", "Transfer-Encoding");
  }
  return std::nullopt;
}

Awaitable<void> watch_for_close(std::shared_ptr<ServerConnection> connection, std::shared_ptr<CancelToken> gone) {
  for (;;) {
    boost::system::error_code ec;
    co_await connection->socket.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;  // stopped: the handler returned
    char byte = 0;
    const auto n = ::recv(connection->socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0) co_return;  // a pipelined request: the client is still there
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;  // not ready after all
    gone->cancel();  // 0: an orderly close; any other error: a reset
    co_return;
  }
}

std::optional<Response> answer_unreadable(const boost::system::error_code& ec, const ServerOptions& options) {
  std::optional<Error> error;
  if (ec == beast_http::error::body_limit) {
    error = make_error(ErrorCode::payload_too_large,
                       "request body is larger than " + std::to_string(options.max_body_bytes) + " bytes", "body");
  } else if (ec == beast_http::error::header_limit) {
    error =
        make_error(ErrorCode::payload_too_large,
                   "request headers are larger than " + std::to_string(options.max_header_bytes) + " bytes", "headers");
  } else if (ec.category() == beast_http::make_error_code(beast_http::error::bad_target).category() &&
             ec != beast_http::error::end_of_stream && ec != beast_http::error::partial_message) {
    error = make_error(ErrorCode::invalid_argument, "malformed HTTP request: " + ec.message(), "request");
  }
  if (!error) return std::nullopt;
  auto response = error_response(*error);
  if (ec == beast_http::error::header_limit) response.result(Status::request_header_fields_too_large);
  response.keep_alive(false);
  response.prepare_payload();
  return response;
}

boost::system::error_code head_read_failed(const boost::system::error_code& ec, const beast::flat_buffer& buffer) {
  if (ec != asio::error::eof) return ec;
  return buffer.size() > 0 ? beast_http::error::partial_message : beast_http::error::end_of_stream;
}

}  // namespace detail

std::optional<Response> check_request_framing(const RequestHead& head) { return detail::refuse_framing(head); }

void HttpServer::Impl::begin_shutdown(bool cancel_busy) {
  shutting_down_ = true;
  asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
    boost::system::error_code ec;
    self->acceptor_.close(ec);
  });
  std::vector<std::shared_ptr<Connection>> open;
  {
    std::lock_guard lock(mutex_);
    for (auto& [key, weak] : connections_) {
      if (auto c = weak.lock()) open.push_back(std::move(c));
    }
  }
  for (const auto& c : open) {
    asio::post(c->socket.get_executor(), [c, cancel_busy] {
      boost::system::error_code ec;
      if (c->idle || cancel_busy) c->socket.cancel(ec);
    });
  }
}

}  // namespace svckit::http
