// NacosApi: the naming part of Nacos's Open API (v1) svckitd speaks, so that a service with a Nacos
// client (the Java and Go SDKs, nacos-sdk-python, the npm `nacos` package) registers and discovers
// against svckitd with no Nacos server. A view over svckitd's one registry, like the Consul and
// Eureka APIs: an instance registered here is seen by every other API and by DNS, and the other
// way round. Mapping: svckit/registry/nacos_json.hpp.
//
//   POST/PUT/DELETE/GET /nacos/v1/ns/instance   register / update / deregister / one instance
//   GET  /nacos/v1/ns/instance/list             a service's hosts (clients poll it: cacheMillis)
//   PUT  /nacos/v1/ns/instance/beat             heartbeat; registers the instance the beat
//                                               describes when it is unknown, as Nacos does
//   GET  /nacos/v1/ns/service/list              service names, paged
//   GET  /nacos/v1/ns/operator/metrics          {"status": "UP", ...}
//
// Parameters come in the query string or, as the Java client sends them, in a form-encoded body.
// Thread-safety: routes are added before serving; handlers are thread-safe.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <functional>

#include "svckit/http/router.hpp"
#include "svckit/registry/memory_registry.hpp"
#include "svckit/registry/nacos_json.hpp"

namespace svckit::daemon {

/// A Nacos request's parameters: the query and, for a form-encoded body, its fields.
Result<nacos::Params> nacos_params(const http::RouteContext& ctx);

class NacosApi {
 public:
  using RegistrationCheck = std::function<Result<void>(const ServiceInstance&)>;

  /// `registry` must outlive the API. `cache_millis`: how often clients are told to poll a list.
  NacosApi(MemoryRegistry& registry, RegistrationCheck check, int cache_millis = 1'000);

  void add_routes(http::Router& router);

 private:
  http::Awaitable<http::Response> register_instance(http::RouteContext& ctx);
  http::Awaitable<http::Response> update_instance(http::RouteContext& ctx);
  http::Awaitable<http::Response> deregister(http::RouteContext& ctx);
  http::Awaitable<http::Response> get_instance(http::RouteContext& ctx);
  http::Awaitable<http::Response> list(http::RouteContext& ctx);
  http::Awaitable<http::Response> beat(http::RouteContext& ctx);
  http::Awaitable<http::Response> services(http::RouteContext& ctx);
  http::Awaitable<http::Response> metrics(http::RouteContext& ctx);
  /// POST /nacos/v1/auth/login: the password is an ACL token's secret, which becomes the
  /// accessToken the client sends from then on.
  http::Awaitable<http::Response> login(http::RouteContext& ctx);

  /// Stores `instance` (registration checks, ACL write on its service); the answer Nacos gives.
  http::Awaitable<http::Response> store(http::RouteContext& ctx, ServiceInstance instance);
  /// The instance of serviceName/ip/port (in its group and namespace) `params` name.
  Awaitable<Result<ServiceInstance>> find(nacos::Params params) const;

  MemoryRegistry& registry_;
  RegistrationCheck check_;
  const int cache_millis_;
};

}  // namespace svckit::daemon
