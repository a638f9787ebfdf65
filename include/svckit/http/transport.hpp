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
#include "svckit/http/url.hpp"

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
  virtual Awaitable<Result<Response>> send(HostPort endpoint, Request request, std::chrono::milliseconds timeout,
                                           std::shared_ptr<CancelToken> cancel = nullptr) = 0;
  /// As send(), but the body of an answer below 400 goes to `sink` as it arrives instead of into
  /// memory (the returned Response has headers and an empty body); answers of 400 and above are
  /// buffered as usual (bounded), so callers can read the error. `timeout` bounds the whole
  /// transfer. The default implementation buffers, then hands the body over in one piece.
  virtual Awaitable<Result<Response>> send_streaming(HostPort endpoint, Request request,
                                                     std::chrono::milliseconds timeout,
                                                     std::shared_ptr<CancelToken> cancel, BodySink sink);
  virtual ClientStats stats() const = 0;
  /// Closes idle connections (shutdown).
  virtual void close_idle() = 0;
};

}  // namespace svckit::http
