// HttpServer: a keep-alive HTTP/1.1 server on Boost.Beast, one coroutine per connection, each on
// its own strand, so any number of threads may run the io_context.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "svckit/http/router.hpp"
#include "svckit/http/types.hpp"

namespace svckit::http {

class TlsServerContext;
class UpgradedStream;

struct ServerOptions {
  std::string address = "127.0.0.1";               // Default: loopback only.
  std::uint16_t port = 0;                          // Default: 0 = any free port (see HttpServer::port()).
  std::size_t max_body_bytes = 1 << 20;            // Default: 1 MiB; larger bodies get 413.
  std::size_t max_header_bytes = 16 << 10;         // Default: 16 KiB; larger headers get 431.
  std::chrono::milliseconds read_timeout{30'000};  // Default: 30s to receive a request once it starts.
  std::chrono::milliseconds idle_timeout{75'000};  // Default: 75s of keep-alive silence closes.
  std::size_t max_connections = 10'000;            // Default: 10000; more are closed at once.
  /// Default: 0 = no cap. Bytes of answers held in memory while they are written, over all
  /// connections: an answer over 64 KiB that would pass it gets 503 (Retry-After: 1) instead, so
  /// clients that ask for large answers and never read them cannot grow memory without bound. A
  /// streamed answer (RequestContext::stream_body) counts its source's held_bytes().
  /// (Each write must also finish within read_timeout, or the connection is cut.)
  std::size_t max_buffered_response_bytes = 0;
  /// Default: 0 = no cap. Connections from one client address; more from it are closed at once, so
  /// one client holding idle sockets cannot use up max_connections for everyone.
  std::size_t max_connections_per_peer = 0;
  /// Default: false. SO_REUSEPORT: several servers (one per I/O thread) listen on one port and the
  /// kernel spreads connections across them.
  bool reuse_port = false;
  /// Default: false. Set when exactly one thread runs the io_context: connections then need no
  /// strand, which saves a strand dispatch and a heap-allocated executor on every socket operation.
  /// With several threads running it, leave it false (each connection is serialised on a strand).
  bool one_thread = false;
  /// Default: null = plain HTTP. When set, every connection speaks TLS with the context's current
  /// certificate; a plain HTTP request gets a plain 400 naming https and is closed.
  std::shared_ptr<TlsServerContext> tls;
};

/// Handles one request. Runs on the connection's strand; may co_await (long polls are fine).
/// Must not throw (an exception becomes a 500 and is logged).
using Handler = std::function<Awaitable<Response>(Request&)>;

using ContextHandler = std::function<Awaitable<Response>(Request&, const RequestContext&)>;

/// One request whose body is still on the wire, for handlers that stream (svckitd's gateway): the
/// handler reads the body piece by piece and answers whole (respond) or streamed (write_head,
/// write_body..., finish). Use it only from the handler's coroutine (the connection's strand).
/// The connection is kept alive afterwards only if the body was read to its end and the answer
/// finished; otherwise it is closed.
class ServerExchange {
 public:
  virtual ~ServerExchange() = default;
  /// The request line and headers (the body is empty: read it with read_body()).
  virtual const RequestHead& head() const = 0;
  /// The body's framing, as parsed: a Content-Length (nullopt when chunked or absent), chunked.
  virtual std::optional<std::uint64_t> content_length() const = 0;
  virtual bool chunked() const = 0;
  virtual const RequestContext& context() const = 0;
  /// The next piece of the body (at most 64 KiB), empty at its end. Each read within read_timeout;
  /// more than max_body_bytes in all fails with payload_too_large (field "body"), a body whose
  /// chunked framing is malformed with invalid_argument (field "body"), a peer that went away or
  /// stalled with unavailable. The view stays valid until the next call.
  virtual Awaitable<Result<std::string_view>> read_body() = 0;
  /// Sends a whole answer; only before write_head().
  virtual Awaitable<Result<void>> respond(Response response) = 0;
  /// Starts a streamed answer. A Content-Length in the head is kept, otherwise the body goes
  /// chunked; answers to HEAD and 1xx/204/304 answers get no body.
  virtual Awaitable<Result<void>> write_head(Response head) = 0;
  /// Each write within read_timeout (a reader that stops reading is cut off).
  virtual Awaitable<Result<void>> write_body(std::string_view piece) = 0;
  virtual Awaitable<Result<void>> finish() = 0;
  virtual bool head_sent() const = 0;
  /// Protocol upgrades (after a 101 went out): the connection as a byte stream (TLS included when
  /// the listener speaks it), with the connection's timeouts lifted, and the bytes the server had
  /// already read past the request head. The connection is closed when the handler returns.
  virtual UpgradedStream& take_stream(std::string& already_read) = 0;
};
/// The check HttpServer applies to every request head before reading its body: a
/// Transfer-Encoding whose last coding is not chunked (or chunked twice) → 400, another coding →
/// 501, an HTTP/1.1 request without Host → 400 (each answer closes the connection: the body is
/// never parsed as a request — RFC 9112, request smuggling). nullopt when the head is fine.
std::optional<Response> check_request_framing(const RequestHead& head);

/// Must not throw.
using StreamHandler = std::function<Awaitable<void>(ServerExchange&)>;

/// Thread-safety: listen(), port(), begin_shutdown() and the counters may be called from any thread.
/// Lifetime: the HttpServer may be destroyed before its io_context; connections still open then
/// are cancelled and finish without touching it (their shared state outlives the server object).
class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, ServerOptions options, Handler handler);
  HttpServer(boost::asio::io_context& io, ServerOptions options, ContextHandler handler);
  /// Serves `router`'s routes (it must outlive the server); handlers see RouteContext::connection.
  HttpServer(boost::asio::io_context& io, ServerOptions options, const Router& router);
  /// A server whose handler streams bodies (max_body_bytes still bounds each request's body).
  HttpServer(boost::asio::io_context& io, ServerOptions options, StreamHandler handler);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  /// Set-up only (before listen): serve TLS with `tls` (ServerOptions::tls).
  void set_tls(std::shared_ptr<TlsServerContext> tls);
  /// Binds, listens and starts accepting. Errors name the address.
  Result<void> listen();
  std::uint16_t port() const;

  /// Graceful shutdown, step one: stop accepting, close idle keep-alive connections, and answer
  /// in-flight requests with "Connection: close". Release long polls separately.
  void begin_shutdown();
  bool shutting_down() const;
  std::size_t connections() const;
  std::uint64_t requests_served() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace svckit::http
