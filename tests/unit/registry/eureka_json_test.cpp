#include "svckit/registry/eureka_json.hpp"

#include <gtest/gtest.h>

#include "svckit/core/instance_json.hpp"

namespace svckit::eureka {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

/// What Spring Cloud Netflix's client sends (trimmed to the fields that matter).
json spring_body() {
  return json::parse(R"({"instance": {
    "instanceId": "10.0.0.7:order-service:8080", "hostName": "orders-7.internal", "app": "ORDER-SERVICE",
    "ipAddr": "10.0.0.7", "status": "UP", "overriddenstatus": "UNKNOWN",
    "port": {"$": 8080, "@enabled": "true"}, "securePort": {"$": 8443, "@enabled": "false"},
    "countryId": 1, "dataCenterInfo": {"@class": "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo", "name": "MyOwn"},
    "leaseInfo": {"renewalIntervalInSecs": 30, "durationInSecs": 90},
    "metadata": {"zone": "eu-1", "version": "2.1", "management.port": "8081"},
    "homePageUrl": "http://orders-7.internal:8080/", "statusPageUrl": "http://orders-7.internal:8080/actuator/info",
    "healthCheckUrl": "http://orders-7.internal:8080/actuator/health",
    "vipAddress": "order-service", "secureVipAddress": "order-service"}})");
}

TEST(EurekaJson, ASpringRegistrationMapsOntoAnInstance) {
  auto in = instance_from_registration(spring_body(), "ORDER-SERVICE", "10.9.9.9");
  ASSERT_TRUE(in) << in.error().describe();
  EXPECT_EQ(in->service, "order-service");
  EXPECT_EQ(in->id, "10.0.0.7:order-service:8080");
  EXPECT_EQ(in->host, "10.0.0.7");
  EXPECT_EQ(in->port, 8080);
  EXPECT_EQ(in->scheme, "http");
  EXPECT_EQ(in->status, InstanceStatus::healthy);
  EXPECT_EQ(in->ttl, 90s);
  EXPECT_EQ(in->zone, "eu-1");
  EXPECT_EQ(in->metadata.at("version"), "2.1");
  EXPECT_EQ(in->metadata.at(kHostNameMeta), "orders-7.internal");
  EXPECT_EQ(in->health_check_path, "/actuator/health");
  EXPECT_EQ(in->metadata.count(kVipMeta), 0u) << "the default vipAddress is not kept";
}

TEST(EurekaJson, AnInstanceShownToEurekaGivesBackWhatWasRegistered) {
  auto in = instance_from_registration(spring_body(), "order-service", "");
  ASSERT_TRUE(in);
  const auto shown = instance_json(*in);
  EXPECT_EQ(shown["app"], "ORDER-SERVICE");
  EXPECT_EQ(shown["instanceId"], "10.0.0.7:order-service:8080");
  EXPECT_EQ(shown["hostName"], "orders-7.internal");
  EXPECT_EQ(shown["ipAddr"], "10.0.0.7");
  EXPECT_EQ(shown["status"], "UP");
  EXPECT_EQ(shown["port"]["$"], 8080);
  EXPECT_EQ(shown["port"]["@enabled"], "true");
  EXPECT_EQ(shown["securePort"]["@enabled"], "false");
  EXPECT_EQ(shown["vipAddress"], "order-service");
  EXPECT_EQ(shown["statusPageUrl"], "http://orders-7.internal:8080/actuator/info");
  EXPECT_EQ(shown["leaseInfo"]["durationInSecs"], 90);
  EXPECT_EQ(shown["metadata"]["zone"], "eu-1");
  EXPECT_EQ(shown["metadata"]["management.port"], "8081");
  EXPECT_FALSE(shown["metadata"].contains(kHostNameMeta)) << "svckitd's own keys are hidden";
  // Read back (as the eureka:// side would), it is the same instance.
  auto again = instance_from_registration(json{{"instance", shown}}, "ORDER-SERVICE", "");
  ASSERT_TRUE(again) << again.error().describe();
  again->registered_at = in->registered_at;
  again->last_heartbeat = in->last_heartbeat;
  EXPECT_EQ(*again, *in);
}

TEST(EurekaJson, StatusesOverridesSecurePortsAndTagsMap) {
  auto body = spring_body();
  body["instance"]["overriddenstatus"] = "OUT_OF_SERVICE";
  body["instance"]["port"]["@enabled"] = false;
  body["instance"]["securePort"]["@enabled"] = true;
  body["instance"]["metadata"]["svckit-tags"] = "blue,canary";
  body["instance"]["metadata"]["svckit-weight"] = "250";
  auto in = instance_from_registration(body, "ORDER-SERVICE", "");
  ASSERT_TRUE(in) << in.error().describe();
  EXPECT_EQ(in->status, InstanceStatus::maintenance);
  EXPECT_EQ(in->port, 8443);
  EXPECT_EQ(in->scheme, "https");
  EXPECT_EQ(in->tags, (std::vector<std::string>{"blue", "canary"}));
  EXPECT_EQ(in->weight, 250);
  const auto shown = instance_json(*in);
  EXPECT_EQ(shown["status"], "OUT_OF_SERVICE");
  EXPECT_EQ(shown["securePort"]["$"], 8443);
  EXPECT_EQ(shown["port"]["@enabled"], "false") << "a disabled other port stays disabled";
  body["instance"]["port"]["@enabled"] = true;
  auto both = instance_from_registration(body, "ORDER-SERVICE", "");
  ASSERT_TRUE(both);
  EXPECT_EQ(both->port, 8080) << "the plain port first";
  EXPECT_EQ(instance_json(*both)["securePort"]["$"], 8443) << "the other enabled port is kept";
  EXPECT_EQ(instance_json(*both)["securePort"]["@enabled"], "true");
  EXPECT_EQ(shown["metadata"]["svckit-tags"], "blue,canary");

  EXPECT_EQ(status_name(InstanceStatus::down), "DOWN");
  EXPECT_EQ(status_from_name("starting"), InstanceStatus::starting);
  EXPECT_FALSE(status_from_name("SLEEPY"));
}

TEST(EurekaJson, BadRegistrationsNameTheirField) {
  const auto field_of = [](json body, std::string_view app = "ORDER-SERVICE") {
    auto r = instance_from_registration(body, app, "");
    return r ? std::string("accepted") : r.error().field;
  };
  EXPECT_EQ(field_of(json::object()), "instance");
  EXPECT_EQ(field_of(json{{"instance", 7}}), "instance");
  auto body = spring_body();
  body["instance"]["port"]["$"] = "eighty";
  EXPECT_EQ(field_of(body), "instance.port.$");
  body = spring_body();
  body["instance"]["port"]["$"] = 70000;
  EXPECT_EQ(field_of(body), "instance.port.$");
  body = spring_body();
  body["instance"]["port"]["@enabled"] = "maybe";
  EXPECT_EQ(field_of(body), "instance.port.@enabled");
  body = spring_body();
  body["instance"]["port"]["@enabled"] = "false";
  EXPECT_EQ(field_of(body), "instance.port") << "no enabled port";
  body = spring_body();
  body["instance"]["status"] = "SLEEPY";
  EXPECT_EQ(field_of(body), "instance.status");
  body = spring_body();
  body["instance"]["app"] = "OTHER";
  EXPECT_EQ(field_of(body), "instance.app");
  body = spring_body();
  body["instance"]["metadata"] = json::array();
  EXPECT_EQ(field_of(body), "instance.metadata");
  body = spring_body();
  body["instance"]["metadata"]["eureka-hostname"] = "x";
  EXPECT_EQ(field_of(body), "instance.metadata.eureka-hostname");
  body = spring_body();
  body["instance"]["leaseInfo"]["durationInSecs"] = "forever";
  EXPECT_EQ(field_of(body), "instance.leaseInfo.durationInSecs");
  body = spring_body();
  body["instance"]["instanceId"] = "has space";
  EXPECT_EQ(field_of(body), "instance.instanceId");
  EXPECT_EQ(field_of(spring_body(), "bad app!"), "app");
}

TEST(EurekaJson, ApplicationsGroupByServiceWithAReconcileHash) {
  auto a = instance_from_registration(spring_body(), "ORDER-SERVICE", "");
  ASSERT_TRUE(a);
  auto b = *a;
  b.id = "second";
  b.status = InstanceStatus::unhealthy;
  auto c = *a;
  c.service = "billing";
  c.id = "b1";
  const auto all = std::vector<ServiceInstance>{*a, b, c};
  EXPECT_EQ(apps_hashcode(all), "DOWN_1_UP_2_");
  const auto apps = applications_json(all, 42, apps_hashcode(all));
  EXPECT_EQ(apps["applications"]["versions__delta"], "42");
  ASSERT_EQ(apps["applications"]["application"].size(), 2u);
  EXPECT_EQ(apps["applications"]["application"][0]["name"], "BILLING");
  EXPECT_EQ(apps["applications"]["application"][1]["instance"].size(), 2u);
}

TEST(EurekaJson, MetadataFromOtherApisNeverBreaksTheView) {
  ServiceInstance in;
  in.service = "web";
  in.id = "w1";
  in.host = "10.0.0.1";
  in.port = 80;
  in.metadata[kOtherPortMeta] = "not a port";
  in.metadata[kRenewalMeta] = "99999999999999";
  const auto shown = instance_json(in);
  EXPECT_EQ(shown["securePort"]["@enabled"], "false");
  EXPECT_EQ(shown["leaseInfo"]["renewalIntervalInSecs"], 30);
}

TEST(EurekaJson, EverySvckitInstanceSurvivesTheViewExactly) {
  // What the eureka:// backend relies on: an instance written as the view shows it and read back
  // from an answer is the same instance, whatever its status, TTL, tags, zone or weight.
  ServiceInstance base;
  base.service = "orders";
  base.id = "orders-1";
  base.host = "127.0.0.1";
  base.port = 9001;
  base.registered_at = SystemTime(std::chrono::milliseconds(1'700'000'000'000));
  base.last_heartbeat = SystemTime(std::chrono::milliseconds(1'700'000'005'000));
  std::vector<ServiceInstance> cases;
  for (auto status : {InstanceStatus::healthy, InstanceStatus::unhealthy, InstanceStatus::starting,
                      InstanceStatus::maintenance, InstanceStatus::down}) {
    auto in = base;
    in.status = status;
    in.ttl = 1s;
    cases.push_back(in);
  }
  auto persistent = base;
  persistent.ttl = 0s;
  persistent.tags = {"v2", "canary"};
  persistent.zone = "eu-1";
  persistent.weight = 300;
  persistent.metadata = {{"version", "2"}};
  cases.push_back(persistent);
  auto odd_ttl = base;
  odd_ttl.ttl = 1500ms;
  odd_ttl.scheme = "https";
  odd_ttl.health_check_path = "/ready";
  cases.push_back(odd_ttl);
  auto conventional = base;
  conventional.health_check_path = "/health";  // the path eureka-js-client and many services use
  cases.push_back(conventional);
  for (auto in : cases) {
    in.normalize();
    auto back = instance_from_answer(instance_json(in));
    ASSERT_TRUE(back) << back.error().describe();
    EXPECT_EQ(to_json(*back).dump(), to_json(in).dump());
    EXPECT_EQ(*back, in) << to_string(in.status) << " ttl " << in.ttl.count();
    EXPECT_EQ(back->registered_at, in.registered_at);
    EXPECT_EQ(back->last_heartbeat, in.last_heartbeat);
  }
  EXPECT_EQ(instance_json(cases[4])["status"], "DOWN") << "down shows as Eureka's DOWN";
  EXPECT_EQ(instance_json(odd_ttl)["leaseInfo"]["durationInSecs"], 2) << "rounded up for Eureka's clients";
  // A Eureka client that changed the status wins over svckit's exact one.
  auto moved = instance_json(cases[4]);
  moved["status"] = "UP";
  EXPECT_EQ(instance_from_answer(moved)->status, InstanceStatus::healthy);
}

TEST(EurekaJson, XmlEncodingOfADocument) {
  const nlohmann::json doc{{"instance",
                            {{"port", {{"$", 8080}, {"@enabled", "true"}}},
                             {"metadata", {{"note", "a<b & \"c\"\x01"}, {"bad/key", "x"}, {"9lives", "y"}}},
                             {"tags", {"a", "b"}},
                             {"empty", nullptr}}}};
  const auto xml = to_xml(doc);
  EXPECT_EQ(xml.rfind("<?xml version=\"1.0\"", 0), 0U);
  EXPECT_NE(xml.find("<port enabled=\"true\">8080</port>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("<note>a&lt;b &amp; &quot;c&quot;</note>"), std::string::npos)
      << "escaped, control char dropped: " << xml;
  EXPECT_EQ(xml.find("bad/key"), std::string::npos) << xml;
  EXPECT_EQ(xml.find("9lives"), std::string::npos) << "not XML names: left out";
  EXPECT_NE(xml.find("<tags>a</tags><tags>b</tags>"), std::string::npos) << "arrays repeat the element";
  EXPECT_NE(xml.find("<empty></empty>"), std::string::npos) << xml;
}

}  // namespace
}  // namespace svckit::eureka
