// The "everything" registration functions of the umbrella library (svckit::svckit): every backend
// of every component. A consumer of single components calls the components' own functions.
#include "health/checkers/checkers.hpp"
#include "svckit/health/health_checker.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace svckit {

void register_builtin_plugins(RegistryPlugins::Builder& builder) {
  register_core_plugins(builder);
  register_redis_plugins(builder);
  register_nats_plugins(builder);
}

void register_builtin_health_checkers(HealthCheckers::Builder& builder) {
  register_core_health_checkers(builder);
  builder.add("redis", health_detail::make_redis_checker()).add("postgres", health_detail::make_postgres_checker());
}

}  // namespace svckit
