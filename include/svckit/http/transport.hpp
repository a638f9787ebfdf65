// Transport: what sends one HTTP request to one endpoint. HttpClient is the real one (pooled
// keep-alive sockets); a simulation plugs in its own, so the ServiceClient pipeline above it can
// run without sockets in virtual time.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string_view>

#include "svckit/core/cancel_token.hpp"
#include "svckit/http/types.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::http {

struct ClientStats {
  std::uint64_t requests = 0;
  std::uint64_t connections_opened = 0;
  std::uint64_t connections_reused = 0;
  std::uint64_t stale_retries = 0;  // a reused connection had been closed by the peer: retried once on a new one
  std::uint64_t idle = 0;           // connections pooled now, waiting for a request
  std::uint64_t dns_lookups = 0;    // resolver calls (the rest came from the DNS cache)
  std::uint64_t pool_waits = 0;     // requests that waited for a connection (max_connections_per_endpoint reached)
  std::uint64_t open = 0;           // connections open now (idle + busy)
};

/// Receives a response body piece by piece, as it arrives (on the I/O thread: keep it short). An
/// error stops the transfer and closes the connection; send_streaming() then fails with it.
using BodySink = std::function<Result<void>(std::string_view chunk)>;

/// Pulls the next piece of a request body that is sent as it is produced (a proxy relaying an
/// upload). An empty piece ends the body; the view must stay valid until the next pull. An error
/// aborts the request (the connection is dropped).
using BodySource = std::function<Awaitable<Result<std::string_view>>()>;
/// Receives the head of an answer below 400 (its body empty) before any of its body; may co_await
/// (a proxy writes it downstream). An error stops the transfer.
using HeadSink = std::function<Awaitable<Result<void>>(const Response& head)>;
/// As BodySink, but awaited: the next piece is read from the socket only after it finished
/// (back-pressure from a slow consumer to the producer).
using AsyncBodySink = std::function<Awaitable<Result<void>>(std::string_view chunk)>;

/// The streamed parts of one exchange. Every member is optional.
struct Streaming {
  BodySource request_body;  // null: the Request's own body is sent
  HeadSink on_head;
  AsyncBodySink on_body;  // null: bodies are buffered into the Response as usual
  /// Answers whose Content-Length is at most this are read whole into the Response instead (no
  /// on_head/on_body): a proxy then relays a small answer in one write rather than three.
  std::uint64_t buffer_up_to = 0;
  bool active() const { return request_body || on_head || on_body; }
};

/// Error::field of a failure that happened before any byte of the request left (name resolution,
/// connection refused or timed out): the server cannot have acted on it, so a retry is safe for any
/// method and costs the server nothing (gRPC's "transparent retry").
inline constexpr std::string_view kNotSent = "not_sent";

/// Implementations state their thread-safety.
class Transport {
 public:
  virtual ~Transport() = default;
  /// Sends `request` to `endpoint` and reads the answer within `timeout`. Errors: timeout,
  /// unavailable (connect, reset, refused), cancelled (`cancel` fired), payload_too_large, protocol;
  /// field kNotSent when the request never left.
  virtual Awaitable<Result<Response>> send(net::HostPort endpoint, Request request, std::chrono::milliseconds timeout,
                                           std::shared_ptr<CancelToken> cancel = nullptr) = 0;
  /// As send(), but the body of an answer below 400 goes to `sink` as it arrives instead of into
  /// memory (the returned Response has headers and an empty body); answers of 400 and above are
  /// buffered as usual (bounded), so callers can read the error. `timeout` bounds the whole
  /// transfer.
  Awaitable<Result<Response>> send_streaming(net::HostPort endpoint, Request request, std::chrono::milliseconds timeout,
                                             std::shared_ptr<CancelToken> cancel, BodySink sink);
  /// The general form: the request body from `streaming.request_body` (the Request then carries
  /// only the head: a Content-Length field is kept, otherwise the body is sent chunked), an
  /// answer's head to `on_head` and its body to `on_body`, with back-pressure. A failure after the
  /// source was pulled is never retried inside the transport. The default implementation (for
  /// simulations) drains the source into memory, sends, then hands the answer over in one piece.
  virtual Awaitable<Result<Response>> send_streaming(net::HostPort endpoint, Request request,
                                                     std::chrono::milliseconds timeout,
                                                     std::shared_ptr<CancelToken> cancel, Streaming streaming);
  /// As send() (`streaming` null) or send_streaming(), but `request` is borrowed, not consumed:
  /// the transport may fill in Host, Content-Length and keep-alive, and the caller may send the
  /// same request again (a retry) once the call returned — one request built per call, not one
  /// per attempt. REQUIRES: `request` and `*streaming` outlive the call. The default implementation
  /// sends a copy.
  virtual Awaitable<Result<Response>> send_in_place(net::HostPort endpoint, Request& request,
                                                    std::chrono::milliseconds timeout,
                                                    std::shared_ptr<CancelToken> cancel, const Streaming* streaming);
  virtual ClientStats stats() const = 0;
  /// Closes idle connections (shutdown).
  virtual void close_idle() = 0;
};

}  // namespace svckit::http
