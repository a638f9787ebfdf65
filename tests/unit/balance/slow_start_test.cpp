// Slow start, balancer state for metrics, and ejected hosts in a HostSet, on a SimulatedClock.
#include <gtest/gtest.h>

#include <map>
#include <thread>

#include "svckit/balance/load_balancer.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;

ServiceInstance slow_host(int n, InstanceStatus status = InstanceStatus::healthy) {
  ServiceInstance in;
  in.service = "s";
  in.host = "10.0.0." + std::to_string(n);
  in.port = 8080;
  in.status = status;
  in.normalize();
  return in;
}

class SlowStart : public ::testing::Test {
 protected:
  std::unique_ptr<LoadBalancer> make(const std::string& name) {
    BalancerPlugins::Builder builder;
    register_builtin_balancers(builder);
    options.slow_start_window = 10s;
    auto lb = std::move(builder).build().create(name, options, {random, clock});
    EXPECT_TRUE(lb.ok());
    return std::move(*lb);
  }
  /// Picks `n` times and returns how many went to host 3.
  /// peak_ewma needs latencies to compare (every call takes 1 ms here).
  int picks_of_new_host(LoadBalancer& lb, int n) {
    int hits = 0;
    for (int i = 0; i < n; ++i) {
      auto pick = lb.pick({});
      hits += pick->instance->id == "10.0.0.3:8080" ? 1 : 0;
      lb.record(*pick, 1ms);
    }
    return hits;
  }

  BalancerOptions options;
  testing::FakeRandom random{11};
  testing::SimulatedClock clock;
};

TEST_F(SlowStart, NewHostRampsLinearlyFromTheFloorToFullWeight) {
  auto lb = make("weighted_round_robin");
  lb->update(HostSet::make({slow_host(1), slow_host(2)}));
  EXPECT_EQ(lb->state().slow_start, 0u) << "hosts of the first update are not new";

  lb->update(HostSet::make({slow_host(1), slow_host(2), slow_host(3)}));
  EXPECT_EQ(lb->state().slow_start, 1u);
  // Weights 100, 100 and 10 (the 10% floor): one pick in 21.
  EXPECT_EQ(picks_of_new_host(*lb, 21 * 10), 10);

  clock.advance(5s);  // half the window, linear: 50
  EXPECT_EQ(picks_of_new_host(*lb, 25 * 10), 50) << "weights 100, 100, 50 (smooth WRR: exact per cycle)";

  clock.advance(5s);  // window over: full weight, no more ramping
  EXPECT_EQ(picks_of_new_host(*lb, 3 * 10), 10);
  EXPECT_EQ(lb->state().slow_start, 0u);
}

TEST_F(SlowStart, AggressionBendsTheCurve) {
  options.slow_start_aggression = 2.0;  // (age/window)^(1/2): 0.25 of the window gives 50%
  auto lb = make("weighted_round_robin");
  lb->update(HostSet::make({slow_host(1), slow_host(2)}));
  lb->update(HostSet::make({slow_host(1), slow_host(2), slow_host(3)}));
  clock.advance(2500ms);
  EXPECT_EQ(picks_of_new_host(*lb, 25 * 4), 20);
}

TEST_F(SlowStart, HostTurningHealthyAgainRampsAgain) {
  auto lb = make("weighted_round_robin");
  lb->update(HostSet::make({slow_host(1), slow_host(2), slow_host(3)}));
  EXPECT_EQ(picks_of_new_host(*lb, 30), 10);
  lb->update(HostSet::make({slow_host(1), slow_host(2), slow_host(3, InstanceStatus::unhealthy)}));
  EXPECT_EQ(picks_of_new_host(*lb, 30), 0);
  clock.advance(1s);
  lb->update(HostSet::make({slow_host(1), slow_host(2), slow_host(3)}));
  EXPECT_EQ(lb->state().slow_start, 1u);
  EXPECT_EQ(picks_of_new_host(*lb, 21 * 5), 5);  // back at the floor
}

TEST_F(SlowStart, WeightedPoliciesShiftLoadTowardsTheRampingHostOverTime) {
  for (const char* name : {"weighted_random", "least_request", "peak_ewma"}) {
    auto lb = make(name);
    lb->update(HostSet::make({slow_host(1), slow_host(2)}));
    lb->update(HostSet::make({slow_host(1), slow_host(2), slow_host(3)}));
    int early = picks_of_new_host(*lb, 30'000);
    clock.advance(10s);
    int late = picks_of_new_host(*lb, 30'000);
    // weighted_random: 10/210 = 4.8% then 33%; the P2C policies compare weights only when the
    // candidates' loads tie (no requests in flight here), so the new host wins fewer draws early.
    EXPECT_LT(early, late / 2) << name << " early=" << early << " late=" << late;
    EXPECT_GT(late, 8'000) << name;
  }
}

TEST_F(SlowStart, HashPoliciesKeepFullWeightSoKeysDoNotMove) {
  for (const char* name : {"ring_hash", "maglev"}) {
    auto lb = make(name);
    lb->update(HostSet::make({slow_host(1), slow_host(2)}));
    lb->update(HostSet::make({slow_host(1), slow_host(2), slow_host(3)}));
    std::map<std::uint64_t, std::string> before;
    for (std::uint64_t k = 0; k < 2000; ++k) {
      PickRequest r;
      r.hash = hash_key(std::to_string(k));
      before[k] = lb->pick(r)->instance->id;
    }
    clock.advance(5s);
    for (std::uint64_t k = 0; k < 2000; ++k) {
      PickRequest r;
      r.hash = hash_key(std::to_string(k));
      ASSERT_EQ(lb->pick(r)->instance->id, before[k]) << name;
    }
  }
}

TEST_F(SlowStart, StateReportsCountsAndPanic) {
  auto lb = make("round_robin");
  EXPECT_EQ(lb->state().hosts, 0u);
  auto drained = slow_host(4);
  drained.weight = 0;
  lb->update(HostSet::make(
      {slow_host(1), slow_host(2, InstanceStatus::unhealthy), slow_host(3, InstanceStatus::unhealthy), drained}));
  auto s = lb->state();
  EXPECT_EQ(s.hosts, 4u);
  EXPECT_EQ(s.routable, 3u);
  EXPECT_EQ(s.healthy, 1u);
  EXPECT_TRUE(s.panic) << "1 of 3 healthy is below 50%";
  EXPECT_EQ(s.candidates, 3u);
}

TEST(HostSetEjection, EjectedHostsAreUnhealthyForBalancingOnly) {
  auto set = HostSet::make({slow_host(3), slow_host(1), slow_host(2)}, 7, {"10.0.0.2:8080"});
  EXPECT_EQ(set->healthy.size(), 2u);
  EXPECT_EQ(set->routable.size(), 3u);
  EXPECT_EQ(set->ejected, 1u);
  EXPECT_EQ(set->hosts[1].id, "10.0.0.2:8080");
  EXPECT_EQ(set->hosts[1].status, InstanceStatus::healthy) << "the instance's own status is untouched";
}

}  // namespace
}  // namespace svckit

namespace svckit {
namespace {

// Picks on several threads while another thread keeps replacing the host set: every pick is a
// live instance of some published set, and once updates stop every thread sees the last one at
// once (the per-thread snapshot caches never serve a stale state).
TEST(SnapshotCaches, ConcurrentPicksSeeEveryUpdate) {
  testing::SimulatedClock clock;
  RealRandom random;
  BalancerPlugins::Builder builder;
  register_builtin_balancers(builder);
  const auto plugins = std::move(builder).build();
  for (const char* policy : {"round_robin", "least_request", "maglev"}) {
    auto lb = std::move(plugins.create(policy, {}, {random, clock}).value());
    const auto a = HostSet::make({slow_host(1), slow_host(2)});
    const auto b = HostSet::make({slow_host(3), slow_host(4)});
    lb->update(a);
    std::atomic<bool> done{false};
    std::atomic<int> bad{0};
    std::atomic<int> stale{0};
    std::vector<std::thread> pickers;
    for (int t = 0; t < 2; ++t) {
      pickers.emplace_back([&] {
        PickRequest request;
        std::uint64_t key = 1;
        while (!done) {
          request.hash = key++;
          auto p = lb->pick(request);
          if (!p.ok() || p->instance->id.rfind("10.0.0.", 0) != 0) ++bad;
        }
        // `done` was set after the last update: this thread's cache must not serve an older set.
        if (lb->pick({})->instance->id != "10.0.0.5:8080") ++stale;
      });
    }
    for (int i = 0; i < 200; ++i) lb->update(i % 2 == 0 ? b : a);
    lb->update(HostSet::make({slow_host(5)}));
    done = true;
    for (auto& t : pickers) t.join();
    EXPECT_EQ(bad, 0) << policy;
    EXPECT_EQ(stale, 0) << policy;
  }
}

}  // namespace
}  // namespace svckit
