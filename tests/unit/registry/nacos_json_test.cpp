#include "svckit/registry/nacos_json.hpp"

#include <gtest/gtest.h>

namespace svckit::nacos {
namespace {

using namespace std::chrono_literals;

Params registration() {
  return Params{{"serviceName", "DEFAULT_GROUP@@order-service"},
                {"ip", "10.0.0.7"},
                {"port", "8080"},
                {"weight", "2.5"},
                {"clusterName", "eu"},
                {"ephemeral", "true"},
                {"metadata", R"({"version":"2","preserved.heart.beat.timeout":"9000"})"}};
}

TEST(NacosJson, ARegistrationMapsOntoAnInstanceAndBack) {
  auto in = instance_from_params(registration(), "10.9.9.9");
  ASSERT_TRUE(in) << in.error().describe();
  EXPECT_EQ(in->service, "order-service");
  EXPECT_EQ(in->id, "10.0.0.7:8080");
  EXPECT_EQ(in->host, "10.0.0.7");
  EXPECT_EQ(in->weight, 250);
  EXPECT_EQ(in->zone, "eu");
  EXPECT_EQ(in->ttl, 9s) << "preserved.heart.beat.timeout";
  EXPECT_EQ(in->status, InstanceStatus::healthy);
  EXPECT_EQ(in->metadata.count(kGroupMeta), 0u) << "the default group is not kept";
  auto scope = scope_of(registration());
  ASSERT_TRUE(scope);
  const auto host = host_json(*in, *scope);
  EXPECT_EQ(host["ip"], "10.0.0.7");
  EXPECT_EQ(host["port"], 8080);
  EXPECT_DOUBLE_EQ(host["weight"].get<double>(), 2.5);
  EXPECT_EQ(host["clusterName"], "eu");
  EXPECT_EQ(host["serviceName"], "DEFAULT_GROUP@@order-service");
  EXPECT_EQ(host["healthy"], true);
  EXPECT_EQ(host["ephemeral"], true);
  EXPECT_EQ(host["metadata"]["version"], "2");
  EXPECT_EQ(host["instanceHeartBeatTimeOut"], 9000);
}

TEST(NacosJson, GroupsNamespacesFlagsAndPersistentInstances) {
  auto p = registration();
  p.erase("serviceName");
  p.emplace("serviceName", "orders");
  p.emplace("groupName", "PAYMENTS");
  p.emplace("namespaceId", "staging");
  p.emplace("enabled", "false");
  p.erase("ephemeral");
  p.emplace("ephemeral", "false");
  auto in = instance_from_params(p, "");
  ASSERT_TRUE(in) << in.error().describe();
  EXPECT_EQ(in->metadata.at(kGroupMeta), "PAYMENTS");
  EXPECT_EQ(in->metadata.at(kNamespaceMeta), "staging");
  EXPECT_EQ(in->status, InstanceStatus::maintenance) << "enabled=false: no traffic";
  EXPECT_TRUE(in->persistent());
  auto scope = scope_of(p);
  ASSERT_TRUE(scope);
  EXPECT_TRUE(scope->holds(*in));
  EXPECT_EQ(scope->grouped_name(), "PAYMENTS@@orders");
  auto other = *scope;
  other.namespace_.clear();
  EXPECT_FALSE(other.holds(*in)) << "another namespace";
  EXPECT_FALSE(host_json(*in, *scope)["metadata"].contains(kGroupMeta)) << "svckitd's own keys are hidden";
  EXPECT_EQ(host_json(*in, *scope)["enabled"], false);
}

TEST(NacosJson, BadParametersNameTheirField) {
  const auto field_of = [](Params p) {
    auto r = instance_from_params(p, "10.0.0.1");
    return r ? std::string("accepted") : r.error().field;
  };
  auto p = registration();
  p.erase("serviceName");
  EXPECT_EQ(field_of(p), "serviceName");
  p = registration();
  p.erase("port");
  EXPECT_EQ(field_of(p), "port");
  p = registration();
  p.erase("port");
  p.emplace("port", "80a");
  EXPECT_EQ(field_of(p), "port");
  p = registration();
  p.erase("weight");
  p.emplace("weight", "heavy");
  EXPECT_EQ(field_of(p), "weight");
  p = registration();
  p.erase("metadata");
  p.emplace("metadata", "[1]");
  EXPECT_EQ(field_of(p), "metadata");
  p = registration();
  p.erase("metadata");
  p.emplace("metadata", R"({"nacos-group":"x"})");
  EXPECT_EQ(field_of(p), "metadata.nacos-group");
  p = registration();
  p.emplace("healthy", "maybe");
  EXPECT_EQ(field_of(p), "healthy");
  p = registration();
  p.erase("serviceName");
  p.emplace("serviceName", "G@@bad name");
  EXPECT_EQ(field_of(p), "serviceName");
  p = registration();
  p.emplace("groupName", "OTHER");
  EXPECT_EQ(field_of(p), "groupName") << "not the group of serviceName";
}

TEST(NacosJson, EverySvckitInstanceSurvivesNacosBothWaysExactly) {
  // What the nacos:// backend relies on: registered with registration_params(), stored by the
  // server, shown by host_json() and read back by instance_from_host(), it is the same instance.
  ServiceInstance base;
  base.service = "orders";
  base.id = "127.0.0.1:9001";
  base.host = "127.0.0.1";
  base.port = 9001;
  base.ttl = std::chrono::milliseconds(1500);
  std::vector<ServiceInstance> cases;
  for (auto status : {InstanceStatus::healthy, InstanceStatus::unhealthy, InstanceStatus::starting,
                      InstanceStatus::maintenance, InstanceStatus::down}) {
    auto in = base;
    in.status = status;
    cases.push_back(in);
  }
  auto rich = base;
  rich.id = "orders-a";
  rich.ttl = std::chrono::milliseconds(0);
  rich.tags = {"v2", "canary"};
  rich.zone = "eu-1";
  rich.weight = 333;
  rich.scheme = "https";
  rich.health_check_path = "/ready";
  rich.metadata = {{"version", "2"}};
  cases.push_back(rich);
  Scope scope;
  scope.service = "orders";
  for (auto in : cases) {
    in.normalize();
    auto stored = instance_from_params(registration_params(in, scope), "10.9.9.9");
    ASSERT_TRUE(stored) << stored.error().describe();
    EXPECT_EQ(*stored, in) << "as stored, " << to_string(in.status);
    auto back = instance_from_host(host_json(*stored, scope), scope);
    ASSERT_TRUE(back) << back.error().describe();
    back->registered_at = in.registered_at;
    back->last_heartbeat = in.last_heartbeat;
    EXPECT_EQ(*back, in) << "read back, " << to_string(in.status);
  }
  const auto shown = host_json(cases[4], scope);
  EXPECT_EQ(shown["healthy"], false) << "down shows as not healthy";
  EXPECT_EQ(shown["enabled"], true);
  EXPECT_EQ(host_json(rich, scope)["weight"], 3.33);
}

}  // namespace
}  // namespace svckit::nacos
