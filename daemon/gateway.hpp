// Gateway: svckitd's reverse proxy. Routes requests — by Host/path-prefix routes from the config,
// else as /{service}/{rest...} — to a healthy instance of a service through the same ServiceClient
// the SDK uses (balancing, outlier ejection, breakers, retries with a budget, deadlines), not a
// second copy of that code, fed by a DiscoveryClient that follows svckitd's own registry.
//
// Bodies stream both ways: a request body up to buffer_request_bytes is read first (so the request
// can be retried elsewhere); a larger or chunked one is relayed as it arrives and the request is
// then retried only if it failed before its body was touched. An answer with a Content-Length up
// to buffer_response_bytes is relayed in one write; larger ones stream. WebSocket (any Upgrade)
// handshakes are passed through and the two connections spliced.
//
// Threading: `threads` workers, each an io_context on its own thread with its own listener on the
// shared port (SO_REUSEPORT), its own connections and its own upstream pool. Balancing, breakers
// and budgets are shared (one ServiceClient); picks read host-set snapshots without locks, and
// routes are an immutable table swapped by set_routes() (readers take no lock unless it changed).
// Lifetime: begin_shutdown(), stop_following(), drain, co_await shutdown(), then destroy.
#pragma once

#include <algorithm>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/strand.hpp>

#include "daemon/gateway_access.hpp"
#include "daemon/gateway_routes.hpp"
#include "daemon/json_lines.hpp"
#include "svckit/balance/load_balancer.hpp"
#include "svckit/client/service_client.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/http/server.hpp"
#include "svckit/registry/registry.hpp"
#include "svckit/trace/tracer.hpp"

namespace svckit::daemon {

struct HeadFacts;  // daemon/proxy_headers.hpp

struct GatewayOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  unsigned threads = 0;                          // I/O threads; 0 = one per core
  std::uint64_t max_body_bytes = 1ULL << 30;     // a request body, streamed or not; larger get 413
  std::size_t buffer_request_bytes = 64 << 10;   // bodies up to this (with a Content-Length) are retryable
  std::size_t buffer_response_bytes = 64 << 10;  // answers up to this are relayed in one write
  std::size_t max_response_bytes = 64 << 20;     // error answers (>= 400, buffered); larger get 502
  std::size_t max_header_bytes = 16 << 10;
  std::size_t max_connections = 10'000;                    // per thread
  std::chrono::milliseconds timeout{30'000};               // a request's deadline, body transfer included
  std::chrono::milliseconds per_try_timeout{10'000};       // one upstream attempt
  std::chrono::milliseconds tunnel_idle_timeout{300'000};  // a WebSocket tunnel with no byte either way closes
  int max_attempts = 3;                                    // idempotent requests only
  double retry_budget_percent = 50;                        // retries in flight <= max(3, this % of requests in flight)
  std::string policy = "least_request";
  bool access_log = false;
  /// gateway.access_log_file: one JSON line per request (time, remote, method, path, service,
  /// status, upstream, attempts, duration_ms, trace_id); null = none. Must outlive the gateway.
  JsonLines* access_log_lines = nullptr;
  std::vector<std::string> trusted_proxies;  // peers whose X-Forwarded-* headers are kept (see SvckitdConfig)
  RouteTable routes;
  /// Null: plain HTTP. Set: every worker's listener speaks TLS with it (X-Forwarded-Proto: https).
  std::shared_ptr<http::TlsServerContext> tls;
  /// Non-null: each request is a server span ("<METHOD> <route>"), the parent of the call's spans;
  /// the upstream receives their traceparent. Must outlive the gateway.
  const trace::Tracer* tracer = nullptr;
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

  /// Starts following the registry, listens on every worker and starts their threads. Errors name
  /// the address.
  Result<void> start();
  std::uint16_t port() const { return port_; }
  /// Open client connections, all workers.
  std::size_t connections() const;
  /// Stops accepting; requests in flight finish (answered with Connection: close); tunnels close.
  void begin_shutdown();
  /// Stops following the registry; routing goes on with the instances last seen.
  http::Awaitable<void> stop_following();
  /// After the connections drained: stops the client and the worker threads.
  http::Awaitable<void> shutdown();

  /// Replaces the routes (hot reload). Thread-safe; requests already routed are not affected.
  void set_routes(RouteTable routes);

  /// How the gateway balances `service` now (instances, outlier ejections, breakers); nullopt
  /// before its first request to the service. Thread-safe.
  std::optional<ServiceBalancingView> balancing(const std::string& service) const;

  struct Tunnel;  // a spliced WebSocket connection pair (gateway_tunnel.cpp)

 private:
  struct Worker;
  struct Series {
    std::shared_ptr<Counter> requests;
    std::shared_ptr<Histogram> duration;
    std::uint64_t generation;  // MetricsRegistry::generation() when looked up
  };
  struct Outcome {  // what one proxied request came to, for metrics and the access log
    unsigned status = 0;
    std::string label = "_unknown";
    std::string instance;
    int attempts = 0;
    std::string identity;      // who the route's authentication said called (API key name, JWT sub)
    std::string route;         // the configured route ("host/prefix"), or "/{service}" for the default form
    std::uint64_t bytes = 0;   // body bytes answered to the client
    trace::SpanContext trace;  // the request's server span (invalid when not tracing)
  };
  Series& series_for(const std::string& service, unsigned code);
  std::shared_ptr<const RouteTable> routes();

  Gateway(boost::asio::io_context& io, Registry& registry, MetricsRegistry& metrics, Random& random,
          const TimeSource& time, GatewayOptions options);

  http::Awaitable<void> serve(Worker& worker, http::ServerExchange& exchange);
  http::Awaitable<void> proxy(Worker& worker, http::ServerExchange& exchange, const HeadFacts& facts,
                              const RouteMatch& route, const AccessGrant& grant, Outcome& out);
  /// The table with a rate limiter for each route that has a rate_limit.
  static std::shared_ptr<const RouteTable> with_limiters(RouteTable table, const TimeSource& time);
  /// The peer is one of options_.trusted_proxies (its X-Forwarded-* headers are passed on).
  bool trusted_peer(const std::string& address) const {
    return std::find(options_.trusted_proxies.begin(), options_.trusted_proxies.end(), address) !=
           options_.trusted_proxies.end();
  }
  http::Awaitable<void> tunnel(http::ServerExchange& exchange, const RouteMatch& route, const AccessGrant& grant,
                               Outcome& out);
  void stop_workers();
  void close_tunnels();

  const std::uint64_t id_;
  GatewayOptions options_;
  const TimeSource& time_;
  MetricsRegistry& metrics_;
  boost::asio::strand<boost::asio::any_io_executor> discovery_strand_;
  DiscoveryClient discovery_;
  std::unique_ptr<ServiceClient> client_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::uint16_t port_ = 0;
  Family<Counter>& requests_;
  Family<Histogram>& duration_;
  Counter& tunnels_;

  std::mutex routes_mutex_;
  std::shared_ptr<const RouteTable> routes_;      // guarded by routes_mutex_
  std::atomic<std::uint64_t> routes_version_{1};  // bumped after routes_ changes

  std::mutex tunnels_mutex_;
  std::vector<std::weak_ptr<Tunnel>> open_tunnels_;  // guarded by tunnels_mutex_; closed by begin_shutdown()
  std::atomic<bool> shutting_down_{false};
};

}  // namespace svckit::daemon
