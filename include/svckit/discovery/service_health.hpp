// One call to learn whether a service (or one instance of it) is healthy, from the caller's side:
// from the registry's statuses (which svckitd's health checks, TTL heartbeats and operators keep),
// or by probing each instance's health path now.
//
//   auto health = co_await health_check_service(discovery, time, {"product-service"});
//   if (health && health->healthy()) ...
//   HealthCheckRequest probe{"product-service", "", &http_client};   // GET /health on each, now
//
// Thread-safety: as the DiscoveryClient and Transport given.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/http/transport.hpp"

namespace svckit {

struct InstanceHealthReport {
  ServiceInstance instance;
  bool healthy = false;
  /// What decided it: "registry" (the instance's status there) or "probe".
  std::string source;
  int http_status = 0;  // probe: the answer's status; 0 when none came
  std::string detail;   // probe: "GET /health 200", or why it failed
  std::chrono::microseconds latency{0};
};

struct ServiceHealthReport {
  std::string service;
  std::vector<InstanceHealthReport> instances;
  std::size_t healthy_count() const;
  /// At least one instance is healthy.
  bool healthy() const { return healthy_count() > 0; }
};

struct HealthCheckRequest {
  HealthCheckRequest() = default;  // not an aggregate (GCC 12 coroutine note in registry/registry.hpp)
  HealthCheckRequest(std::string s, std::string i = {}, http::Transport* p = nullptr)
      : service(std::move(s)), id(std::move(i)), probe(p) {}
  std::string service;
  std::string id;  // empty: every instance
  /// Non-null: GET each instance's health_check_path ("/health" when it has none) through this
  /// transport; a 2xx answer within `timeout` is healthy. Null: the registry's status decides.
  http::Transport* probe = nullptr;
  std::chrono::milliseconds timeout{2'000};
};

/// The instances come from `discovery` (its cache; before its first sync, the registry), every
/// status. Errors: invalid_argument (a bad service name), not_found (no instance, or no instance
/// with that id), the registry's errors.
Awaitable<Result<ServiceHealthReport>> health_check_service(DiscoveryClient& discovery, const TimeSource& time,
                                                            HealthCheckRequest request);

}  // namespace svckit
