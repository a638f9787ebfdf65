// Prints the fleet simulation's report for a set of standard scenarios (virtual time, no sockets;
// same seed → same figures). tests/unit/client/fleet_simulation_test.cpp asserts on the same runs.
//   build/bench/fleet_simulation [--seed N]
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "svckit/testing/fleet_simulation.hpp"

using namespace std::chrono_literals;
using svckit::testing::FleetScenario;
using svckit::testing::SimInstance;

namespace {

FleetScenario fleet(const char* name, std::uint64_t seed) {
  FleetScenario s;
  s.name = name;
  s.seed = seed;
  for (const auto* n : {"a", "b", "c", "d"}) {
    SimInstance in;
    in.name = n;
    s.instances.push_back(in);
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::uint64_t seed = 1;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--seed") == 0) seed = std::strtoull(argv[i + 1], nullptr, 10);
  }
  std::vector<FleetScenario> runs;
  runs.push_back(fleet("healthy", seed));
  auto dead = fleet("dead-at-5s", seed);
  dead.instances[3].dies_at = 5s;
  runs.push_back(dead);
  auto hung = fleet("hung-at-2s", seed);
  hung.instances[0].hangs_at = 2s;
  hung.config.per_try_timeout = 100ms;
  runs.push_back(hung);
  auto flapping = fleet("flapping-3s", seed);
  flapping.instances[1].flap_period = 3s;
  runs.push_back(flapping);
  auto outage = fleet("full-outage-503", seed);
  for (auto& in : outage.instances) in.error_rate = 1.0;
  runs.push_back(outage);
  auto slow = fleet("one-slow-x20-round-robin", seed);
  slow.instances[2].slow_factor = 20;
  slow.config.balancing.policy = "round_robin";
  runs.push_back(slow);
  slow.name = "one-slow-x20-hedged-20ms";
  slow.config.hedging.enabled = true;
  slow.config.hedging.delay = 20ms;
  runs.push_back(slow);
  auto cold = fleet("slow-x8-and-cold-5s-peak-ewma", seed);
  cold.config.balancing.policy = "peak_ewma";
  cold.instances[0].slow_factor = 8;
  cold.instances[1].cold_for = 5s;
  runs.push_back(cold);
  for (const auto& run : runs) std::cout << svckit::testing::simulate_fleet(run).to_text() << "\n";
  return 0;
}
