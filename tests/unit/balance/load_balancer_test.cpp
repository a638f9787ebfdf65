// Balancing policies with FakeRandom: distributions, exclusions, panic, consistent hashing.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "svckit/balance/load_balancer.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit {
namespace {

ServiceInstance host(int n, int weight = 100, InstanceStatus status = InstanceStatus::healthy) {
  ServiceInstance in;
  in.service = "s";
  in.host = "10.0.0." + std::to_string(n);
  in.port = 8080;
  in.weight = weight;
  in.status = status;
  in.normalize();
  return in;
}

std::vector<ServiceInstance> hosts(int n) {
  std::vector<ServiceInstance> out;
  for (int i = 1; i <= n; ++i) out.push_back(host(i));
  return out;
}

class Balancers : public ::testing::Test {
 protected:
  std::unique_ptr<LoadBalancer> make(const std::string& name, BalancerOptions options = {}) {
    BalancerPlugins::Builder builder;
    register_builtin_balancers(builder);
    auto plugins = std::move(builder).build();
    auto lb = plugins.create(name, options, {random, clock});
    EXPECT_TRUE(lb.ok()) << (lb.ok() ? "" : lb.error().describe());
    return std::move(*lb);
  }

  std::map<std::string, int> count(LoadBalancer& lb, int picks, const PickRequest& request = {}) {
    std::map<std::string, int> out;
    for (int i = 0; i < picks; ++i) {
      auto p = lb.pick(request);
      EXPECT_TRUE(p.ok());
      if (p.ok()) ++out[p->instance->id];
    }
    return out;
  }

  testing::FakeRandom random{7};
  testing::SimulatedClock clock;
  bool slow = true;
};

/// Pearson chi-square statistic of observed counts against expected shares.
double chi_square(const std::map<std::string, int>& observed, const std::map<std::string, double>& share, int n) {
  double chi = 0;
  for (const auto& [id, p] : share) {
    const double expected = p * n;
    const double o = observed.count(id) ? observed.at(id) : 0;
    chi += (o - expected) * (o - expected) / expected;
  }
  return chi;
}

TEST_F(Balancers, EveryPolicyIsRegisteredAndUnknownNamesAreRejected) {
  BalancerPlugins::Builder builder;
  register_builtin_balancers(builder);
  auto plugins = std::move(builder).build();
  EXPECT_EQ(plugins.names(), (std::vector<std::string>{"least_request", "maglev", "peak_ewma", "random", "ring_hash",
                                                       "round_robin", "weighted_random", "weighted_round_robin"}));
  auto bad = plugins.create("fastest", {}, {random, clock});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().field, "policy");
  BalancerOptions not_prime;
  not_prime.maglev_table_size = 65536;
  EXPECT_EQ(plugins.create("maglev", not_prime, {random, clock}).error().field, "maglev_table_size");
}

TEST_F(Balancers, RoundRobinCyclesOverHealthyHostsAndSkipsWeightZero) {
  auto lb = make("round_robin");
  auto list = hosts(3);
  list.push_back(host(4, 0));                                 // no traffic
  list.push_back(host(5, 100, InstanceStatus::maintenance));  // not healthy
  lb->update(HostSet::make(list));
  std::vector<std::string> seq;
  for (int i = 0; i < 6; ++i) seq.push_back(lb->pick({})->instance->id);
  EXPECT_EQ(seq, (std::vector<std::string>{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.1:8080",
                                           "10.0.0.2:8080", "10.0.0.3:8080"}));
}

TEST_F(Balancers, NoRoutableHostIsNotFound) {
  for (const char* name : {"round_robin", "random", "weighted_round_robin", "weighted_random", "least_request",
                           "peak_ewma", "ring_hash", "maglev"}) {
    auto lb = make(name);
    EXPECT_EQ(lb->pick({}).error().code, ErrorCode::not_found) << name << " before any update";
    lb->update(HostSet::make({host(1, 0)}));
    EXPECT_EQ(lb->pick({}).error().code, ErrorCode::not_found) << name << " with only weight 0";
  }
}

TEST_F(Balancers, ExcludedHostsAreNeverPickedByAnyPolicy) {
  for (const char* name : {"round_robin", "random", "weighted_round_robin", "weighted_random", "least_request",
                           "peak_ewma", "ring_hash", "maglev"}) {
    auto lb = make(name);
    lb->update(HostSet::make(hosts(4)));
    const std::vector<std::string> tried{"10.0.0.1:8080", "10.0.0.3:8080"};
    PickRequest request;
    request.exclude = &tried;
    for (int i = 0; i < 200; ++i) {
      request.hash = static_cast<std::uint64_t>(i) * 0x9e3779b97f4a7c15ULL;
      auto p = lb->pick(request);
      ASSERT_TRUE(p.ok()) << name;
      EXPECT_TRUE(p->instance->id == "10.0.0.2:8080" || p->instance->id == "10.0.0.4:8080") << name;
    }
    const std::vector<std::string> all{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.4:8080"};
    request.exclude = &all;
    EXPECT_EQ(lb->pick(request).error().code, ErrorCode::unavailable) << name;
  }
}

// Maintenance is an operator's drain: no traffic, in panic mode neither, and it does not count
// towards the panic threshold. Before: ~2/3 of panic traffic went to drained or down hosts, and a
// service whose only instance was in maintenance was still served by it.
TEST_F(Balancers, InstancesInMaintenanceGetNoTrafficEvenInPanic) {
  BalancerOptions options;  // threshold 50%
  for (const auto& name : std::vector<std::string>{"round_robin", "random", "least_request", "ring_hash", "maglev"}) {
    auto lb = make(name, options);
    std::vector<ServiceInstance> list{host(1), host(2, 100, InstanceStatus::maintenance),
                                      host(3, 100, InstanceStatus::maintenance)};
    lb->update(HostSet::make(list));
    for (int i = 0; i < 30; ++i) {
      auto p = lb->pick({});
      ASSERT_TRUE(p.ok()) << name;
      EXPECT_EQ(p->instance->id, "10.0.0.1:8080") << name;
      EXPECT_FALSE(p->panic) << name << ": one healthy of one routable is 100%";
    }
    list[0].status = InstanceStatus::unhealthy;  // 0 healthy: panic, over the unhealthy one only
    list.push_back(host(4, 100, InstanceStatus::unhealthy));
    lb->update(HostSet::make(list));
    for (int i = 0; i < 30; ++i) {
      auto p = lb->pick({});
      ASSERT_TRUE(p.ok()) << name;
      EXPECT_TRUE(p->panic) << name;
      EXPECT_NE(p->instance->status, InstanceStatus::maintenance) << name;
    }
    lb->update(HostSet::make({host(5, 100, InstanceStatus::maintenance)}));
    EXPECT_FALSE(lb->pick({}).ok()) << name << ": a service whose only instance is drained has nothing to pick";
  }
}

TEST_F(Balancers, PanicModeSpreadsOverAllHostsWhenTooFewAreHealthy) {
  BalancerOptions options;  // threshold 50%
  auto lb = make("round_robin", options);
  std::vector<ServiceInstance> list{host(1), host(2, 100, InstanceStatus::unhealthy),
                                    host(3, 100, InstanceStatus::unhealthy), host(4, 100, InstanceStatus::unhealthy)};
  lb->update(HostSet::make(list));  // 25% healthy
  auto seen = count(*lb, 8);
  EXPECT_EQ(seen.size(), 4u);
  EXPECT_TRUE(lb->pick({})->panic);
  // Balancing never rewrites the instances' own health.
  for (int i = 0; i < 4; ++i) {
    auto p = lb->pick({});
    EXPECT_EQ(p->instance->status,
              p->instance->id == "10.0.0.1:8080" ? InstanceStatus::healthy : InstanceStatus::unhealthy);
  }

  list[1].status = InstanceStatus::healthy;  // 50%: not below the threshold
  lb->update(HostSet::make(list));
  EXPECT_FALSE(lb->pick({})->panic);
  EXPECT_EQ(count(*lb, 8).size(), 2u);

  options.panic_threshold = 0;  // disabled: only the healthy one, even at 25%
  auto strict = make("round_robin", options);
  list[1].status = InstanceStatus::unhealthy;
  strict->update(HostSet::make(list));
  EXPECT_EQ(count(*strict, 8).size(), 1u);
}

TEST_F(Balancers, WeightedRandomFollowsWeights) {
  auto lb = make("weighted_random");
  lb->update(HostSet::make({host(1, 100), host(2, 300), host(3, 600)}));
  const int n = 60'000;
  const auto seen = count(*lb, n);
  const double chi = chi_square(seen, {{"10.0.0.1:8080", 0.1}, {"10.0.0.2:8080", 0.3}, {"10.0.0.3:8080", 0.6}}, n);
  EXPECT_LT(chi, 13.8) << "chi-square, 2 degrees of freedom, p = 0.001";
}

TEST_F(Balancers, SmoothWeightedRoundRobinIsNginxsSequence) {
  auto lb = make("weighted_round_robin");
  lb->update(HostSet::make({host(1, 500), host(2, 100), host(3, 100)}));  // nginx's example: 5:1:1
  std::string seq;
  for (int i = 0; i < 14; ++i) seq += lb->pick({})->instance->id.substr(7, 1);
  EXPECT_EQ(seq, "11213111121311") << "a a b a c a a, twice: exact shares, no bursts";
}

TEST_F(Balancers, SmoothWeightedRoundRobinSharesAreExactEveryCycle) {
  auto lb = make("weighted_round_robin");
  lb->update(HostSet::make({host(1, 300), host(2, 200), host(3, 100), host(4, 0)}));
  for (int cycle = 0; cycle < 3; ++cycle) {
    auto seen = count(*lb, 6);  // one cycle = (3 + 2 + 1) picks
    EXPECT_EQ(seen["10.0.0.1:8080"], 3);
    EXPECT_EQ(seen["10.0.0.2:8080"], 2);
    EXPECT_EQ(seen["10.0.0.3:8080"], 1);
    EXPECT_EQ(seen.count("10.0.0.4:8080"), 0u);
  }
  // Co-prime large weights exceed the precomputed schedule: the live algorithm gives the same shares.
  auto big = make("weighted_round_robin");
  big->update(HostSet::make(
      {host(1, 9973), host(2, 9967), host(3, 9949), host(4, 9941), host(5, 9931), host(6, 9929), host(7, 9923)}));
  auto seen = count(*big, 69613);  // exactly one cycle: the sum of the weights
  EXPECT_EQ(seen["10.0.0.1:8080"], 9973);
  EXPECT_EQ(seen["10.0.0.7:8080"], 9923);
}

TEST_F(Balancers, RandomIsUniform) {
  auto lb = make("random");
  lb->update(HostSet::make(hosts(5)));
  const int n = 50'000;
  std::map<std::string, double> share;
  for (int i = 1; i <= 5; ++i) share["10.0.0." + std::to_string(i) + ":8080"] = 0.2;
  EXPECT_LT(chi_square(count(*lb, n), share, n), 18.5) << "chi-square, 4 degrees of freedom, p = 0.001";
}

TEST_F(Balancers, LeastRequestPrefersLessLoadedHosts) {
  auto lb = make("least_request");
  lb->update(HostSet::make(hosts(4)));
  // Load host 1 heavily and host 2 a little; hosts 3 and 4 are idle.
  std::map<std::string, HostLoad*> loads;  // owned by the balancer, kept across updates
  for (int i = 0; i < 200; ++i) {
    auto p = lb->pick({});
    loads[p->instance->id] = p->load;
  }
  ASSERT_EQ(loads.size(), 4u);
  loads["10.0.0.1:8080"]->active = 50;
  loads["10.0.0.2:8080"]->active = 5;
  const auto seen = count(*lb, 10'000);
  EXPECT_EQ(seen.count("10.0.0.1:8080"), 0u) << "the most loaded host never wins a pair";
  EXPECT_LT(seen.at("10.0.0.2:8080"), seen.at("10.0.0.3:8080"));
  // Load survives an update that keeps the host.
  lb->update(HostSet::make(hosts(5)));
  EXPECT_EQ(count(*lb, 5'000).count("10.0.0.1:8080"), 0u);
}

TEST_F(Balancers, PeakEwmaMovesTrafficAwayFromASlowHostAndBackWhenItRecovers) {
  using namespace std::chrono_literals;
  auto lb = make("peak_ewma");
  lb->update(HostSet::make(hosts(3)));
  // Learn: host 1 answers in 200 ms, hosts 2 and 3 in 2 ms.
  auto feed = [&](int rounds) {
    for (int i = 0; i < rounds; ++i) {
      auto p = lb->pick({});
      ASSERT_TRUE(p.ok());
      const bool slow_host = p->instance->id == "10.0.0.1:8080" && slow;
      clock.advance(10ms);
      lb->record(*p, slow_host ? 200ms : 2ms);
    }
  };
  feed(300);
  auto seen = count(*lb, 3'000);
  EXPECT_LT(seen["10.0.0.1:8080"], 3'000 / 20) << "the slow host gets under 5% (it only wins pairs against itself)";

  // Host 1 recovers to 2 ms while the others, now carrying the load, slow to 3 ms: as host 1's old
  // 200 ms peak decays (10 s decay, one probe a second), traffic moves back to it.
  slow = false;
  const std::vector<std::string> others{"10.0.0.2:8080", "10.0.0.3:8080"};
  const std::vector<std::string> first{"10.0.0.1:8080"};
  for (int i = 0; i < 60; ++i) {
    clock.advance(1s);
    PickRequest probe;
    probe.exclude = &others;
    lb->record(*lb->pick(probe), 2ms);
    PickRequest rest;
    rest.exclude = &first;
    lb->record(*lb->pick(rest), 3ms);
  }
  seen = count(*lb, 3'000);
  EXPECT_GT(seen["10.0.0.1:8080"], 3'000 / 2) << "it wins every pair it is in: about 2/3 of the picks";
}

std::map<std::uint64_t, std::string> assign(LoadBalancer& lb, int keys) {
  std::map<std::uint64_t, std::string> out;
  for (int k = 0; k < keys; ++k) {
    PickRequest request;
    request.hash = hash_key("user-" + std::to_string(k));
    out[*request.hash] = lb.pick(request)->instance->id;
  }
  return out;
}

class ConsistentHashing : public Balancers, public ::testing::WithParamInterface<const char*> {};

TEST_P(ConsistentHashing, SameKeySameHostAndMinimalDisruption) {
  auto lb = make(GetParam());
  const int n = 10, keys = 20'000;
  lb->update(HostSet::make(hosts(n)));
  const auto before = assign(*lb, keys);
  EXPECT_EQ(assign(*lb, keys), before) << "stable";

  // Balanced enough: every host gets between half and twice its fair share.
  std::map<std::string, int> per_host;
  for (const auto& [k, id] : before) ++per_host[id];
  ASSERT_EQ(per_host.size(), static_cast<std::size_t>(n));
  for (const auto& [id, c] : per_host) {
    EXPECT_GT(c, keys / n / 2) << id;
    EXPECT_LT(c, keys / n * 2) << id;
  }

  // Remove one host: its keys move (about 1/N). Ring hash moves no other key; Maglev trades a
  // little extra movement (the paper's "minimal disruption", measured here) for O(1) lookups.
  auto fewer = hosts(n);
  fewer.erase(fewer.begin() + 4);
  lb->update(HostSet::make(fewer));
  const auto after = assign(*lb, keys);
  int moved = 0, moved_from_survivors = 0;
  for (const auto& [k, id] : before) {
    if (after.at(k) == id) continue;
    ++moved;
    if (id != "10.0.0.5:8080") ++moved_from_survivors;
  }
  const double fraction = static_cast<double>(moved) / keys;
  EXPECT_LT(fraction, 1.0 / n + 0.05) << "moved " << moved << " of " << keys;
  EXPECT_GT(fraction, 1.0 / n / 2);
  const double collateral = static_cast<double>(moved_from_survivors) / keys;
  if (std::string(GetParam()) == "ring_hash") {
    EXPECT_EQ(moved_from_survivors, 0);
  } else {
    EXPECT_LT(collateral, 0.01) << moved_from_survivors << " keys of surviving hosts moved";
  }
}

TEST_P(ConsistentHashing, WeightsShiftKeysProportionally) {
  auto lb = make(GetParam());
  lb->update(HostSet::make({host(1, 100), host(2, 300)}));
  std::map<std::string, int> per_host;
  for (const auto& [k, id] : assign(*lb, 20'000)) ++per_host[id];
  const double share = per_host["10.0.0.2:8080"] / 20'000.0;
  EXPECT_NEAR(share, 0.75, 0.06);
}

INSTANTIATE_TEST_SUITE_P(Policies, ConsistentHashing, ::testing::Values("ring_hash", "maglev"));

TEST(HashKey, IsStable) {
  EXPECT_EQ(hash_key("user-42"), hash_key(std::string("user-") + "42"));
  EXPECT_NE(hash_key("a"), hash_key("b"));
  EXPECT_EQ(hash_key(""), hash_key(""));
}

}  // namespace
}  // namespace svckit
