// EurekaApi: the part of Eureka's REST API svckitd speaks, so that a service with a Eureka client
// (Spring Cloud Netflix, eureka-js-client, any client of Netflix Eureka's REST API) registers and
// discovers against svckitd with no Eureka server. Like the Consul-compatible API it is a view over
// svckitd's one registry: an instance registered here is listed by the native and Consul APIs (and
// DNS), and the other way round. Mapping: svckit/registry/eureka_json.hpp. Served under both
// `/eureka` (Spring Cloud's path) and `/eureka/v2` (Netflix's):
//
//   POST   /apps/{app}                       register (204)      PUT /apps/{app}/{id}   renew (404: unknown)
//   DELETE /apps/{app}/{id}                  cancel              GET /apps, /apps/delta, /apps/{app}
//   GET    /apps/{app}/{id}, /instances/{id} one instance        GET /vips/{vip}, /svips/{vip}
//   PUT    /apps/{app}/{id}/status?value=OUT_OF_SERVICE          DELETE /apps/{app}/{id}/status
//   PUT    /apps/{app}/{id}/metadata?key=value
//
// Answers are JSON (Eureka's JSON shape); a request that accepts only XML gets 406. The delta holds
// the changes of the last three minutes (Eureka's retention), by their actionType; every answer's
// apps__hashcode is computed over the whole registry, so a client that reconciles (Spring's does)
// falls back to a full fetch when its copy drifted.
//
// Thread-safety: routes are added before serving; handlers are thread-safe.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <chrono>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <variant>

#include "daemon/acl_rules.hpp"
#include "svckit/http/router.hpp"
#include "svckit/registry/memory_registry.hpp"

namespace svckit::daemon {

class EurekaApi {
 public:
  using RegistrationCheck = std::function<Result<void>(const ServiceInstance&)>;

  /// `registry` must outlive the API.
  EurekaApi(MemoryRegistry& registry, RegistrationCheck check);

  void add_routes(http::Router& router);

 private:
  http::Awaitable<http::Response> register_instance(http::RouteContext& ctx);
  http::Awaitable<http::Response> renew(http::RouteContext& ctx);
  http::Awaitable<http::Response> cancel(http::RouteContext& ctx);
  http::Awaitable<http::Response> applications(http::RouteContext& ctx);
  http::Awaitable<http::Response> delta(http::RouteContext& ctx);
  http::Awaitable<http::Response> application(http::RouteContext& ctx);
  http::Awaitable<http::Response> instance(http::RouteContext& ctx);
  http::Awaitable<http::Response> instance_by_id(http::RouteContext& ctx);
  http::Awaitable<http::Response> by_vip(http::RouteContext& ctx, bool secure);
  http::Awaitable<http::Response> set_status(http::RouteContext& ctx, bool remove_override);
  http::Awaitable<http::Response> set_metadata(http::RouteContext& ctx);

  /// Every instance of the services the caller may read.
  std::vector<ServiceInstance> visible(const http::RouteContext& ctx) const;
  /// The instance {app}/{id} of the path — or the answer that refuses the request: 404 when
  /// unknown, and as for the Consul API's IDs, a service the caller may not read is answered as
  /// unknown (401 for a caller without a token), one it may read but not `need` with 403.
  std::variant<ServiceInstance, http::Response> path_instance(const http::RouteContext& ctx, Access need) const;
  /// `found` (an instance, or none) as path_instance() answers it.
  static std::variant<ServiceInstance, http::Response> found_or_refused(const http::RouteContext& ctx,
                                                                        std::optional<ServiceInstance> found,
                                                                        const std::string& service, Access need);
  /// The registry index of at least three minutes ago (or of the oldest request seen): where a
  /// delta starts. Notes the index now.
  std::uint64_t delta_start();

  MemoryRegistry& registry_;
  RegistrationCheck check_;
  std::mutex marks_mutex_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> marks_;  // guarded by marks_mutex_
};

}  // namespace svckit::daemon
