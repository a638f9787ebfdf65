// GrpcClient: call gRPC services by name. Each call picks an instance of the service through
// discovery and the service's balancer (policies, subsets, zones, outlier detection fed by the
// calls' gRPC codes), with the deadline, retries on another instance (retryable codes, idempotent
// calls, within the retry budget), hedging, breakers, bulkhead, metrics and tracing of
// ServiceClient — it is a ServiceClient whose attempts go over GrpcTransport (grpc_transport.hpp),
// configured with the same ServiceClientOptions.
//
//   GrpcClient::Deps deps{executor, &discovery, balancers, random, time, &metrics};
//   auto client = GrpcClient::create({}, deps);
//   demo::ProductRequest request;
//   request.set_product_id("42");
//   auto reply = co_await (*client)->call<demo::ProductResponse>(
//       "product-grpc", "/svckit.demo.ProductService/GetProduct", request, {.idempotent = true});
//   if (reply.code == rpc::Code::not_found) ...
//
// Retries: an attempt that failed to connect, was cut by its per-try timeout, or ended with a code
// whose HTTP mapping is in the service's retry.retry_on_statuses (default 502, 503, 504:
// UNAVAILABLE and DEADLINE_EXCEEDED) goes to another instance — for calls marked idempotent only
// (gRPC retries no method unless its policy says so). Breakers and outlier detection count the
// codes that map to 5xx (INTERNAL, UNKNOWN, UNAVAILABLE, UNIMPLEMENTED, DATA_LOSS) and connection
// failures; NOT_FOUND, INVALID_ARGUMENT and the other caller errors never open a breaker.
//
// Channels: one per instance, opened on first use and closed when the instance leaves discovery.
//
// Namespace svckit::rpc, not svckit::grpc: with `using namespace svckit;` in force, a namespace
// named grpc would make every unqualified `grpc::` inside gRPC's own headers ambiguous.
//
// Thread-safety: as ServiceClient. Lifetime: co_await shutdown() before destroying it.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "svckit/client/service_client.hpp"
#include "svckit/grpc/grpc_transport.hpp"

namespace svckit::rpc {

/// Per call; unset fields come from the service's config.
struct GrpcCallOptions {
  /// The whole call's deadline (every attempt); each attempt's gRPC deadline is what is left of
  /// it, at most the service's per_try_timeout.
  std::optional<std::chrono::milliseconds> timeout;
  /// The caller's own deadline (e.g. from the request being served): the call never outlives it.
  std::optional<Deadline> deadline;
  /// Safe to send twice: retried on another instance and hedged as the service's config says.
  bool idempotent = false;
  /// Metadata sent with the call (keys lower-case [0-9a-z_.-], values printable ASCII). A
  /// `traceparent` among them continues that trace.
  std::vector<std::pair<std::string, std::string>> metadata;
  std::optional<std::string> hash_key;  // ring_hash / maglev key
};

/// The outcome of a call: `code` ok and `message` (the reply, serialized), or the gRPC code and
/// message of the last attempt — or the code svckit decided on when no attempt was made
/// (UNAVAILABLE: no instance, breaker open, retry budget or bulkhead exhausted; DEADLINE_EXCEEDED;
/// CANCELLED).
struct GrpcRawResult {
  Code code = Code::unknown;
  std::string status_message;
  std::string message;
  int attempts = 0;
  std::string instance;  // who answered, if anyone
  bool ok() const { return code == Code::ok; }
};

/// A typed reply: `reply` holds the decoded message when ok(). A reply that does not parse as
/// `Reply` is INTERNAL.
template <class Reply>
struct GrpcResult {
  Code code = Code::unknown;
  std::string status_message;
  Reply reply;
  int attempts = 0;
  std::string instance;
  bool ok() const { return code == Code::ok; }
};

class GrpcClient {
 public:
  using Deps = ServiceClient::Deps;  // Deps::transport is ignored: calls go over gRPC
  /// Errors: invalid options, field named as ServiceClient::create names them.
  static Result<std::unique_ptr<GrpcClient>> create(ServiceClientOptions options, Deps deps,
                                                    GrpcTransportOptions transport = {});
  ~GrpcClient();
  GrpcClient(const GrpcClient&) = delete;
  GrpcClient& operator=(const GrpcClient&) = delete;

  /// One unary call of `method` ("/package.Service/Method") on an instance of `service`, with the
  /// request already serialized.
  Awaitable<GrpcRawResult> call_raw(std::string service, std::string method, std::string request,
                                    GrpcCallOptions options = {});

  /// One unary call with protobuf messages (any type with SerializeToString/ParseFromString).
  template <class Reply, class Request>
  Awaitable<GrpcResult<Reply>> call(std::string service, std::string method, const Request& request,
                                    GrpcCallOptions options = {}) {
    std::string bytes;
    GrpcResult<Reply> out;
    if (!request.SerializeToString(&bytes)) {
      out.code = Code::invalid_argument;
      out.status_message = "the request message could not be serialized";
      co_return out;
    }
    auto raw = co_await call_raw(std::move(service), std::move(method), std::move(bytes), std::move(options));
    out.code = raw.code;
    out.status_message = std::move(raw.status_message);
    out.attempts = raw.attempts;
    out.instance = std::move(raw.instance);
    if (out.ok() && !out.reply.ParseFromString(raw.message)) {
      out.code = Code::internal;
      out.status_message = "the reply did not parse as " + out.reply.GetTypeName();
    }
    co_return out;
  }

  /// Replaces one service's config at run time (as ServiceClient's).
  Result<void> update_service_config(const std::string& service, ServiceConfig config);
  /// Stops accepting calls, waits up to `drain` for calls in flight, closes the channels.
  Awaitable<void> shutdown(std::chrono::milliseconds drain);
  ServiceClientStats stats() const;
  /// Channels open now (one per instance called that is still in discovery).
  std::size_t channels() const;

 private:
  GrpcClient() = default;
  std::unique_ptr<GrpcTransport> transport_;
  std::unique_ptr<ServiceClient> client_;
  DiscoveryClient* discovery_ = nullptr;
  std::uint64_t discovery_handler_ = 0;
};

}  // namespace svckit::rpc
