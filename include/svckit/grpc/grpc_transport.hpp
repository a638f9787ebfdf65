// GrpcTransport: unary gRPC calls behind the http::Transport interface, so that ServiceClient's
// one pipeline — balancing, subsets, zones, outlier detection, deadlines, retries on another
// instance within the retry budget, hedging, breakers, bulkheads, metrics and tracing — runs gRPC
// calls too, instead of a second copy of it written for gRPC.
//
// A request maps onto a gRPC call as gRPC's own HTTP/2 mapping does: the target is the method
// ("/package.Service/Method"), the body the serialized message, the timeout the call's gRPC
// deadline, and the other headers its metadata (lower-cased; hop-by-hop, HTTP-only and reserved
// `grpc-*` names are left out, so `traceparent` and `tracestate` travel as metadata). The answer's
// gRPC status becomes an HTTP status by google.rpc.Code's canonical mapping (OK 200, NOT_FOUND 404,
// INVALID_ARGUMENT 400, RESOURCE_EXHAUSTED 429, UNIMPLEMENTED 501, INTERNAL 500, UNAVAILABLE 503,
// ...), with `grpc-status` and `grpc-message` headers carrying the original; the body is the reply
// message. A call that found no connection to make fails `unavailable` with field kNotSent (gRPC's
// "failed to connect to all addresses": it never left, so ServiceClient retries it transparently,
// for any method and outside the retry budget), one whose connection broke during the call
// `unavailable`, one past its deadline `timeout`, one cancelled `cancelled` — the errors
// ServiceClient retries and counts like HTTP's.
//
// One channel (HTTP/2 connection; TLS for an instance whose scheme is https) per endpoint, created
// on first use and kept until
// close(endpoint) (GrpcClient calls it when the instance leaves discovery) or close_idle().
//
// Thread-safety: every method may be called from any thread. A call completes on the executor of
// the coroutine that awaited it.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "svckit/http/transport.hpp"

namespace svckit::rpc {

using http::Awaitable;

/// gRPC status codes (numerically gRPC's own).
enum class Code : int {
  ok = 0,
  cancelled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,
  unauthenticated = 16
};
std::string_view to_string(Code code) noexcept;
/// google.rpc.Code's HTTP mapping (OK 200, CANCELLED 499, NOT_FOUND 404, UNAVAILABLE 503, ...).
int http_status_of(Code code) noexcept;
/// A `grpc-status` header value as a Code; nullopt when absent or not 0..16.
std::optional<Code> parse_code(std::string_view text) noexcept;

struct GrpcTransportOptions {
  std::size_t max_message_bytes = std::size_t{4} << 20;  // each way; gRPC's default receive limit
  /// TLS, for instances registered with scheme "https" (endpoint.tls): PEM files read when the
  /// first TLS channel opens. ca_file: the CAs to trust (empty: gRPC's default roots); cert_file
  /// + key_file: this client's certificate for servers that ask for one (mutual TLS), both or
  /// neither. The server's certificate must name the host it is reached by.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
};

class GrpcTransport final : public http::Transport {
 public:
  explicit GrpcTransport(GrpcTransportOptions options = {});
  ~GrpcTransport() override;
  GrpcTransport(const GrpcTransport&) = delete;
  GrpcTransport& operator=(const GrpcTransport&) = delete;

  Awaitable<Result<http::Response>> send(net::HostPort endpoint, http::Request request,
                                         std::chrono::milliseconds timeout,
                                         std::shared_ptr<CancelToken> cancel = nullptr) override;
  http::ClientStats stats() const override;
  /// Drops every channel (their connections close once no call uses them).
  void close_idle() override;
  /// Drops the channel to `endpoint`, if any.
  void close(const net::HostPort& endpoint);
  /// Channels held now.
  std::size_t channels() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace svckit::rpc
