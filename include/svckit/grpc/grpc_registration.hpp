// GrpcRegistration: a gRPC server's presence in discovery, kept in step with its grpc.health.v1.
//
//   svckit::rpc::HealthService health;            // registered with the grpc::ServerBuilder
//   svckit::DiscoveryClient registration(executor, registry, random);
//   svckit::rpc::GrpcRegistration self(registration, health, {.service = "product-grpc", .port = port});
//   auto registered = co_await self.start();      // registers, then SERVING
//   ...
//   co_await self.drain(1s);                      // NOT_SERVING, drain, deregister
//   server->Shutdown(deadline);
//
// start() registers the instance (tag `grpc`, metadata protocol=grpc, and a `grpc` check so that
// svckitd checks it through grpc.health.v1) with the DiscoveryClient, which heartbeats it, and
// answers SERVING once it is registered. While registered, the instance's status as discovery
// sees it steers the answer: an operator putting it in maintenance (svckitd's API, `svckit
// maintenance`) turns it NOT_SERVING, and lifting maintenance turns it SERVING again. Statuses
// that checks decide (unhealthy) never feed back — that would keep an instance NOT_SERVING
// because it was once answered NOT_SERVING. drain() answers NOT_SERVING at once (callers and
// checks stop choosing it), waits `drain` for calls in flight, and deregisters.
//
// Thread-safety: start() and drain() on the DiscoveryClient's executor, one at a time.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "svckit/core/health_check_spec.hpp"
#include "svckit/discovery/discovery_client.hpp"

namespace svckit::rpc {

class HealthService;

struct GrpcRegistrationOptions {
  GrpcRegistrationOptions() = default;  // not an aggregate (GCC 12 coroutine note in registry/registry.hpp)
  std::string service;                  // required: the name callers use
  std::string host = "127.0.0.1";       // where callers reach the server
  int port = 0;                         // required: the server's bound port
  std::chrono::milliseconds ttl{10'000};
  std::vector<std::string> tags{"grpc"};
  std::map<std::string, std::string> metadata{{"protocol", "grpc"}};
  std::string zone;
  /// The check svckitd runs; nullopt: a `grpc` check every 10 s with a 2 s timeout. An empty
  /// optional type ("") registers no check (the TTL alone).
  std::optional<HealthCheckSpec> check;
};

class GrpcRegistration {
 public:
  /// `discovery` (its own, not the one the process registers its HTTP side with: a DiscoveryClient
  /// holds one registration) and `health` must outlive this.
  GrpcRegistration(DiscoveryClient& discovery, HealthService& health, GrpcRegistrationOptions options);
  ~GrpcRegistration();
  GrpcRegistration(const GrpcRegistration&) = delete;
  GrpcRegistration& operator=(const GrpcRegistration&) = delete;

  /// Starts the DiscoveryClient, registers, answers SERVING. Errors: the registration's (invalid
  /// options name the field: "service", "port", "checks[0]...").
  Awaitable<Result<ServiceInstance>> start();
  /// NOT_SERVING, then the DiscoveryClient's graceful shutdown: maintenance for `drain`, deregister.
  Awaitable<void> drain(std::chrono::milliseconds drain);
  /// The registered instance's id ("" before start()).
  const std::string& id() const { return id_; }

 private:
  void on_event(const RegistryEvent& event);

  DiscoveryClient& discovery_;
  HealthService& health_;
  GrpcRegistrationOptions options_;
  std::string id_;
  std::uint64_t handler_ = 0;
  bool draining_ = false;
};

}  // namespace svckit::rpc
