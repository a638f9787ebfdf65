// Free functions for the common cases, in the shape Python services write them
// (`register_service(...)`, `discover_service(name)`, `get_service_url(name)`), over a
// process-wide default DiscoveryClient that the application creates and names itself — nothing is
// constructed behind its back:
//
//   svckit::DiscoveryClient discovery(io.get_executor(), registry, random);
//   svckit::set_default_discovery(&discovery);          // at start-up, once
//   ...
//   auto url = svckit::get_service_url("user-service");  // anywhere in the process
//   ...
//   svckit::set_default_discovery(nullptr);             // before `discovery` is destroyed
//
// Libraries should take a DiscoveryClient& instead; these are for application code.
// Thread-safety: setting and reading the default are atomic; the functions are as thread-safe as
// the DiscoveryClient method each calls (register/deregister on its executor).
#pragma once

#include <string>
#include <vector>

#include "svckit/discovery/discovery_client.hpp"
#include "svckit/discovery/service_health.hpp"

namespace svckit {

/// Makes `client` the default (nullptr: none). Not owned: it must outlive its time as default.
void set_default_discovery(DiscoveryClient* client) noexcept;
/// The default, or nullptr.
DiscoveryClient* default_discovery() noexcept;

// Each of these fails with `internal` ("no default DiscoveryClient: call set_default_discovery")
// when none is set.

/// register_self() on the default: registers this process (and keeps its TTL alive).
Awaitable<Result<ServiceInstance>> register_service(ServiceInstance instance);
/// deregister_self() on the default.
Awaitable<Result<void>> deregister_service();
/// The cached instances of `service` (every status).
Result<std::vector<ServiceInstance>> discover_service(const std::string& service);
/// One healthy instance chosen by the default's selection (weighted unless configured otherwise).
Result<ServiceInstance> get_service(const std::string& service);
/// That instance's base URL ("http://10.0.0.7:8081").
Result<std::string> get_service_url(const std::string& service);
/// health_check_service() on the default: from the registry's statuses, or probing with `probe`.
Awaitable<Result<ServiceHealthReport>> health_check_service(std::string service, std::string id = {},
                                                            http::Transport* probe = nullptr);

}  // namespace svckit
