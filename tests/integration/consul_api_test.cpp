// svckitd's Consul-compatible API, spoken over HTTP the way Consul clients speak it: registration
// with HTTP and TTL checks that svckitd runs, health and catalog reads, blocking queries with
// X-Consul-Index, DeregisterCriticalServiceAfter, and 400s that name the field.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <future>

#include "svckit/testing/fault_server.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class ConsulApi : public ::testing::Test {
 protected:
  void start(std::vector<std::string> args = {}) {
    daemon = SvckitdProcess::start(dir.path(), std::move(args));
    ASSERT_NE(daemon, nullptr);
  }
  HttpAnswer put(const std::string& target, const json& body = nullptr) const {
    return daemon->call("PUT", target, body.is_null() ? std::string() : body.dump());
  }
  json get(const std::string& target) const { return daemon->json("GET", target); }
  std::size_t passing(const std::string& service) const {
    return get("/v1/health/service/" + service + "?passing").size();
  }

  TempDir dir;
  IoThread io;
  std::unique_ptr<SvckitdProcess> daemon;
};

TEST_F(ConsulApi, AnHttpCheckedServiceTurnsPassingFailsAndIsSeenByNativeClientsToo) {
  start();
  FaultServer web(io.io(), "web");
  const json registration{{"ID", "web-1"},
                          {"Name", "web"},
                          {"Address", "127.0.0.1"},
                          {"Port", web.port()},
                          {"Tags", {"v1", "primary"}},
                          {"Meta", {{"version", "1.4"}}},
                          {"Check", {{"HTTP", web.url() + "/health"}, {"Interval", "100ms"}, {"Timeout", "1s"}}}};
  web.answer_status(503);  // the first check runs at once: fail it, so "critical until it passes" is seen
  ASSERT_EQ(put("/v1/agent/service/register", registration).status, 200);
  ASSERT_TRUE(wait_until([&] { return web.hits() >= 1; }, 10s));
  EXPECT_EQ(passing("web"), 0u) << "a check starts critical until it passes";
  web.answer_status(200);
  ASSERT_TRUE(wait_until([&] { return passing("web") == 1; }, 10s));

  const auto answer = daemon->call("GET", "/v1/health/service/web?passing&tag=v1");
  EXPECT_GT(std::stoull(answer.header("X-Consul-Index")), 0u);
  const auto entries = json::parse(answer.body);
  ASSERT_EQ(entries.size(), 1u);
  const auto& service = entries[0]["Service"];
  EXPECT_EQ(service["ID"], "web-1");
  EXPECT_EQ(service["Port"], web.port());
  EXPECT_EQ(service["Meta"]["version"], "1.4");
  EXPECT_EQ(service["Tags"], json({"primary", "v1"}));
  bool found = false;
  for (const auto& c : entries[0]["Checks"]) {
    if (c["CheckID"] == "service:web-1") {
      found = true;
      EXPECT_EQ(c["Status"], "passing");
      EXPECT_EQ(c["Type"], "http");
    }
  }
  EXPECT_TRUE(found) << entries.dump();
  EXPECT_GE(web.hits(), 1) << "svckitd ran the check";
  EXPECT_EQ(get("/v1/health/service/web?passing&tag=v2").size(), 0u) << "tags filter";
  EXPECT_EQ(get("/v1/catalog/services")["web"], json({"primary", "v1"}));
  EXPECT_EQ(get("/v1/catalog/service/web")[0]["ServiceID"], "web-1");
  EXPECT_EQ(get("/v1/agent/services")["web-1"]["Service"], "web");
  EXPECT_EQ(get("/v1/services/web/instances")["instances"][0]["status"], "healthy") << "the native API, same record";

  web.answer_status(500);
  ASSERT_TRUE(wait_until([&] { return passing("web") == 0; }, 10s));
  const auto all = get("/v1/health/service/web");
  ASSERT_EQ(all.size(), 1u) << "still listed without ?passing";
  EXPECT_EQ(get("/v1/services/web/instances")["instances"][0]["status"], "unhealthy");

  ASSERT_EQ(put("/v1/agent/service/deregister/web-1").status, 200);
  EXPECT_FALSE(get("/v1/catalog/services").contains("web"));
  EXPECT_EQ(put("/v1/agent/service/deregister/web-1").status, 404);
}

TEST_F(ConsulApi, ATtlCheckIsKeptPassingByPassesAndDeregisterCriticalServiceAfterRemovesIt) {
  // The store's own grace is long: what removes the instance is its DeregisterCriticalServiceAfter.
  start({"--sweep-interval", "50ms", "--expiry-grace", "60s"});
  const json registration{
      {"Name", "job"}, {"Port", 9100}, {"Check", {{"TTL", "1s"}, {"DeregisterCriticalServiceAfter", "1500ms"}}}};
  ASSERT_EQ(put("/v1/agent/service/register", registration).status, 200);
  EXPECT_EQ(get("/v1/agent/services")["job"]["Address"], "127.0.0.1") << "ID defaults to Name, Address to the caller's";
  EXPECT_EQ(passing("job"), 0u);
  ASSERT_EQ(put("/v1/agent/check/pass/service:job").status, 200);
  EXPECT_EQ(passing("job"), 1u);
  ASSERT_EQ(put("/v1/agent/check/fail/service:job").status, 200);
  EXPECT_EQ(passing("job"), 0u);
  ASSERT_EQ(put("/v1/agent/check/update/service:job", json{{"Status", "passing"}}).status, 200);
  EXPECT_EQ(passing("job"), 1u);

  // Silent: the TTL runs out (critical), and 1.5 s later the registration is gone.
  ASSERT_TRUE(wait_until([&] { return passing("job") == 0; }, 10s));
  EXPECT_EQ(get("/v1/health/service/job").size(), 1u) << "critical, not yet removed";
  ASSERT_TRUE(wait_until([&] { return get("/v1/health/service/job").empty(); }, 10s));
  EXPECT_FALSE(get("/v1/agent/services").contains("job"));
}

TEST_F(ConsulApi, AnInstanceKilledInMaintenanceIsRemovedOnceItsOwnCheckHasBeenCriticalLongEnough) {
  // The usual shutdown is maintenance -> drain -> deregister; a SIGKILL or OOM skips the last step.
  start({"--sweep-interval", "50ms"});
  auto dying = std::make_unique<FaultServer>(io.io(), "dying");
  FaultServer alive(io.io(), "alive");
  auto registration = [](const char* id, const FaultServer& web) {
    return json{{"ID", id},
                {"Name", "web"},
                {"Port", web.port()},
                {"Check",
                 {{"HTTP", web.url() + "/health"}, {"Interval", "50ms"}, {"DeregisterCriticalServiceAfter", "500ms"}}}};
  };
  ASSERT_EQ(put("/v1/agent/service/register", registration("web-1", *dying)).status, 200);
  ASSERT_EQ(put("/v1/agent/service/register", registration("web-2", alive)).status, 200);
  ASSERT_TRUE(wait_until([&] { return passing("web") == 2; }, 10s));
  for (const char* id : {"web-1", "web-2"}) {
    ASSERT_EQ(put(std::string("/v1/agent/service/maintenance/") + id + "?enable=true&reason=deploy").status, 200);
  }
  const auto checks = get("/v1/agent/checks");
  ASSERT_TRUE(checks.contains("_service_maintenance:web-1")) << checks.dump();
  EXPECT_EQ(checks["_service_maintenance:web-1"]["Status"], "critical");
  EXPECT_EQ(checks["service:web-1"]["ServiceID"], "web-1");
  EXPECT_EQ(checks["service:web-1"]["Type"], "http");

  dying.reset();  // killed while in maintenance: its HTTP check now fails
  ASSERT_TRUE(wait_until([&] { return !get("/v1/agent/services").contains("web-1"); }, 10s))
      << "a dead instance in maintenance must not stay registered for good";
  const auto hits = alive.hits();
  ASSERT_TRUE(wait_until([&] { return alive.hits() >= hits + 12; }, 10s));  // > 500 ms of passing checks
  const auto left = get("/v1/agent/services");
  ASSERT_TRUE(left.contains("web-2")) << "maintenance with a passing check is kept: " << left.dump();
  EXPECT_EQ(get("/v1/services/web/instances/web-2")["status"], "maintenance");
  EXPECT_FALSE(get("/v1/agent/checks").contains("_service_maintenance:web-1"));
}

TEST_F(ConsulApi, ARegistrationWithoutAddressGetsTheCallersAddressNotSvckitds) {
  start();
  // Call from 127.0.0.2 (any 127/8 address is loopback): svckitd's own node address is 127.0.0.1.
  boost::asio::io_context ctx;
  boost::asio::ip::tcp::socket socket(ctx);
  socket.open(boost::asio::ip::tcp::v4());
  socket.bind({boost::asio::ip::make_address("127.0.0.2"), 0});
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), static_cast<std::uint16_t>(daemon->port)});
  const std::string body = json{{"Name", "remote"}, {"Port", 8080}}.dump();
  const std::string request =
      "PUT /v1/agent/service/register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
      "Content-Type: application/json\r\nConnection: close\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  boost::asio::write(socket, boost::asio::buffer(request));
  std::string answer;
  boost::system::error_code ec;
  boost::asio::read(socket, boost::asio::dynamic_buffer(answer), ec);
  ASSERT_TRUE(answer.starts_with("HTTP/1.1 200")) << answer;
  EXPECT_EQ(get("/v1/agent/service/remote")["Address"], "127.0.0.2");
  EXPECT_EQ(get("/v1/catalog/service/remote")[0]["ServiceAddress"], "127.0.0.2");
  EXPECT_EQ(get("/v1/services/remote/instances/remote")["host"], "127.0.0.2");
}

TEST_F(ConsulApi, ABlockingQueryWaitsForAChangeOfItsServiceAndAnswersTheNewIndex) {
  start();
  ASSERT_EQ(put("/v1/agent/service/register", json{{"Name", "a"}, {"ID", "a1"}, {"Port", 9001}}).status, 200);
  const auto first = daemon->call("GET", "/v1/health/service/a");
  const auto index = first.header("X-Consul-Index");
  ASSERT_FALSE(index.empty());

  auto waiting = std::async(std::launch::async,
                            [&] { return daemon->call("GET", "/v1/health/service/a?index=" + index + "&wait=20s"); });
  ASSERT_EQ(put("/v1/agent/service/register", json{{"Name", "b"}, {"Port", 9002}}).status, 200);
  EXPECT_EQ(waiting.wait_for(300ms), std::future_status::timeout) << "another service's change does not answer it";
  ASSERT_EQ(put("/v1/agent/service/register", json{{"Name", "a"}, {"ID", "a2"}, {"Port", 9003}}).status, 200);
  ASSERT_EQ(waiting.wait_for(10s), std::future_status::ready);
  const auto woken = waiting.get();
  EXPECT_GT(std::stoull(woken.header("X-Consul-Index")), std::stoull(index));
  EXPECT_EQ(json::parse(woken.body).size(), 2u);

  // Nothing changes: the wait runs out and the same index comes back.
  const auto now = woken.header("X-Consul-Index");
  const auto idle = daemon->call("GET", "/v1/health/service/a?index=" + now + "&wait=100ms");
  EXPECT_EQ(idle.status, 200);
  EXPECT_EQ(idle.header("X-Consul-Index"), now);
}

TEST_F(ConsulApi, BadInputIsA4xxThatNamesTheFieldAndChangesNothing) {
  start();
  auto field_of = [](const HttpAnswer& a) {
    EXPECT_EQ(a.status, 400) << a.body;
    const auto body = json::parse(a.body, nullptr, false);
    return body.is_object() && body.contains("error") ? body["error"].value("field", std::string()) : std::string();
  };
  const auto no_name = put("/v1/agent/service/register", json{{"Port", 80}});
  EXPECT_EQ(no_name.status, 400);
  EXPECT_EQ(field_of(no_name), "Name");
  EXPECT_EQ(field_of(put("/v1/agent/service/register", json{{"Name", "x"}, {"Port", "80"}})), "Port");
  EXPECT_EQ(field_of(put("/v1/agent/service/register", json{{"Name", "x"}, {"Port", 70000}})), "Port");
  EXPECT_EQ(field_of(put("/v1/agent/service/register", json{{"Name", "x"}, {"Port", 80}, {"Connect", json::object()}})),
            "Connect");
  EXPECT_EQ(field_of(put("/v1/agent/service/register",
                         json{{"Name", "x"}, {"Port", 80}, {"Check", {{"HTTP", "https://h:1/"}, {"Interval", "1s"}}}})),
            "Check.HTTP");
  EXPECT_EQ(field_of(put("/v1/agent/service/register",
                         json{{"Name", "x"}, {"Port", 80}, {"Check", {{"TCP", "h:1"}, {"Interval", "soon"}}}})),
            "Check.Interval");
  EXPECT_EQ(field_of(put("/v1/agent/service/register", json{{"Name", "x"}, {"Port", 80}, {"Check", {{"TCP", "h:1"}}}})),
            "Check.Interval");
  EXPECT_EQ(daemon->call("PUT", "/v1/agent/service/register", "{not json").status, 400);
  EXPECT_TRUE(get("/v1/catalog/services").empty()) << "nothing was registered";

  EXPECT_EQ(daemon->call("GET", "/v1/health/service/x?filter=Service.Port==80").status, 400);
  EXPECT_EQ(daemon->call("GET", "/v1/health/service/x?index=abc").status, 400);
  EXPECT_EQ(put("/v1/agent/check/pass/service:nobody").status, 404);
  ASSERT_EQ(put("/v1/agent/service/register",
                json{{"Name", "tcp"}, {"Port", 80}, {"Check", {{"TCP", "127.0.0.1:1"}, {"Interval", "1s"}}}})
                .status,
            200);
  EXPECT_EQ(put("/v1/agent/check/pass/service:tcp").status, 400) << "only a TTL check takes a pass";
}

}  // namespace
}  // namespace svckit::testing
