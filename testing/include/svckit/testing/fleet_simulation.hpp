// Fleet simulation: the real ServiceClient pipeline (balancing, outlier ejection, breakers,
// retries, budget, hedging, deadlines) against simulated instances that are healthy, slow, cold,
// flapping, dead or hung — no sockets, in virtual time, deterministic for a given seed.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "svckit/client/service_client.hpp"

namespace svckit::testing {

/// How one simulated instance behaves. Times are measured from the start of the run; a negative
/// time means never.
struct SimInstance {
  std::string name;                          // also its host name ("name:8080")
  std::chrono::microseconds latency{5'000};  // mean service time (exponential around half of it)
  double error_rate = 0;                     // share of answers that are 503
  double slow_factor = 1;                    // latency multiplier, always
  std::chrono::milliseconds cold_for{0};     // slow while warming up: latency × cold_factor
  double cold_factor = 10;
  std::chrono::milliseconds flap_period{0};   // > 0: refuses connections in every other period
  std::chrono::milliseconds dies_at{-1};      // from then on: connection refused, at once
  std::chrono::milliseconds hangs_at{-1};     // from then on: accepts and never answers
  std::chrono::milliseconds recovers_at{-1};  // dead or hung instances answer again from then on
};

struct FleetScenario {
  std::string name = "fleet";
  std::vector<SimInstance> instances;
  ServiceConfig config;  // static_urls are filled in by the simulation
  double calls_per_second = 200;
  std::chrono::milliseconds duration{20'000};
  std::uint64_t seed = 1;
};

struct SimInstanceReport {
  std::string name;
  std::uint64_t requests = 0;    // attempts that reached it
  std::uint64_t failed = 0;      // refused, timed out, or 5xx
  std::uint64_t while_down = 0;  // attempts sent while it was dead or hung
  std::uint64_t down_after_first_5s =
      0;  // of those, more than 5 s after it went down (ejection should have stopped them)
};

struct FleetReport {
  std::string scenario;
  std::uint64_t calls = 0, failed = 0, attempts = 0, retries = 0, hedges = 0, budget_exhausted = 0, breaker_trips = 0;
  std::map<std::string, std::uint64_t> failures_by_kind;
  double retries_per_call = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;  // call latency, virtual time
  std::vector<SimInstanceReport> instances;
  /// Human-readable table (what bench/fleet_simulation prints).
  std::string to_text() const;
};

/// Runs the scenario to its end (calls still in flight then are waited for). Deterministic.
FleetReport simulate_fleet(const FleetScenario& scenario);

}  // namespace svckit::testing
