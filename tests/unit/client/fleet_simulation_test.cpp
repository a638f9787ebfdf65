// The real ServiceClient pipeline against simulated fleets, in virtual time (no sockets, no
// sleeps): each test states what the pipeline must achieve and prints the report.
#include "svckit/testing/fleet_simulation.hpp"

#include <gtest/gtest.h>

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

SimInstance healthy(std::string name) {
  SimInstance in;
  in.name = std::move(name);
  return in;
}

FleetScenario four_instances(std::string name) {
  FleetScenario s;
  s.name = std::move(name);
  for (const auto* n : {"a", "b", "c", "d"}) s.instances.push_back(healthy(n));
  return s;
}

const SimInstanceReport& instance(const FleetReport& r, const std::string& name) {
  for (const auto& i : r.instances) {
    if (i.name == name) return i;
  }
  throw std::out_of_range(name);
}

TEST(FleetSimulation, SameSeedSameReport) {
  auto s = four_instances("determinism");
  s.instances[1].error_rate = 0.2;
  s.instances[2].dies_at = 3s;
  s.config.hedging.enabled = true;
  s.config.hedging.delay = 8ms;
  s.duration = 8s;
  const auto first = simulate_fleet(s).to_text();
  EXPECT_EQ(first, simulate_fleet(s).to_text());
  s.seed = 2;
  EXPECT_NE(first, simulate_fleet(s).to_text());
}

TEST(FleetSimulation, HealthyFleetSpreadsLoadEvenly) {
  const auto r = simulate_fleet(four_instances("healthy"));
  std::cout << r.to_text();
  EXPECT_EQ(r.calls, 4000u);
  EXPECT_EQ(r.failed, 0u);
  EXPECT_EQ(r.retries, 0u);
  for (const auto& i : r.instances) {
    EXPECT_GT(i.requests, 900u) << i.name;
    EXPECT_LT(i.requests, 1100u) << i.name;
  }
}

TEST(FleetSimulation, DeadInstanceCostsNoFailedCallAndGetsNoTrafficAfterEjection) {
  auto s = four_instances("dead");
  s.instances[3].dies_at = 5s;
  const auto r = simulate_fleet(s);
  std::cout << r.to_text();
  EXPECT_EQ(r.failed, 0u);                              // every refused attempt was retried elsewhere
  EXPECT_LE(instance(r, "d").while_down, 6u);           // 5 consecutive failures eject it (+1 in flight)
  EXPECT_EQ(instance(r, "d").down_after_first_5s, 0u);  // ejected for 30 s: nothing more
  EXPECT_LE(r.retries, instance(r, "d").while_down);    // one retry per refused attempt, no more
}

TEST(FleetSimulation, EjectedInstanceIsProbedAgainAfterItsEjectionTime) {
  auto s = four_instances("dead-long");
  s.instances[3].dies_at = 5s;
  s.calls_per_second = 50;
  s.duration = 80s;
  const auto r = simulate_fleet(s);
  std::cout << r.to_text();
  EXPECT_EQ(r.failed, 0u);
  // Ejected at ~5 s for 30 s, back at ~35 s, ejected again (for 60 s) after 5 more failures.
  EXPECT_GE(instance(r, "d").while_down, 10u);
  EXPECT_LE(instance(r, "d").while_down, 12u);
}

TEST(FleetSimulation, RetryBudgetKeepsRetriesBoundedInAFullOutage) {
  auto s = four_instances("outage");
  for (auto& i : s.instances) i.error_rate = 1.0;
  for (auto* b : {&s.config.service_breaker, &s.config.instance_breaker}) {  // breakers never judge:
    b->window = CircuitBreakerOptions::Window::time_based;                   // every call reaches
    b->sliding_window_size = 3600;                                           // the instances
    b->minimum_number_of_calls = 1'000'000;
  }
  s.duration = 10s;
  const auto r = simulate_fleet(s);
  std::cout << r.to_text();
  EXPECT_EQ(r.failed, r.calls);
  // A6 token bucket (10 tokens, ratio 0.1): retries stop once tokens fall to half; failures refill
  // nothing. Without the budget, 2000 calls × 2 retries would be 4000.
  EXPECT_LE(r.retries, 10u);
  EXPECT_GT(r.budget_exhausted, 1900u);
}

TEST(FleetSimulation, ConcurrencyBudgetCapsRetriesInFlightAtAShareOfTheCalls) {
  // Envoy's budget: retries in flight <= max(3, 20% of calls in flight). 2,000 calls/s that each
  // wait 50 ms for a 503 keep ~100 calls in flight: ~20 retries may be in flight, each lasting
  // ~50 ms, so about 400 retries/s can start — 0.2 per call, against 2 per call without a budget.
  auto s = four_instances("outage-concurrency-budget");
  for (auto& i : s.instances) {
    i.error_rate = 1.0;
    i.latency = 50ms;
    i.slow_factor = 1;
  }
  for (auto* b : {&s.config.service_breaker, &s.config.instance_breaker}) {
    b->window = CircuitBreakerOptions::Window::time_based;
    b->sliding_window_size = 3600;
    b->minimum_number_of_calls = 1'000'000;
  }
  s.config.balancing.outlier.reset();
  s.config.retry_budget_mode = ServiceConfig::RetryBudgetMode::concurrency;
  s.calls_per_second = 2000;
  s.duration = 5s;
  const auto r = simulate_fleet(s);
  std::cout << r.to_text();
  EXPECT_EQ(r.failed, r.calls);
  EXPECT_GT(r.retries_per_call, 0.05);
  EXPECT_LT(r.retries_per_call, 0.35);
  EXPECT_GT(r.budget_exhausted, r.calls / 2);
}

TEST(FleetSimulation, HungInstanceIsCutAtThePerTryTimeoutAndEjected) {
  auto s = four_instances("hung");
  s.instances[0].hangs_at = 2s;
  s.config.per_try_timeout = 100ms;
  s.config.timeout = 1s;
  s.duration = 10s;
  const auto r = simulate_fleet(s);
  std::cout << r.to_text();
  EXPECT_EQ(r.failed, 0u);
  EXPECT_LE(instance(r, "a").while_down, 6u);
  EXPECT_EQ(instance(r, "a").down_after_first_5s, 0u);
  EXPECT_LT(r.max_ms, 200.0);  // one cut attempt (100 ms) + backoff + a good attempt
}

TEST(FleetSimulation, HedgingCutsTheTailThatASlowInstanceCauses) {
  auto s = four_instances("slow");
  s.instances[2].slow_factor = 20;  // ~100 ms instead of 5
  s.config.balancing.policy = "round_robin";
  s.config.balancing.outlier.reset();
  s.duration = 10s;
  const auto plain = simulate_fleet(s);
  s.config.hedging.enabled = true;
  s.config.hedging.delay = 20ms;
  const auto hedged = simulate_fleet(s);
  std::cout << plain.to_text() << hedged.to_text();
  EXPECT_GT(plain.p99_ms, 100.0);
  EXPECT_LT(hedged.p99_ms, 40.0);
  EXPECT_GT(hedged.hedges, 400u);  // about every call that went to the slow instance
  EXPECT_EQ(hedged.failed, 0u);
}

TEST(FleetSimulation, LatencyAwareBalancingMovesLoadOffASlowAndAColdInstance) {
  auto s = four_instances("slow-cold");
  s.config.balancing.policy = "peak_ewma";
  s.config.balancing.balancer.peak_ewma_decay = 2s;  // default 10 s: a warm-up is forgotten ~5× slower
  s.instances[0].slow_factor = 8;
  s.instances[1].cold_for = 5s;
  s.duration = 30s;
  const auto r = simulate_fleet(s);
  std::cout << r.to_text();
  EXPECT_EQ(r.failed, 0u);
  EXPECT_LT(instance(r, "a").requests, r.calls / 10);  // slow: well under its 25%
  EXPECT_GT(instance(r, "b").requests, r.calls / 5);   // cold for 5 s, then back to its share
}

TEST(FleetSimulation, FlappingInstanceCostsNoFailedCall) {
  auto s = four_instances("flapping");
  s.instances[1].flap_period = 3s;
  const auto r = simulate_fleet(s);
  std::cout << r.to_text();
  EXPECT_EQ(r.failed, 0u);
  EXPECT_LT(instance(r, "b").requests, instance(r, "a").requests / 2);
}

}  // namespace
}  // namespace svckit::testing
