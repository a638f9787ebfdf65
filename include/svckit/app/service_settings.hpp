// A service process's wiring settings — which registry, event bus and task queue, how many
// workers, whether to register itself — from the environment variables services already use and
// an optional YAML file in the shape Python services write (`service_discovery:` with a backend
// and its backend_config). Environment wins over the file. A composition root reads them once:
//
//   auto settings = app::load_service_settings(process_environment(), read_file("config.yaml"));
//   auto registry = plugins.create(settings->discovery.registry_url, deps);
//   auto bus = events::connect_event_bus(settings->messaging_url, ...);
//   auto queue = queue::connect_task_queue(settings->queue_url, ...);
//
// Environment (docs/config.md has the same table, with the client's own variables):
//   SVCKIT_REGISTRY          registry URL (svckitd://, consul://, etcd://, redis://, ...)  memory://
//   MESSAGING_URL            event bus URL (memory://, redis://, nats://, amqp://)          memory://
//   REDIS_URL                Redis for the task queue when QUEUE_TYPE is redis              (none)
//   RABBITMQ_URL             RabbitMQ for the task queue when QUEUE_TYPE is rabbitmq        (none)
//   QUEUE_TYPE               memory, redis or rabbitmq (amqp)                               redis when REDIS_URL is
//                                                                                           set, else memory
//   MESSAGE_WORKERS          task/event workers, 1..1024                                    4
//   HEALTH_CHECK_ENABLED     true/false (1/0, yes/no): run and register health checks        true
//   MICROSERVICE_ENV, ENVIRONMENT   the config profile (config_manager.hpp config_profile)  dev
//
// YAML (every key optional; ${VAR} and ${VAR:-default} expanded from the same environment):
//   service_discovery:
//     backend: consul            svckitd, consul, etcd, redis, nats, eureka, nacos, memory, file, dns
//     backend_config: {url: http://localhost:8500, datacenter: dc1, token: ${CONSUL_TOKEN:-},
//                      username: svc, password: ${REGISTRY_PASSWORD}}
//     health_check_interval: 10s   instance_ttl: 30s   cleanup_interval: 60s
//     auto_register: true          auto_deregister: true    selection: weighted
// A token or password must come from the environment (`${NAME}`: the registry URL then names the
// variable, ?token_env=NAME) — a literal secret in the file is refused, naming the key.
//
// Errors name the variable or the key (service_discovery.backend_config.url) and nothing is
// returned half-built. Pure function of its inputs.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "svckit/core/result.hpp"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/discovery/instance_selection.hpp"

namespace svckit::app {

struct DiscoverySettings {
  std::string registry_url = "memory://";
  std::chrono::milliseconds health_check_interval{10'000};  // the self-registration's HTTP check
  std::chrono::milliseconds instance_ttl{30'000};           // the self-registration's TTL (heartbeats at a third)
  std::chrono::milliseconds cleanup_interval{60'000};       // memory://'s expiry sweep (?sweep=)
  bool auto_register = true;                                // register this process at start
  bool auto_deregister = true;                              // deregister it at shutdown
  InstanceSelection selection = InstanceSelection::weighted;
};

struct ServiceSettings {
  std::string profile = "dev";
  bool health_check_enabled = true;
  DiscoverySettings discovery;
  std::string messaging_url = "memory://";
  std::string redis_url;     // "" when REDIS_URL is unset
  std::string rabbitmq_url;  // RABBITMQ_URL, or MESSAGING_URL when QUEUE_TYPE=rabbitmq and it is amqp://
  std::string queue_type = "memory";
  std::string queue_url = "memory://";
  int message_workers = 4;
};

/// `env`: NAME=value pairs (svckit::process_environment(), or a test's). `yaml_text` may be empty.
Result<ServiceSettings> load_service_settings(const std::vector<std::pair<std::string, std::string>>& env,
                                              std::string_view yaml_text = {},
                                              const std::string& yaml_source = "config.yaml");

/// The DiscoveryClient options the settings ask for: the selection, and deregister_on_shutdown =
/// auto_deregister.
DiscoveryOptions discovery_options(const ServiceSettings& settings);
/// `instance` as this process registers itself (ttl = instance_ttl; with health checks enabled and
/// a health_check_path, an HTTP check of it every health_check_interval, the instance starting as
/// `starting` until it passes), or nullopt when auto_register is off.
std::optional<ServiceInstance> self_registration(const ServiceSettings& settings, ServiceInstance instance);

}  // namespace svckit::app
