// Factories of the built-in health checkers (one folder each).
#pragma once

#include <memory>

#include "svckit/health/health_checker.hpp"

namespace svckit::health_detail {

std::shared_ptr<HealthChecker> make_http_checker();
std::shared_ptr<HealthChecker> make_tcp_checker();
std::shared_ptr<HealthChecker> make_redis_checker();
std::shared_ptr<HealthChecker> make_postgres_checker();

}  // namespace svckit::health_detail
