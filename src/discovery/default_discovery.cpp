#include "svckit/discovery/default_discovery.hpp"

#include <atomic>

namespace svckit {

namespace {

std::atomic<DiscoveryClient*>& default_slot() {
  static std::atomic<DiscoveryClient*> slot{nullptr};
  return slot;
}

Error no_default() {
  return make_error(ErrorCode::internal, "no default DiscoveryClient: call set_default_discovery(&client) at start-up",
                    "default_discovery");
}

}  // namespace

void set_default_discovery(DiscoveryClient* client) noexcept {
  default_slot().store(client, std::memory_order_release);
}

DiscoveryClient* default_discovery() noexcept { return default_slot().load(std::memory_order_acquire); }

Awaitable<Result<ServiceInstance>> register_service(ServiceInstance instance) {
  auto* client = default_discovery();
  if (client == nullptr) co_return no_default();
  co_return co_await client->register_self(std::move(instance));
}

Awaitable<Result<void>> deregister_service() {
  auto* client = default_discovery();
  if (client == nullptr) co_return no_default();
  co_return co_await client->deregister_self();
}

Result<std::vector<ServiceInstance>> discover_service(const std::string& service) {
  auto* client = default_discovery();
  if (client == nullptr) return no_default();
  return client->discover(service);
}

Result<ServiceInstance> get_service(const std::string& service) {
  auto* client = default_discovery();
  if (client == nullptr) return no_default();
  return client->get_service(service);
}

Result<std::string> get_service_url(const std::string& service) {
  auto* client = default_discovery();
  if (client == nullptr) return no_default();
  return client->service_url(service);
}

Awaitable<Result<ServiceHealthReport>> health_check_service(std::string service, std::string id,
                                                            http::Transport* probe) {
  auto* client = default_discovery();
  if (client == nullptr) co_return no_default();
  const RealTimeSource time;
  HealthCheckRequest request(std::move(service), std::move(id), probe);
  co_return co_await health_check_service(*client, time, std::move(request));
}

}  // namespace svckit
