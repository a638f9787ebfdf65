// ConsulHealthCache: byte for byte the DOM's answer, whatever was cached before, at any index —
// also when an instance's own data holds the placeholder's digits.
#include "daemon/consul_health_cache.hpp"

#include <gtest/gtest.h>

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

TEST(ConsulHealthCache, AnswersAreTheDomsByteForByteAsInstancesAndIndicesChange) {
  consul::Node node;
  ConsulHealthCache cache(node);
  std::vector<ServiceInstance> instances;
  for (int i = 0; i < 6; ++i) instances.push_back(instance(i));
  instances[3].metadata["trap"] = "18446744073709551557";  // the placeholder's digits, as data
  instances[4].metadata["trap"] = "x18446744073709551556y";
  EXPECT_EQ(cache.answer("orders", instances, 17, true), dom_answer(instances, node, 17)) << "built";
  EXPECT_EQ(cache.answer("orders", instances, 18, true), dom_answer(instances, node, 18)) << "reused, new index";
  instances[1].status = InstanceStatus::maintenance;  // a change: rebuilt
  instances.erase(instances.begin() + 2);             // a removal
  instances.push_back(instance(9));                   // an addition
  EXPECT_EQ(cache.answer("orders", instances, 1'000'000, true), dom_answer(instances, node, 1'000'000));
  const std::vector<ServiceInstance> some(instances.begin(), instances.begin() + 2);
  EXPECT_EQ(cache.answer("orders", some, 5, false), dom_answer(some, node, 5)) << "a filtered answer";
  EXPECT_EQ(cache.answer("orders", instances, 6, true), dom_answer(instances, node, 6));
  EXPECT_EQ(cache.answer("users", {}, 6, true), "[]");
}

}  // namespace
}  // namespace svckit::daemon
