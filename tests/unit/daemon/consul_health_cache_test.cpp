// ConsulHealthCache: byte for byte the DOM's answer, whatever was cached before, at any index —
// also when an instance's own data holds the placeholder's digits.
#include "daemon/consul_health_cache.hpp"

#include <gtest/gtest.h>

#include "svckit/core/instance_json.hpp"

namespace svckit::daemon {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

ServiceInstance instance(int i) {
  ServiceInstance in;
  in.service = "orders";
  in.id = "orders-" + std::to_string(i);
  in.host = "10.0.0." + std::to_string(i + 1);
  in.port = 9000 + i;
  in.ttl = i % 2 == 0 ? 30s : 0s;
  in.status = static_cast<InstanceStatus>(i % 5);
  in.tags = {"v" + std::to_string(i)};
  in.registered_at = SystemTime(std::chrono::milliseconds(1'700'000'000'000 + i));
  in.normalize();
  return in;
}

std::string dom_answer(const std::vector<ServiceInstance>& instances, const consul::Node& node, std::uint64_t index) {
  json out = json::array();
  for (const auto& in : instances) out.push_back(consul::health_entry(in, node, index));
  return out.dump();
}

/// What the registry's for_each gives the cache: each instance with its JSON record.
std::string cached(ConsulHealthCache& cache, const std::string& service, const std::vector<ServiceInstance>& instances,
                   std::uint64_t index, bool complete) {
  return cache.answer(
      service,
      [&](const ConsulHealthCache::Visit& visit) {
        for (const auto& in : instances) {
          std::string record;
          append_json(record, in);
          visit(in, record);
        }
      },
      index, complete);
}

TEST(ConsulHealthCache, AnswersAreTheDomsByteForByteAsInstancesAndIndicesChange) {
  consul::Node node;
  ConsulHealthCache cache(node);
  std::vector<ServiceInstance> instances;
  for (int i = 0; i < 6; ++i) instances.push_back(instance(i));
  instances[3].metadata["trap"] = "18446744073709551557";  // the placeholder's digits, as data
  instances[4].metadata["trap"] = "x18446744073709551556y";
  EXPECT_EQ(cached(cache, "orders", instances, 17, true), dom_answer(instances, node, 17)) << "built";
  EXPECT_EQ(cached(cache, "orders", instances, 18, true), dom_answer(instances, node, 18)) << "reused, new index";
  instances[1].status = InstanceStatus::maintenance;  // a change: rebuilt
  instances.erase(instances.begin() + 2);             // a removal
  instances.push_back(instance(9));                   // an addition
  EXPECT_EQ(cached(cache, "orders", instances, 1'000'000, true), dom_answer(instances, node, 1'000'000));
  const std::vector<ServiceInstance> some(instances.begin(), instances.begin() + 2);
  EXPECT_EQ(cached(cache, "orders", some, 5, false), dom_answer(some, node, 5)) << "a filtered answer";
  EXPECT_EQ(cached(cache, "orders", instances, 6, true), dom_answer(instances, node, 6));
  EXPECT_EQ(cached(cache, "users", {}, 6, true), "[]");
  // A filtered answer rebuilds a changed instance; the complete answer after it has the change and
  // the unchanged others; a complete answer with one instance gone, then with it back.
  auto changed = instances;
  changed[0].weight = 7;
  const std::vector<ServiceInstance> first(changed.begin(), changed.begin() + 1);
  EXPECT_EQ(cached(cache, "orders", first, 7, false), dom_answer(first, node, 7));
  EXPECT_EQ(cached(cache, "orders", changed, 8, true), dom_answer(changed, node, 8));
  const std::vector<ServiceInstance> fewer(changed.begin() + 1, changed.end());
  EXPECT_EQ(cached(cache, "orders", fewer, 9, true), dom_answer(fewer, node, 9));
  EXPECT_EQ(cached(cache, "orders", changed, 10, true), dom_answer(changed, node, 10));
}

}  // namespace
}  // namespace svckit::daemon
