// svckitd's Nacos-compatible API (v1 naming), spoken over HTTP the way Nacos clients speak it:
// query parameters or a form-encoded body, beats that register an unknown instance, lists that
// filter by cluster and health — over the same registry the other APIs serve.
#include <gtest/gtest.h>

#include <future>

#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class NacosApi : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon = SvckitdProcess::start(dir.path());
    ASSERT_NE(daemon, nullptr);
  }
  HttpAnswer call(const std::string& method, const std::string& target) const {
    return http_call(daemon->port, method, target);
  }
  /// A form post, as the Java client sends it.
  HttpAnswer form(const std::string& method, const std::string& target, const std::string& body) const {
    return raw_http(daemon->port,
                    method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" +
                        "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body,
                    10s, false);
  }
  json hosts(const std::string& query) const {
    return json::parse(call("GET", "/nacos/v1/ns/instance/list?" + query).body, nullptr, false)["hosts"];
  }
  static std::string error_field(const HttpAnswer& a) {
    return json::parse(a.body, nullptr, false)["error"].value("field", "");
  }

  TempDir dir;
  std::unique_ptr<SvckitdProcess> daemon;
};

TEST_F(NacosApi, InstancesRegisteredHereAreSeenByEveryApiAndTheOtherWayRound) {
  const auto made = form("POST", "/nacos/v1/ns/instance",
                         "serviceName=DEFAULT_GROUP%40%40orders&ip=127.0.0.1&port=8081&weight=2&clusterName=eu"
                         "&ephemeral=false&metadata=%7B%22version%22%3A%223%22%7D");
  ASSERT_EQ(made.status, 200) << made.body;
  EXPECT_EQ(made.body, "ok");
  const auto native = daemon->json("GET", "/v1/services/orders/instances/127.0.0.1:8081");
  EXPECT_EQ(native.value("weight", 0), 200);
  EXPECT_EQ(native.value("zone", ""), "eu");
  EXPECT_EQ(native["metadata"].value("version", ""), "3");
  EXPECT_EQ(native.value("ttl", "x"), "0s") << "ephemeral=false: persistent";
  EXPECT_EQ(daemon->json("GET", "/v1/health/service/orders").size(), 1u) << "the Consul API sees it";
  // A native registration is a Nacos host.
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("orders", 8082, R"(,"zone":"us")")).status, 200);
  auto list = hosts("serviceName=orders");
  ASSERT_EQ(list.size(), 2u) << list.dump();
  EXPECT_EQ(hosts("serviceName=DEFAULT_GROUP%40%40orders&clusters=eu").size(), 1u);
  EXPECT_EQ(hosts("serviceName=orders&clusters=us,eu").size(), 2u);
  EXPECT_EQ(hosts("serviceName=orders&groupName=OTHER").size(), 0u) << "another group";
  EXPECT_EQ(hosts("serviceName=nobody").size(), 0u);
  const auto one = daemon->json("GET", "/nacos/v1/ns/instance?serviceName=orders&ip=127.0.0.1&port=8081");
  EXPECT_DOUBLE_EQ(one.value("weight", 0.0), 2.0);
  EXPECT_EQ(one.value("ephemeral", true), false);
  const auto services = daemon->json("GET", "/nacos/v1/ns/service/list?pageNo=1&pageSize=10");
  EXPECT_EQ(services.value("count", 0), 1);
  EXPECT_EQ(daemon->json("GET", "/nacos/v1/ns/operator/metrics").value("status", ""), "UP");

  // Update (weight, enabled), then deregister.
  ASSERT_EQ(
      call("PUT", "/nacos/v1/ns/instance?serviceName=orders&ip=127.0.0.1&port=8081&weight=5&enabled=false").status,
      200);
  const auto updated = daemon->json("GET", "/v1/services/orders/instances/127.0.0.1:8081");
  EXPECT_EQ(updated.value("weight", 0), 500);
  EXPECT_EQ(updated.value("status", ""), "maintenance");
  EXPECT_EQ(updated["metadata"].value("version", ""), "3") << "an update keeps the metadata it does not name";
  EXPECT_EQ(updated.value("ttl", "x"), "0s");
  EXPECT_EQ(call("PUT", "/nacos/v1/ns/instance?serviceName=orders&ip=127.0.0.1&port=9999").status, 404);
  ASSERT_EQ(call("DELETE", "/nacos/v1/ns/instance?serviceName=orders&ip=127.0.0.1&port=8081").status, 200);
  EXPECT_EQ(daemon->call("GET", "/v1/services/orders/instances/127.0.0.1:8081").status, 404);
  EXPECT_EQ(call("DELETE", "/nacos/v1/ns/instance?serviceName=orders&ip=127.0.0.1&port=8081").status, 404);
}

TEST_F(NacosApi, BeatsKeepAnEphemeralInstanceAliveAndRegisterAnUnknownOne) {
  const std::string beat =
      "%7B%22ip%22%3A%22127.0.0.1%22%2C%22port%22%3A8090%2C%22serviceName%22%3A%22"
      "DEFAULT_GROUP%40%40pay%22%2C%22cluster%22%3A%22DEFAULT%22%2C%22weight%22%3A1%2C"
      "%22metadata%22%3A%7B%22preserved.heart.beat.timeout%22%3A%221000%22%7D%7D";
  // Unknown: the beat registers it (svckitd restarted under the client, as Nacos does).
  auto answer = call("PUT", "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40pay&beat=" + beat);
  ASSERT_EQ(answer.status, 200) << answer.body;
  EXPECT_EQ(json::parse(answer.body, nullptr, false).value("clientBeatInterval", 0), 5000);
  auto list = hosts("serviceName=pay");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].value("healthy", false), true);
  EXPECT_EQ(list[0].value("instanceHeartBeatTimeOut", 0), 1000);
  // Silent past its 1 s timeout: unhealthy (down), and a beat brings it back.
  ASSERT_TRUE(wait_until([&] { return hosts("serviceName=pay")[0].value("healthy", true) == false; }, 10s));
  EXPECT_EQ(hosts("serviceName=pay&healthyOnly=true").size(), 0u);
  ASSERT_EQ(call("PUT", "/nacos/v1/ns/instance/beat?serviceName=DEFAULT_GROUP%40%40pay&beat=" + beat).status, 200);
  EXPECT_EQ(hosts("serviceName=pay")[0].value("healthy", false), true);
}

TEST_F(NacosApi, BadRequestsAreRefusedNamingTheParameterAndChangeNothing) {
  EXPECT_EQ(error_field(call("POST", "/nacos/v1/ns/instance?ip=127.0.0.1&port=80")), "serviceName");
  EXPECT_EQ(error_field(call("POST", "/nacos/v1/ns/instance?serviceName=orders&ip=127.0.0.1")), "port");
  EXPECT_EQ(error_field(call("POST", "/nacos/v1/ns/instance?serviceName=orders&ip=127.0.0.1&port=80&weight=x")),
            "weight");
  EXPECT_EQ(error_field(call("POST", "/nacos/v1/ns/instance?serviceName=orders&ip=127.0.0.1&port=80&metadata=%5B")),
            "metadata");
  EXPECT_EQ(error_field(call("POST", "/nacos/v1/ns/instance?serviceName=bad%20name&ip=127.0.0.1&port=80")),
            "serviceName");
  EXPECT_EQ(error_field(call("PUT", "/nacos/v1/ns/instance/beat?serviceName=orders&beat=%5B")), "beat");
  EXPECT_EQ(error_field(call("GET", "/nacos/v1/ns/service/list?pageNo=x")), "pageNo");
  EXPECT_EQ(hosts("serviceName=orders").size(), 0u);
  // A form post is accepted on Nacos's paths only; a page of another origin is refused there too.
  EXPECT_EQ(form("POST", "/v1/instances", R"(service=web)").status, 415);
  const auto cross_site =
      raw_http(daemon->port,
               "POST /nacos/v1/ns/instance HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nOrigin: "
               "http://evil.example\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 39\r\n\r\n"
               "serviceName=orders&ip=127.0.0.1&port=80",
               10s, false);
  EXPECT_EQ(cross_site.status, 403);
  EXPECT_EQ(hosts("serviceName=orders").size(), 0u);
}

TEST_F(NacosApi, ConfigsArePublishedReadListenedToAndRolledBackInTheConfigStore) {
  const auto published =
      form("POST", "/nacos/v1/cs/configs", "dataId=app.properties&group=DEFAULT_GROUP&content=a%3D1");
  ASSERT_EQ(published.status, 200) << published.body;
  EXPECT_EQ(published.body, "true");
  const auto got = call("GET", "/nacos/v1/cs/configs?dataId=app.properties&group=DEFAULT_GROUP");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body, "a=1");
  const auto md5 = got.header("Content-MD5");
  EXPECT_EQ(md5, "3872c9ae3f427af0be0ead09d07ae2cf") << "MD5 of a=1";
  EXPECT_EQ(daemon->json("GET", "/v1/config")["nacos"]["public"]["DEFAULT_GROUP"].value("app.properties", ""), "a=1");
  const auto version = std::stoull(daemon->call("GET", "/v1/config").header("X-Svckit-Config-Version"));

  // The listener: a stale MD5 answers at once; the current one waits for a change.
  const auto listen = [&](const std::string& held_md5, int timeout_ms) {
    const std::string body = "Listening-Configs=app.properties%02DEFAULT_GROUP%02" + held_md5 + "%01";
    return raw_http(daemon->port,
                    "POST /nacos/v1/cs/configs/listener HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                    "Content-Type: application/x-www-form-urlencoded\r\nLong-Pulling-Timeout: " +
                        std::to_string(timeout_ms) + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                        body,
                    30s, false);
  };
  EXPECT_EQ(listen("0123", 5000).body, "app.properties%02DEFAULT_GROUP%01");
  EXPECT_EQ(listen(md5, 100).body, "") << "nothing changed within the timeout";
  auto waiting = std::async(std::launch::async, [&] { return listen(md5, 20000); });
  ASSERT_TRUE(wait_until(
      [&] {
        return daemon->call("GET", "/metrics").body.find("svckit_watchers_active 1") != std::string::npos ||
               waiting.wait_for(0s) == std::future_status::ready;
      },
      10s));
  ASSERT_EQ(call("POST", "/nacos/v1/cs/configs?dataId=app.properties&group=DEFAULT_GROUP&content=a%3D2").status, 200);
  EXPECT_EQ(waiting.get().body, "app.properties%02DEFAULT_GROUP%01");
  EXPECT_EQ(call("GET", "/nacos/v1/cs/configs?dataId=app.properties&group=DEFAULT_GROUP").body, "a=2");

  // svckitd's rollback takes the Nacos config back too; a removal is a version as well.
  ASSERT_EQ(daemon->call("POST", "/v1/config/rollback/" + std::to_string(version)).status, 200);
  EXPECT_EQ(call("GET", "/nacos/v1/cs/configs?dataId=app.properties&group=DEFAULT_GROUP").body, "a=1");
  ASSERT_EQ(call("DELETE", "/nacos/v1/cs/configs?dataId=app.properties&group=DEFAULT_GROUP").body, "true");
  EXPECT_EQ(call("GET", "/nacos/v1/cs/configs?dataId=app.properties&group=DEFAULT_GROUP").status, 404);
  EXPECT_FALSE(daemon->json("GET", "/v1/config").contains("nacos"));

  // Bad requests name the parameter and change nothing.
  EXPECT_EQ(error_field(call("GET", "/nacos/v1/cs/configs?group=DEFAULT_GROUP")), "dataId");
  EXPECT_EQ(error_field(call("POST", "/nacos/v1/cs/configs?dataId=x")), "content");
  EXPECT_EQ(error_field(call("POST", "/nacos/v1/cs/configs?dataId=a%20b&content=1")), "dataId");
  EXPECT_EQ(error_field(form("POST", "/nacos/v1/cs/configs/listener", "Listening-Configs=only-one-field%01")),
            "Listening-Configs");
  EXPECT_FALSE(daemon->json("GET", "/v1/config").contains("nacos"));
}

}  // namespace
}  // namespace svckit::testing
