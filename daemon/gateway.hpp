// Gateway: svckitd's reverse proxy. Routes /{service}/{rest...} to a healthy instance of that
// service through the same ServiceClient the SDK uses (balancing, outlier ejection, breakers,
// retries with a budget, deadlines) — not a second copy of that code — fed by a DiscoveryClient
// that follows svckitd's own registry.
//
// Threading: requests run on the HTTP server's per-connection strands, on every I/O thread; the
// client's picks read host-set snapshots without locks. Lifetime: co_await shutdown() before
// destroying it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/strand.hpp>

#include "svckit/balance/load_balancer.hpp"
#include "svckit/client/service_client.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/http/server.hpp"
#include "svckit/registry/registry.hpp"

namespace svckit::daemon {

struct GatewayOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t max_body_bytes = 8 << 20;       // request bodies (buffered); larger get 413
  std::size_t max_response_bytes = 64 << 20;  // upstream answers (buffered); larger get 502
  std::size_t max_header_bytes = 16 << 10;
  std::size_t max_connections = 10'000;
  std::chrono::milliseconds timeout{30'000};          // a request's deadline unless the caller sends a sooner one
  std::chrono::milliseconds per_try_timeout{10'000};  // one upstream attempt
  int max_attempts = 3;                               // idempotent requests only
  double retry_budget_percent = 50;                   // retries in flight <= max(3, this % of requests in flight)
  std::string policy = "least_request";
  bool access_log = false;
};

class Gateway {
 public:
  /// Errors: invalid options, naming the field ("gateway.policy").
  static Result<std::unique_ptr<Gateway>> create(boost::asio::io_context& io, Registry& registry,
                                                 MetricsRegistry& metrics, const BalancerPlugins& balancers,
                                                 Random& random, const TimeSource& time, GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  /// Starts following the registry and listens. Errors name the address.
  Result<void> start();
  std::uint16_t port() const { return server_.port(); }
  std::size_t connections() const { return server_.connections(); }
  /// Stops accepting; requests in flight finish (answered with Connection: close).
  void begin_shutdown() { server_.begin_shutdown(); }
  /// Stops following the registry; routing goes on with the instances last seen.
  http::Awaitable<void> stop_following();
  /// After the connections drained: stops the client.
  http::Awaitable<void> shutdown();

  /// Answers one proxied request (public for tests of the mapping; the server calls it).
  http::Awaitable<http::Response> handle(http::Request& request, const http::RequestContext& context);

 private:
  struct Series {
    Counter* requests;
    Histogram* duration;
  };
  Series& series_for(const std::string& service, unsigned code);

  Gateway(boost::asio::io_context& io, Registry& registry, MetricsRegistry& metrics, Random& random,
          const TimeSource& time, GatewayOptions options);

  const std::uint64_t id_;
  GatewayOptions options_;
  const TimeSource& time_;
  MetricsRegistry& metrics_;
  boost::asio::strand<boost::asio::any_io_executor> discovery_strand_;
  DiscoveryClient discovery_;
  std::unique_ptr<ServiceClient> client_;
  http::HttpServer server_;
  Family<Counter>& requests_;
  Family<Histogram>& duration_;
};

}  // namespace svckit::daemon
