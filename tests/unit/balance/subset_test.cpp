#include <gtest/gtest.h>

#include "svckit/balance/subset.hpp"

namespace svckit {
namespace {

ServiceInstance make(int n, const std::string& zone, std::vector<std::string> tags = {},
                     InstanceStatus status = InstanceStatus::healthy) {
  ServiceInstance in;
  in.service = "s";
  in.host = "10.0.0." + std::to_string(n);
  in.port = 80;
  in.zone = zone;
  in.tags = std::move(tags);
  in.status = status;
  in.normalize();
  return in;
}

std::vector<int> hosts_of(const HostSet& set) {
  std::vector<int> out;
  for (const auto& h : set.hosts) out.push_back(std::stoi(h.host.substr(7)));
  return out;
}

TEST(Subset, FilterThenEachFallback) {
  const std::vector<ServiceInstance> all{make(1, "a", {"v1"}), make(2, "a", {"v2"}), make(3, "b", {"v2", "canary"})};
  SubsetPolicy policy;
  policy.filter.tags = {"v2"};
  EXPECT_EQ(hosts_of(**select_subset(all, policy)), (std::vector<int>{2, 3}));

  policy.filter.tags = {"v3"};
  EXPECT_EQ(hosts_of(**select_subset(all, policy)), (std::vector<int>{1, 2, 3})) << "fallback any";
  policy.fallback = SubsetPolicy::Fallback::fail;
  auto failed = select_subset(all, policy);
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().field, "subset");
  policy.fallback = SubsetPolicy::Fallback::default_subset;
  policy.default_filter.tags = {"v1"};
  EXPECT_EQ(hosts_of(**select_subset(all, policy)), (std::vector<int>{1}));
  policy.default_filter.tags = {"v9"};
  EXPECT_FALSE(select_subset(all, policy).ok());
}

TEST(ZonePreference, StaysLocalWhileHealthyEnoughThenSpillsOver) {
  std::vector<ServiceInstance> all{make(1, "a"), make(2, "a"), make(3, "b"), make(4, "b")};
  ZonePreference pref;
  pref.local_zone = "a";
  bool spilled = true;
  EXPECT_EQ(hosts_of(*prefer_zone(all, pref, &spilled)), (std::vector<int>{1, 2}));
  EXPECT_FALSE(spilled);

  all[0].status = InstanceStatus::unhealthy;  // 1 of 2 healthy: 50% is still enough
  EXPECT_EQ(hosts_of(*prefer_zone(all, pref, &spilled)), (std::vector<int>{1, 2}));
  EXPECT_FALSE(spilled);

  all[1].status = InstanceStatus::down;  // none healthy locally: spill over to every zone
  EXPECT_EQ(hosts_of(*prefer_zone(all, pref, &spilled)), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_TRUE(spilled);

  pref.local_zone = "c";  // a zone with no instances at all
  EXPECT_EQ(prefer_zone(all, pref, &spilled)->hosts.size(), 4u);
  EXPECT_TRUE(spilled);

  pref.local_zone = "b";
  pref.min_healthy = 3;  // needs three healthy locally; b has two
  EXPECT_EQ(prefer_zone(all, pref, &spilled)->hosts.size(), 4u);
  EXPECT_TRUE(spilled);
}

}  // namespace
}  // namespace svckit
