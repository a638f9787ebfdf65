// Example for docs/health.md: actively check an HTTP service with a HealthMonitor, and let passive
// outlier detection take an instance that answers 5xx out of a ServiceBalancer.
#include <boost/asio/io_context.hpp>
#include <iostream>
#include <nlohmann/json.hpp>

#include "svckit/balance/service_balancer.hpp"
#include "svckit/health/health_monitor.hpp"
#include "svckit/http/server.hpp"

using namespace std::chrono_literals;
namespace http = svckit::http;

int main() {
  boost::asio::io_context io;
  svckit::RealTimeSource time;
  svckit::RealRandom random;

  // A service with a /health endpoint, on any free port.
  http::ServerOptions options;
  options.port = 0;
  http::HttpServer server(io, options, [](http::Request&) -> http::Awaitable<http::Response> {
    const nlohmann::json up{{"status", "UP"}};
    co_return http::json_response(http::Status::ok, up);
  });
  if (!server.listen()) return 1;

  // Active checks: the built-in checkers, chosen by each check's `type`.
  svckit::HealthCheckers::Builder builder;
  svckit::register_builtin_health_checkers(builder);
  const auto checkers = std::move(builder).build();
  svckit::HealthMonitor monitor(io.get_executor(), checkers, time, random, {}, [&](const svckit::HealthChange& change) {
    std::cout << change.id << ": " << to_string(change.from) << " -> " << to_string(change.to) << " (" << change.reason
              << ")\n";
    io.stop();  // one change is all this example waits for
  });
  svckit::ServiceInstance instance;
  instance.service = "product-service";
  instance.host = "127.0.0.1";
  instance.port = server.port();
  instance.normalize();
  svckit::HealthCheckSpec check;  // type "http", path "/health", 200-299
  check.interval = 100ms;
  check.timeout = 50ms;
  instance.checks = {check};
  if (!monitor.watch(instance)) return 1;
  io.run_for(5s);
  if (monitor.service("product-service").status != svckit::ServiceHealthStatus::healthy) return 1;
  monitor.stop();

  // Passive outlier detection: five 5xx in a row eject an instance for 30 s (Envoy's defaults).
  svckit::BalancerPlugins::Builder policies;
  svckit::register_builtin_balancers(policies);
  svckit::ServiceBalancerOptions balancing;
  balancing.policy = "round_robin";
  balancing.outlier = svckit::OutlierOptions{};
  auto balancer =
      svckit::ServiceBalancer::create("product-service", balancing, std::move(policies).build(), {random, time});
  if (!balancer) return 1;
  std::vector<svckit::ServiceInstance> instances;
  for (int i = 1; i <= 3; ++i) {
    auto in = instance;
    in.port = 8000 + i;
    in.id.clear();
    in.normalize();
    instances.push_back(in);
  }
  (*balancer)->update(instances);
  for (int failures = 0; failures < 5;) {
    auto pick = (*balancer)->pick();
    if (pick->instance->port != 8002) continue;
    (*balancer)->report(*pick, svckit::outcome_from_status(503), 2ms);
    ++failures;
  }
  for (int i = 0; i < 4; ++i) std::cout << "pick -> " << (*balancer)->pick()->instance->base_url() << "\n";
  std::cout << "ejected: " << (*balancer)->outlier()->stats().ejected << "\n";
  (*balancer)->tick();  // call every second or so: ends ejections whose time is up
  return (*balancer)->outlier()->is_ejected("127.0.0.1:8002") ? 0 : 1;
}
