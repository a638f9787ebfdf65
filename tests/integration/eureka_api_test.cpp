// svckitd's Eureka-compatible API, spoken over HTTP the way Eureka clients speak it (Spring Cloud
// Netflix's JSON): register, renew, cancel, full and delta fetches, status overrides, metadata,
// VIP lookups — over the same registry the native and Consul APIs serve, and 4xx answers that name
// the field.
#include <gtest/gtest.h>

#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

json registration(const std::string& app, const std::string& id, int port, int lease_seconds = 90) {
  return json{
      {"instance",
       {{"instanceId", id},
        {"hostName", "orders-host"},
        {"app", app},
        {"ipAddr", "127.0.0.1"},
        {"status", "UP"},
        {"port", {{"$", port}, {"@enabled", "true"}}},
        {"securePort", {{"$", 443}, {"@enabled", "false"}}},
        {"dataCenterInfo", {{"@class", "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"}, {"name", "MyOwn"}}},
        {"leaseInfo", {{"renewalIntervalInSecs", 1}, {"durationInSecs", lease_seconds}}},
        {"metadata", {{"version", "3"}}},
        {"vipAddress", "orders"}}}};
}

class EurekaApi : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon = SvckitdProcess::start(dir.path());
    ASSERT_NE(daemon, nullptr);
  }
  HttpAnswer call(const std::string& method, const std::string& target, const std::string& body = {}) const {
    return http_call(daemon->port, method, target, body, {"Accept: application/json"});
  }
  json get(const std::string& target) const { return json::parse(call("GET", target).body, nullptr, false); }
  /// The instances of `app` in a full fetch, by instanceId.
  std::map<std::string, json> fetched(const std::string& app, const std::string& prefix = "/eureka") const {
    std::map<std::string, json> out;
    const auto all = get(prefix + "/apps");  // kept: a range-for over a temporary's member dangles
    for (const auto& a : all["applications"]["application"]) {
      if (a["name"] != app) continue;
      for (const auto& i : a["instance"]) out[i["instanceId"]] = i;
    }
    return out;
  }
  static std::string error_field(const HttpAnswer& a) {
    return json::parse(a.body, nullptr, false)["error"].value("field", "");
  }

  TempDir dir;
  std::unique_ptr<SvckitdProcess> daemon;
};

TEST_F(EurekaApi, ARegistrationIsSeenByEveryApiAndTheOtherWayRound) {
  const auto done = call("POST", "/eureka/apps/ORDER-SERVICE", registration("ORDER-SERVICE", "o-1", 8081).dump());
  ASSERT_EQ(done.status, 204) << done.body;
  // The native API and the Consul API see it, under the lower-cased name.
  const auto native = daemon->json("GET", "/v1/services/order-service/instances/o-1");
  EXPECT_EQ(native.value("host", ""), "127.0.0.1");
  EXPECT_EQ(native.value("port", 0), 8081);
  EXPECT_EQ(native.value("status", ""), "healthy");
  EXPECT_EQ(native["metadata"].value("version", ""), "3");
  EXPECT_EQ(daemon->json("GET", "/v1/health/service/order-service").size(), 1u);
  // A native registration shows up to Eureka clients, upper-cased, UP.
  ASSERT_EQ(
      daemon->call("POST", "/v1/instances", instance_body("billing", 9300, R"(,"id":"b-1","tags":["eu"])")).status,
      200);
  const auto billing = fetched("BILLING");
  ASSERT_EQ(billing.size(), 1u) << call("GET", "/eureka/apps").body;
  EXPECT_EQ(billing.at("b-1")["status"], "UP");
  EXPECT_EQ(billing.at("b-1")["port"]["$"], 9300);
  EXPECT_EQ(billing.at("b-1")["metadata"]["svckit-tags"], "eu");
  const auto orders = fetched("ORDER-SERVICE");
  ASSERT_EQ(orders.size(), 1u);
  EXPECT_EQ(orders.at("o-1")["hostName"], "orders-host");
  EXPECT_EQ(orders.at("o-1")["vipAddress"], "orders");
  EXPECT_EQ(orders.at("o-1")["leaseInfo"]["durationInSecs"], 90);
  // Netflix's path, one app, one instance, by id, by VIP.
  EXPECT_EQ(fetched("ORDER-SERVICE", "/eureka/v2").size(), 1u);
  EXPECT_EQ(get("/eureka/apps/ORDER-SERVICE")["application"]["instance"].size(), 1u);
  EXPECT_EQ(get("/eureka/apps/order-service/o-1")["instance"]["app"], "ORDER-SERVICE");
  EXPECT_EQ(get("/eureka/instances/o-1")["instance"]["ipAddr"], "127.0.0.1");
  EXPECT_EQ(get("/eureka/vips/orders")["applications"]["application"].size(), 1u);
  EXPECT_EQ(get("/eureka/vips/nothing")["applications"]["application"].size(), 0u);
  EXPECT_EQ(call("GET", "/eureka/apps/NOPE").status, 404);
  EXPECT_EQ(call("GET", "/eureka/apps/ORDER-SERVICE/o-9").status, 404);

  // Renew; an unknown instance answers 404 (the client then registers again); cancel.
  EXPECT_EQ(call("PUT", "/eureka/apps/ORDER-SERVICE/o-1").status, 200);
  EXPECT_EQ(call("PUT", "/eureka/apps/ORDER-SERVICE/o-9").status, 404);
  EXPECT_EQ(call("DELETE", "/eureka/apps/ORDER-SERVICE/o-1").status, 200);
  EXPECT_EQ(daemon->call("GET", "/v1/services/order-service/instances/o-1").status, 404);
  EXPECT_EQ(call("DELETE", "/eureka/apps/ORDER-SERVICE/o-1").status, 404);
}

TEST_F(EurekaApi, StatusOverridesMetadataAndTheDeltaFollowTheRegistry) {
  ASSERT_EQ(call("POST", "/eureka/apps/ORDERS", registration("ORDERS", "o-1", 8081).dump()).status, 204);
  (void)get("/eureka/apps");  // a full fetch first, as clients do
  ASSERT_EQ(call("PUT", "/eureka/apps/ORDERS/o-1/status?value=OUT_OF_SERVICE").status, 200);
  EXPECT_EQ(daemon->json("GET", "/v1/services/orders/instances/o-1").value("status", ""), "maintenance");
  EXPECT_EQ(fetched("ORDERS").at("o-1")["status"], "OUT_OF_SERVICE");
  EXPECT_EQ(fetched("ORDERS").at("o-1")["overriddenStatus"], "OUT_OF_SERVICE");
  ASSERT_EQ(call("DELETE", "/eureka/apps/ORDERS/o-1/status?value=UP").status, 200);
  EXPECT_EQ(daemon->json("GET", "/v1/services/orders/instances/o-1").value("status", ""), "healthy");
  EXPECT_EQ(call("PUT", "/eureka/apps/ORDERS/o-1/status?value=SLEEPY").status, 400);
  EXPECT_EQ(call("PUT", "/eureka/apps/ORDERS/o-1/status").status, 400);

  ASSERT_EQ(call("PUT", "/eureka/apps/ORDERS/o-1/metadata?build=77").status, 200);
  EXPECT_EQ(fetched("ORDERS").at("o-1")["metadata"]["build"], "77");
  EXPECT_EQ(call("PUT", "/eureka/apps/ORDERS/o-1/metadata?eureka-hostname=x").status, 400);

  // The delta: what changed in the last three minutes, by action.
  ASSERT_EQ(call("POST", "/eureka/apps/ORDERS", registration("ORDERS", "o-2", 8082).dump()).status, 204);
  ASSERT_EQ(call("DELETE", "/eureka/apps/ORDERS/o-1").status, 200);
  const auto delta = get("/eureka/apps/delta");
  std::map<std::string, std::string> actions;
  for (const auto& a : delta["applications"]["application"]) {
    for (const auto& i : a["instance"]) actions[i["instanceId"]] = i["actionType"];
  }
  EXPECT_EQ(actions["o-1"], "DELETED");
  EXPECT_EQ(actions["o-2"], "ADDED");
  EXPECT_EQ(delta["applications"]["apps__hashcode"], "UP_1_");
  EXPECT_GT(std::stoull(delta["applications"].value("versions__delta", "0")), 0u);
}

TEST_F(EurekaApi, ALeaseThatRunsOutTurnsTheInstanceDown) {
  ASSERT_EQ(call("POST", "/eureka/apps/SHORT", registration("SHORT", "s-1", 8090, 1).dump()).status, 204);
  ASSERT_TRUE(
      wait_until([&] { return fetched("SHORT").count("s-1") && fetched("SHORT").at("s-1")["status"] == "DOWN"; }, 10s));
  // A renewal brings it back.
  EXPECT_EQ(call("PUT", "/eureka/apps/SHORT/s-1").status, 200);
  EXPECT_EQ(fetched("SHORT").at("s-1")["status"], "UP");
}

TEST_F(EurekaApi, BadRequestsAreRefusedNamingTheFieldAndChangeNothing) {
  EXPECT_EQ(error_field(call("POST", "/eureka/apps/ORDERS", "{")), "body");
  EXPECT_EQ(call("POST", "/eureka/apps/ORDERS", "{").status, 400);
  EXPECT_EQ(error_field(call("POST", "/eureka/apps/ORDERS", R"({"id":1})")), "instance");
  auto bad_port = registration("ORDERS", "o-1", 8081);
  bad_port["instance"]["port"]["$"] = "eighty";
  EXPECT_EQ(error_field(call("POST", "/eureka/apps/ORDERS", bad_port.dump())), "instance.port.$");
  EXPECT_EQ(error_field(call("POST", "/eureka/apps/OTHER", registration("ORDERS", "o-1", 8081).dump())),
            "instance.app");
  EXPECT_EQ(error_field(call("POST", "/eureka/apps/bad%20app", registration("ORDERS", "o-1", 8081).dump())), "app");
  EXPECT_TRUE(fetched("ORDERS").empty());
}

TEST_F(EurekaApi, WithoutJsonInAcceptTheAnswerIsEurekasXml) {
  auto reg = registration("ORDER-SERVICE", "o-1", 8081);
  reg["instance"]["metadata"] = {{"version", "3 & <4>"}, {"prometheus.io/scrape", "true"}};
  ASSERT_EQ(call("POST", "/eureka/apps/ORDER-SERVICE", reg.dump()).status, 204);
  for (const auto& headers : {std::vector<std::string>{}, {"Accept: application/xml"}, {"Accept: */*"}}) {
    const auto xml = http_call(daemon->port, "GET", "/eureka/apps", {}, headers);
    ASSERT_EQ(xml.status, 200);
    EXPECT_EQ(xml.body.rfind("<?xml", 0), 0U) << xml.body;
    EXPECT_NE(xml.body.find("?><applications>"), std::string::npos) << xml.body;
    EXPECT_NE(xml.body.find("<versions__delta>"), std::string::npos) << xml.body;
    EXPECT_NE(xml.body.find("<name>ORDER-SERVICE</name>"), std::string::npos) << xml.body;
    EXPECT_NE(xml.body.find("<port enabled=\"true\">8081</port>"), std::string::npos) << xml.body;
    EXPECT_NE(xml.body.find("<version>3 &amp; &lt;4&gt;</version>"), std::string::npos) << "escaped: " << xml.body;
    EXPECT_EQ(xml.body.find("prometheus.io"), std::string::npos) << "not an XML name: left out";
  }
  const auto one = http_call(daemon->port, "GET", "/eureka/apps/ORDER-SERVICE/o-1", {}, {});
  EXPECT_NE(one.body.find("?><instance>"), std::string::npos) << one.body;
  EXPECT_NE(one.body.find("<instanceId>o-1</instanceId>"), std::string::npos) << one.body;
  EXPECT_EQ(call("GET", "/eureka/apps").body.front(), '{') << "JSON for a client that asks for it";
}

}  // namespace
}  // namespace svckit::testing
