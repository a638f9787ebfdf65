// The svckitd HTTP API against a real svckitd process: every operation, bad input, limits, metrics.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <csignal>
#include <set>
#include <sstream>

#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

class SvckitdApi : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon = SvckitdProcess::start(
        dir.path(), {"--set", "limits.max_body_bytes=4096", "--set", "limits.max_header_bytes=2048", "--set",
                     "limits.max_instances_per_service=3", "--set", "limits.max_watchers=2"});
    ASSERT_NE(daemon, nullptr);
  }

  TempDir dir;
  std::unique_ptr<SvckitdProcess> daemon;
};

TEST_F(SvckitdApi, RegisterGetListStatusHeartbeatDeregister) {
  auto r = daemon->call("POST", "/v1/instances", instance_body("product", 8081, R"(,"tags":["v2"],"zone":"z1")"));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("product", 8082)).status, 200);

  auto one = daemon->json("GET", "/v1/services/product/instances/127.0.0.1:8081");
  EXPECT_EQ(one["zone"], "z1");
  EXPECT_EQ(one["status"], "healthy");

  auto tagged = daemon->json("GET", "/v1/services/product/instances?tag=v2");
  ASSERT_EQ(tagged["instances"].size(), 1u);
  EXPECT_EQ(tagged["instances"][0]["port"], 8081);

  auto status =
      daemon->call("PUT", "/v1/services/product/instances/127.0.0.1:8082/status", R"({"status":"maintenance"})");
  EXPECT_EQ(status.status, 200) << status.body;
  auto healthy = daemon->json("GET", "/v1/services/product/instances?status=healthy");
  EXPECT_EQ(healthy["instances"].size(), 1u);

  EXPECT_EQ(daemon->call("PUT", "/v1/services/product/instances/127.0.0.1:8081/heartbeat").status, 200);
  auto services = daemon->json("GET", "/v1/services");
  ASSERT_EQ(services["services"].size(), 1u);
  EXPECT_EQ(services["services"][0]["instances"], 2);
  EXPECT_EQ(services["services"][0]["healthy"], 1);

  EXPECT_EQ(daemon->call("DELETE", "/v1/services/product/instances/127.0.0.1:8081").status, 200);
  EXPECT_EQ(daemon->call("DELETE", "/v1/services/product/instances/127.0.0.1:8081").status, 404);
  EXPECT_EQ(daemon->call("GET", "/healthz").status, 200);
}

struct BadRequest {
  const char* name;
  const char* method;
  const char* target;
  const char* body;
  int status;
  const char* field;
  friend void PrintTo(const BadRequest& r, std::ostream* os) { *os << r.name; }
};

class SvckitdBadInput : public SvckitdApi, public ::testing::WithParamInterface<BadRequest> {};

TEST_P(SvckitdBadInput, AnswersJsonErrorNamingFieldAndChangesNothing) {
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("product", 8081)).status, 200);
  const auto before = daemon->json("GET", "/v1/services/product/instances");
  const auto& p = GetParam();
  auto r = daemon->call(p.method, p.target, p.body);
  EXPECT_EQ(r.status, p.status) << r.body;
  auto body = nlohmann::json::parse(r.body, nullptr, false);
  ASSERT_TRUE(body.is_object() && body.contains("error")) << r.body;
  EXPECT_TRUE(body["error"]["code"].is_string());
  EXPECT_TRUE(body["error"]["message"].is_string());
  EXPECT_EQ(body["error"].value("field", ""), p.field) << r.body;
  const auto after = daemon->json("GET", "/v1/services/product/instances");
  EXPECT_EQ(before["instances"], after["instances"]) << "a rejected request must not change the registry";
}

INSTANTIATE_TEST_SUITE_P(
    All, SvckitdBadInput,
    ::testing::Values(
        BadRequest{"malformed_json", "POST", "/v1/instances", R"({"service":"product",)", 400, "body"},
        BadRequest{"empty_body", "POST", "/v1/instances", "", 400, "body"},
        BadRequest{"not_object", "POST", "/v1/instances", "[1,2]", 400, "body"},
        BadRequest{"port_string", "POST", "/v1/instances", R"({"service":"product","host":"h","port":"80"})", 400,
                   "port"},
        BadRequest{"port_too_big", "POST", "/v1/instances", R"({"service":"product","host":"h","port":65536})", 400,
                   "port"},
        BadRequest{"missing_host", "POST", "/v1/instances", R"({"service":"product","port":80})", 400, "host"},
        BadRequest{"bad_name", "POST", "/v1/instances", R"({"service":"pro duct","host":"h","port":80})", 400,
                   "service"},
        BadRequest{"bad_weight", "POST", "/v1/instances",
                   R"({"service":"product","host":"127.0.0.1","port":8081,"weight":100000})", 400, "weight"},
        BadRequest{"bad_status", "POST", "/v1/instances",
                   R"({"service":"product","host":"127.0.0.1","port":8081,"status":"asleep"})", 400, "status"},
        BadRequest{"unknown_field", "POST", "/v1/instances",
                   R"({"service":"product","host":"127.0.0.1","port":8081,"colour":1})", 400, "colour"},
        BadRequest{"status_value", "PUT", "/v1/services/product/instances/127.0.0.1:8081/status",
                   R"({"status":"sleeping"})", 400, "status"},
        BadRequest{"status_type", "PUT", "/v1/services/product/instances/127.0.0.1:8081/status", R"({"status":1})", 400,
                   "status"},
        BadRequest{"unknown_instance", "PUT", "/v1/services/product/instances/nope/heartbeat", "", 404, "id"},
        BadRequest{"unknown_service", "GET", "/v1/services/nothing/instances/x", "", 404, "service"},
        BadRequest{"bad_filter", "GET", "/v1/services/product/instances?status=meh", "", 400, "status"},
        BadRequest{"bad_wait", "GET", "/v1/watch?index=1&wait=forever", "", 400, "wait"},
        BadRequest{"bad_index", "GET", "/v1/watch?index=-3", "", 400, "index"},
        BadRequest{"no_route", "GET", "/v2/nothing", "", 404, "path"},
        BadRequest{"bad_method", "PATCH", "/v1/services", "", 405, "method"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST_F(SvckitdApi, ARegistrationWithChecksAndNoStatusStartsOutOfRotation) {
  const std::string check = R"(,"checks":[{"type":"tcp","interval":"1s","timeout":"1s"}])";
  auto unproven = nlohmann::json::parse(daemon->call("POST", "/v1/instances", instance_body("db", 1, check)).body);
  EXPECT_EQ(unproven["status"], "starting") << "nothing vouches for it until a check passes";
  auto vouched = nlohmann::json::parse(
      daemon->call("POST", "/v1/instances", instance_body("db", 2, check + R"(,"status":"healthy")")).body);
  EXPECT_EQ(vouched["status"], "healthy") << "an explicit status is kept";
  auto unchecked = nlohmann::json::parse(daemon->call("POST", "/v1/instances", instance_body("db", 3)).body);
  EXPECT_EQ(unchecked["status"], "healthy");
}

TEST_F(SvckitdApi, OversizedBodyIs413AndOversizedHeadersAre431) {
  auto big = daemon->call("POST", "/v1/instances",
                          instance_body("product", 8081, R"(,"zone":")" + std::string(8000, 'a') + "\""));
  EXPECT_EQ(big.status, 413);
  EXPECT_NE(big.body.find("payload_too_large"), std::string::npos) << big.body;
  auto headers = http_call(daemon->port, "GET", "/v1/services", "", {"X-Filler: " + std::string(4000, 'x')});
  EXPECT_EQ(headers.status, 431);
  EXPECT_NE(headers.body.find("\"field\":\"headers\""), std::string::npos) << headers.body;
  EXPECT_EQ(daemon->json("GET", "/v1/services")["services"].size(), 0u);
}

TEST_F(SvckitdApi, MalformedHttpIs400) {
  auto r = raw_http(daemon->port, "GARBAGE\r\n\r\n");
  EXPECT_EQ(r.status, 400) << r.raw_headers;
}

TEST_F(SvckitdApi, LimitsAnswer429) {
  for (int p = 1; p <= 3; ++p) ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("s", p)).status, 200);
  auto full = daemon->call("POST", "/v1/instances", instance_body("s", 4));
  EXPECT_EQ(full.status, 429);
  EXPECT_NE(full.body.find("limit_exceeded"), std::string::npos);
}

TEST_F(SvckitdApi, WatchLongPollAnswersOnChangeWithIndexHeader) {
  const auto index = std::stoull(daemon->call("GET", "/v1/services").header("X-Svckit-Index"));
  std::thread registrar([&] {
    // Registers once the watch is parked (the daemon reports it in its metrics; the other watcher
    // is svckitd's own health-check follower).
    wait_until(
        [&] { return daemon->call("GET", "/metrics").body.find("svckit_watchers_active 2") != std::string::npos; },
        std::chrono::seconds(10));
    daemon->call("POST", "/v1/instances", instance_body("product", 9000));
  });
  const auto start = std::chrono::steady_clock::now();
  auto w = daemon->call("GET", "/v1/watch?index=" + std::to_string(index) + "&wait=20s");
  registrar.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10)) << "answered on change, not at wait";
  ASSERT_EQ(w.status, 200) << w.body;
  auto body = nlohmann::json::parse(w.body);
  ASSERT_EQ(body["events"].size(), 1u);
  EXPECT_EQ(body["events"][0]["type"], "registered");
  EXPECT_EQ(w.header("X-Svckit-Index"), std::to_string(index + 1));

  // No change: the watch answers at `wait` with the same index.
  auto idle = daemon->call("GET", "/v1/watch?index=" + std::to_string(index + 1) + "&wait=50ms");
  EXPECT_EQ(nlohmann::json::parse(idle.body)["events"].size(), 0u);
  EXPECT_EQ(idle.header("X-Svckit-Index"), std::to_string(index + 1));
}

TEST_F(SvckitdApi, MetricsExposeCountersByRouteAndCode) {
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("product", 8081)).status, 200);
  daemon->call("POST", "/v1/instances", "{");
  daemon->call("PUT", "/v1/services/product/instances/127.0.0.1:8081/heartbeat");
  daemon->call("GET", "/v1/services/product/instances");
  const auto text = daemon->call("GET", "/metrics").body;
  for (const char* line : {"svckit_registrations_total 1\n", "svckit_heartbeats_total 1\n",
                           "svckit_discoveries_total 1\n", "svckit_instances_active{service=\"product\"} 1\n",
                           "svckit_http_requests_total{route=\"/v1/instances\",method=\"POST\",code=\"200\"} 1\n",
                           "svckit_http_requests_total{route=\"/v1/instances\",method=\"POST\",code=\"400\"} 1\n",
                           "svckit_http_request_duration_seconds_count{route=\"/v1/instances\"} 2\n",
                           "svckit_expirations_total 0\n", "svckit_deregistrations_total 0\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing: " << line;
  }
  // svckitd's own health-check follower is the one watcher (it parks right after start-up).
  EXPECT_TRUE(testing::wait_until(
      [&] { return daemon->call("GET", "/metrics").body.find("svckit_watchers_active 1\n") != std::string::npos; },
      std::chrono::seconds(5)));
}

}  // namespace
}  // namespace svckit::testing

namespace svckit::testing {
namespace {

TEST(SvckitdLogs, JsonFormatWritesOneObjectPerLineWithTheEventFields) {
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path(), {"--log-format", "json", "--gateway-port", "0"});
  ASSERT_NE(daemon, nullptr);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("web", 9001)).status, 200);
  daemon->process.stop(SIGTERM);
  std::istringstream lines(read_file(dir.path() / "svckitd.log"));
  std::string line;
  std::set<std::string> events;
  int objects = 0;
  while (std::getline(lines, line)) {
    if (line.rfind("svckitd ", 0) == 0) continue;  // the banner on stdout ("svckitd listening on ...")
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << "not JSON: " << line;
    EXPECT_FALSE(j.value("component", "").empty()) << line;  // svckitd, gateway, persistence, ...
    EXPECT_FALSE(j.value("time", "").empty()) << line;
    EXPECT_FALSE(j.value("level", "").empty()) << line;
    if (j.contains("fields")) events.insert(j["fields"].value("event", ""));
    ++objects;
  }
  EXPECT_GE(objects, 3);
  EXPECT_TRUE(events.count("gateway_listening")) << "events seen: " << events.size();
  EXPECT_TRUE(events.count("shutdown_done"));
  // A bad format is refused at start, naming the setting.
  auto bad = ChildProcess::spawn({SVCKITD_BIN, "--port", "0", "--log-format", "xml"}, dir.path() / "bad.log");
  ASSERT_TRUE(bad);
  const int status = bad->wait_exit(std::chrono::seconds(10));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status;
  EXPECT_NE(read_file(dir.path() / "bad.log").find("log_format"), std::string::npos)
      << read_file(dir.path() / "bad.log");
}

TEST(SvckitdLogs, EachComponentHasItsOwnLevel) {
  using namespace std::chrono_literals;
  TempDir dir;
  const auto gateway_file = dir.path() / "gateway.port";
  // Errors only, except the gateway (its access lines are info).
  auto daemon = SvckitdProcess::start(
      dir.path(), {"--log-format", "json", "--log-level", "error,gateway=info", "--gateway-port", "0", "--set",
                   "gateway.port_file=" + gateway_file.string(), "--set", "gateway.access_log=true"});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(wait_until([&] { return read_file(gateway_file).find('\n') != std::string::npos; }, 10s));
  const int gateway = std::atoi(read_file(gateway_file).c_str());
  EXPECT_EQ(http_call(gateway, "GET", "/nobody/x").status, 503);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("web", 9001)).status, 200);
  daemon->process.stop(SIGTERM);
  std::istringstream lines(read_file(dir.path() / "svckitd.log"));
  std::map<std::string, int> by_component;
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("svckitd ", 0) == 0) continue;
    const auto j = nlohmann::json::parse(line, nullptr, false);
    ASSERT_TRUE(j.is_object()) << line;
    ++by_component[j.value("component", "") + "/" + j.value("level", "")];
  }
  EXPECT_GE(by_component["gateway/info"], 1) << "the access line";
  EXPECT_EQ(by_component["svckitd/info"], 0) << "svckitd's info lines are below its level (error)";

  // A bad spec is refused at start, naming the setting.
  auto bad =
      ChildProcess::spawn({SVCKITD_BIN, "--port", "0", "--log-level", "info,gateway=loud"}, dir.path() / "bad.log");
  ASSERT_TRUE(bad);
  const int status = bad->wait_exit(std::chrono::seconds(10));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status;
  EXPECT_NE(read_file(dir.path() / "bad.log").find("log_level"), std::string::npos)
      << read_file(dir.path() / "bad.log");
}

}  // namespace
}  // namespace svckit::testing
