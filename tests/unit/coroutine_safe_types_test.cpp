// Compiled with the unit tests (static_asserts only). The types scripts/check-coroutine-traps lets
// appear brace-initialised inside a co_await expression: each declares a constructor, so it is not
// an aggregate, and GCC 12 destroys its temporaries once. If one of these asserts fails, the type became an aggregate
// again.
#include <type_traits>

#include "svckit/client/service_client.hpp"
#include "svckit/core/health_check_spec.hpp"
#include "svckit/core/service_instance.hpp"
#include "svckit/registry/registry.hpp"

namespace svckit {

static_assert(!std::is_aggregate_v<InstanceFilter>);
static_assert(!std::is_aggregate_v<WatchRequest>);
static_assert(!std::is_aggregate_v<ServiceInstance>);
static_assert(!std::is_aggregate_v<HealthCheckSpec>);
static_assert(!std::is_aggregate_v<CallOptions>);

}  // namespace svckit
