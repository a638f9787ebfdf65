// The svckitd HTTP API over a MemoryRegistry: JSON in, JSON out, Prometheus metrics.
#pragma once

#include <chrono>

#include "svckit/core/metrics.hpp"
#include "svckit/http/router.hpp"
#include "svckit/registry/memory_registry.hpp"

namespace svckit::daemon {

struct RegistryApiOptions {
  std::chrono::milliseconds default_wait{30'000};
  std::chrono::milliseconds max_wait{300'000};
};

/// Thread-safe once constructed (the router is immutable; the registry and metrics are thread-safe).
class RegistryApi {
 public:
  RegistryApi(MemoryRegistry& registry, MetricsRegistry& metrics, RegistryApiOptions options);

  /// Entry point for HttpServer: routes, records per-route request metrics and latency.
  http::Awaitable<http::Response> handle(http::Request& request);

  /// Set-up only (before serving): more routes, and a check every registration must pass.
  http::Router& router() { return router_; }
  void set_registration_check(std::function<Result<void>(const ServiceInstance&)> check) {
    registration_check_ = std::move(check);
  }

 private:
  void add_routes();
  http::Awaitable<http::Response> register_instance(http::RouteContext& ctx);
  http::Awaitable<http::Response> deregister(http::RouteContext& ctx);
  http::Awaitable<http::Response> heartbeat(http::RouteContext& ctx);
  http::Awaitable<http::Response> set_status(http::RouteContext& ctx);
  http::Awaitable<http::Response> get_instance(http::RouteContext& ctx);
  http::Awaitable<http::Response> list_instances(http::RouteContext& ctx);
  http::Awaitable<http::Response> list_services(http::RouteContext& ctx);
  http::Awaitable<http::Response> watch(http::RouteContext& ctx);
  http::Response metrics_text();

  /// Reads ?index= and ?wait= (bounded by max_wait).
  Result<WatchRequest> watch_request(const http::Target& target, std::string service) const;

  MemoryRegistry& registry_;
  MetricsRegistry& metrics_;
  RegistryApiOptions options_;
  http::Router router_;
  std::function<Result<void>(const ServiceInstance&)> registration_check_;
  Counter& registrations_;
  Counter& deregistrations_;
  Counter& discoveries_;
  Counter& heartbeats_;
  Family<Counter>& requests_;
  Family<Histogram>& latency_;
  Family<Gauge>& instances_active_;
  Gauge& watchers_active_;
};

}  // namespace svckit::daemon
