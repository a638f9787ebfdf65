#include "svckit/discovery/instance_selection.hpp"

#include <gtest/gtest.h>

namespace svckit {
namespace {

ServiceInstance weighted_instance(const std::string& id, int weight, InstanceStatus status = InstanceStatus::healthy) {
  ServiceInstance in;
  in.service = "api";
  in.id = id;
  in.host = "127.0.0.1";
  in.port = 80;
  in.weight = weight;
  in.status = status;
  return in;
}

std::string picks(InstanceSelector& selector, const std::vector<ServiceInstance>& list, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    const auto* in = selector.pick("api", list);
    out += in == nullptr ? "-" : in->id;
  }
  return out;
}

TEST(InstanceSelection, WeightedIsNginxsSmoothRoundRobin) {
  SeededRandom random(1);
  InstanceSelector selector(InstanceSelection::weighted, random);
  const std::vector<ServiceInstance> list{weighted_instance("a", 5), weighted_instance("b", 1),
                                          weighted_instance("c", 1)};
  EXPECT_EQ(picks(selector, list, 7), "aabacaa");
  EXPECT_EQ(picks(selector, list, 7), "aabacaa") << "each run of 7 picks is the weights exactly";
  InstanceSelector equal(InstanceSelection::weighted, random);
  EXPECT_EQ(picks(equal, {weighted_instance("a", 100), weighted_instance("b", 100), weighted_instance("c", 100)}, 6),
            "abcabc");
}

TEST(InstanceSelection, OnlyHealthyInstancesWithWeightArePicked) {
  SeededRandom random(1);
  for (auto selection : {InstanceSelection::weighted, InstanceSelection::round_robin, InstanceSelection::random}) {
    InstanceSelector selector(selection, random);
    const std::vector<ServiceInstance> list{weighted_instance("a", 100, InstanceStatus::unhealthy),
                                            weighted_instance("b", 0), weighted_instance("c", 100),
                                            weighted_instance("d", 100, InstanceStatus::maintenance)};
    EXPECT_EQ(picks(selector, list, 4), "cccc") << to_string(selection);
    EXPECT_EQ(selector.pick("api", {weighted_instance("a", 0), weighted_instance("b", 100, InstanceStatus::starting)}),
              nullptr);
    EXPECT_EQ(selector.pick("api", {}), nullptr);
  }
}

TEST(InstanceSelection, RoundRobinIgnoresWeightsAndRandomFollowsThem) {
  SeededRandom random(7);
  InstanceSelector rr(InstanceSelection::round_robin, random);
  EXPECT_EQ(picks(rr, {weighted_instance("a", 900), weighted_instance("b", 100)}, 4), "abab");
  InstanceSelector weighted_random(InstanceSelection::random, random);
  int a = 0;
  for (int i = 0; i < 10'000; ++i)
    a += weighted_random.pick("api", {weighted_instance("a", 900), weighted_instance("b", 100)})->id == "a" ? 1 : 0;
  EXPECT_NEAR(a, 9'000, 300) << "seeded: the same count every run";
}

TEST(InstanceSelection, AnInstanceThatLeftAndCameBackStartsAfresh) {
  SeededRandom random(1);
  InstanceSelector selector(InstanceSelection::weighted, random);
  EXPECT_EQ(picks(selector, {weighted_instance("a", 3), weighted_instance("b", 1)}, 4), "aaba");
  // b leaves and many others come and go: the table is pruned, picks stay proportional.
  for (int i = 0; i < 50; ++i)
    selector.pick("api", {weighted_instance("a", 1), weighted_instance("x" + std::to_string(i), 1)});
  EXPECT_EQ(picks(selector, {weighted_instance("a", 1), weighted_instance("b", 1)}, 4).size(), 4U);
  std::string run = picks(selector, {weighted_instance("a", 1), weighted_instance("b", 1)}, 10);
  EXPECT_EQ(std::count(run.begin(), run.end(), 'a'), 5) << run;
}

TEST(InstanceSelection, ParsesItsNames) {
  EXPECT_EQ(*parse_instance_selection("weighted"), InstanceSelection::weighted);
  EXPECT_EQ(*parse_instance_selection("round_robin"), InstanceSelection::round_robin);
  EXPECT_EQ(*parse_instance_selection("random"), InstanceSelection::random);
  auto bad = parse_instance_selection("fastest", "service_discovery.selection");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "service_discovery.selection");
}

}  // namespace
}  // namespace svckit
