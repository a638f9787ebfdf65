// The CLI's debugging commands against a real svckitd and real upstreams: `svckit call` (through
// discovery, with retries, attempts printed), `svckit health` (svckitd's checks, --probe),
// `svckit metrics` (svckitd's /metrics as tables) and `svckit ping` (a URL, a service's instances).
#include <gtest/gtest.h>

#include "cli_process.hpp"
#include "svckit/testing/fault_server.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class CliDebug : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto port_file = dir.path() / "gateway.port";
    daemon =
        SvckitdProcess::start(dir.path(), {"--gateway-port", "0", "--set", "gateway.port_file=" + port_file.string()});
    ASSERT_NE(daemon, nullptr);
    ASSERT_TRUE(wait_until([&] { return read_file(port_file).find('\n') != std::string::npos; }, 10s));
    gateway = std::atoi(read_file(port_file).c_str());
    ASSERT_GT(gateway, 0);
  }
  void TearDown() override { io.stop(); }

  CliResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--registry", daemon->url()});
    return run_cli(dir.path(), std::move(args));
  }
  /// The JSON line a --json command printed last (log lines, if any, come before it).
  static json last_json(const CliResult& r) {
    auto text = r.output;
    while (!text.empty() && text.back() == '\n') text.pop_back();
    const auto nl = text.rfind('\n');
    return json::parse(nl == std::string::npos ? text : text.substr(nl + 1), nullptr, false);
  }
  void add(const std::string& service, int port, const std::string& id, const std::string& extra = {}) {
    const auto body = instance_body(service, port, R"(,"id":")" + id + "\"" + extra);
    ASSERT_EQ(daemon->call("POST", "/v1/instances", body).status, 200) << body;
  }

  TempDir dir;
  IoThread io;
  std::unique_ptr<SvckitdProcess> daemon;
  int gateway = 0;
};

TEST_F(CliDebug, CallFindsTheServiceRetriesElsewhereAndPrintsEveryAttempt) {
  FaultServer good(io.io(), "good");
  FaultServer failing(io.io(), "failing");
  failing.answer_status(503);
  add("shop", good.port(), "good");
  add("shop", failing.port(), "failing");

  // Whichever instance the balancer tries first, the call ends at the good one: a 503 there is
  // retried on the other instance, and the trace shows exactly that.
  for (int i = 0; i < 6; ++i) {
    const auto r = cli({"call", "shop", "/items/1?x=1", "-H", "X-Test: yes", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto answer = last_json(r);
    EXPECT_EQ(answer["status"], 200) << r.output;
    EXPECT_EQ(answer["body"]["server"], "good");
    EXPECT_EQ(answer["instance"], "good");
    const auto& attempts = answer["attempts"];
    ASSERT_GE(attempts.size(), 1U) << r.output;
    ASSERT_LE(attempts.size(), 2U) << r.output;
    EXPECT_EQ(attempts.back()["instance"], "good");
    EXPECT_EQ(attempts.back()["status"], 200);
    if (attempts.size() == 2) {
      EXPECT_EQ(attempts[0]["instance"], "failing");
      EXPECT_EQ(attempts[0]["status"], 503);
    }
  }
  EXPECT_EQ(good.last_header("x-test"), "yes");
  EXPECT_EQ(good.last_target(), "/items/1?x=1");

  // Only a failing instance: three attempts (the client's default), the 503 answer printed, exit 6.
  add("down", failing.port(), "only");
  const auto before = failing.hits();
  auto r = cli({"call", "down", "/x"});
  EXPECT_EQ(r.exit_code, 6) << r.output;
  EXPECT_EQ(failing.hits() - before, 3);
  EXPECT_NE(r.output.find("* attempt 3: GET 127.0.0.1:" + std::to_string(failing.port()) + "/x (instance only) -> 503"),
            std::string::npos)
      << r.output;
  // POST is not retried unless the caller says it may be; --attempts caps the attempts.
  r = cli({"call", "down", "/x", "-X", "POST", "-d", R"({"a":1})", "--json"});
  EXPECT_EQ(r.exit_code, 6) << r.output;
  EXPECT_EQ(last_json(r)["attempts"].size(), 1U) << r.output;
  r = cli({"call", "down", "/x", "-X", "post", "-d", R"({"a":1})", "--idempotent", "--json"});
  EXPECT_EQ(last_json(r)["attempts"].size(), 3U) << r.output;
  r = cli({"call", "down", "/x", "--attempts", "2", "--json"});
  EXPECT_EQ(last_json(r)["attempts"].size(), 2U) << r.output;
  // -i prints the answer's head; the body follows.
  r = cli({"call", "shop", "/y", "-i", "-q"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("HTTP/1.1 200 OK"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(R"("server":"good")"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("* attempt"), std::string::npos) << "-q prints no attempts: " << r.output;

  // Bad input names the field (exit 2); an unknown service is not found (exit 3).
  const std::pair<std::vector<std::string>, std::string> bad[] = {
      {{"call", "shop", "items"}, "[path]"},
      {{"call", "shop", "/x", "-X", "FETCH"}, "[method]"},
      {{"call", "shop", "/x", "-H", "NoColon"}, "[header]"},
      {{"call", "shop", "/x", "--timeout", "soon"}, "[timeout]"},
      {{"call", "shop", "/x", "--attempts", "11"}, "[attempts]"},
      {{"call", "shop", "/x", "-d", "@/no/such/file"}, "[data]"},
      {{"call", "bad name", "/x"}, "[service]"},
  };
  for (const auto& [args, field] : bad) {
    const auto answer = cli(args);
    EXPECT_EQ(answer.exit_code, 2) << answer.output;
    EXPECT_NE(answer.output.find(field), std::string::npos) << answer.output;
  }
  r = cli({"call", "nothing-here", "/x"});
  EXPECT_EQ(r.exit_code, 3) << r.output;
}

TEST_F(CliDebug, HealthShowsTheChecksAndProbesEachInstance) {
  FaultServer up(io.io(), "up");
  const int dead_port = free_port();
  add("web", up.port(), "up",
      R"(,"status":"starting","checks":[{"type":"http","path":"/health","interval":"100ms","timeout":"100ms"}])");
  add("web", dead_port, "dead");  // no checks: listed healthy by the registry, nothing answers there
  ASSERT_TRUE(wait_until(
      [&] { return daemon->json("GET", "/v1/services/web/instances/up").value("status", "") == "healthy"; }, 10s));

  auto r = cli({"health", "web", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto answer = last_json(r);
  ASSERT_EQ(answer["instances"].size(), 2U) << r.output;
  for (const auto& in : answer["instances"]) {
    if (in["id"] == "up") {
      EXPECT_EQ(in["checks"]["state"], "healthy") << in.dump();
      EXPECT_NE(in["checks"]["last"].get<std::string>().find("http ok"), std::string::npos) << in.dump();
    } else {
      EXPECT_FALSE(in.contains("checks")) << "svckitd runs no check of it: " << in.dump();
      EXPECT_EQ(in["status"], "healthy");
    }
  }
  // A probe from here tells the dead one apart.
  r = cli({"health", "web", "--probe", "--timeout", "2s", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  answer = last_json(r);
  EXPECT_EQ(answer["healthy"], 1) << r.output;
  for (const auto& in : answer["instances"]) EXPECT_EQ(in["probe"]["ok"], in["id"] == "up") << in.dump();
  EXPECT_EQ(up.last_target(), "/health");

  r = cli({"health", "web", "dead", "--probe"});
  EXPECT_EQ(r.exit_code, 1) << "no healthy instance: " << r.output;
  EXPECT_NE(r.output.find("0 of 1 instances healthy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("PROBE"), std::string::npos) << r.output;
  EXPECT_EQ(cli({"health", "web", "nobody"}).exit_code, 3);
  EXPECT_EQ(cli({"health", "nothing-here"}).exit_code, 3);
  EXPECT_EQ(cli({"health", "web", "--probe", "--timeout", "x"}).exit_code, 2);
}

TEST_F(CliDebug, MetricsShowsTheGatewayAndClientFiguresPerService) {
  FaultServer up(io.io(), "up");
  FaultServer broken(io.io(), "broken");
  broken.answer_status(500);
  add("api", up.port(), "a1");
  add("bad", broken.port(), "b1");
  ASSERT_TRUE(daemon->wait_discovered("api", 1));
  ASSERT_TRUE(daemon->wait_discovered("bad", 1));
  for (int i = 0; i < 20; ++i) ASSERT_EQ(http_call(gateway, "GET", "/api/x").status, 200);
  for (int i = 0; i < 4; ++i) ASSERT_EQ(http_call(gateway, "GET", "/bad/x").status, 500);

  auto r = cli({"metrics", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto figures = last_json(r);
  EXPECT_EQ(figures["gateway"]["api"]["requests"], 20) << r.output;
  EXPECT_EQ(figures["gateway"]["api"]["2xx"], 20);
  EXPECT_EQ(figures["gateway"]["bad"]["5xx"], 4);
  EXPECT_GT(figures["gateway"]["api"]["p99_ms"].get<double>(), 0);
  EXPECT_GE(figures["gateway"]["api"]["p99_ms"].get<double>(), figures["gateway"]["api"]["p50_ms"].get<double>());
  EXPECT_EQ(figures["client"]["api"]["calls"], 20);
  EXPECT_EQ(figures["client"]["api"]["failed"], 0);
  EXPECT_GT(figures["client"]["bad"]["failed"].get<int>(), 0);

  r = cli({"metrics", "--service", "bad"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("5XX %"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("100.0"), std::string::npos) << "every request of bad failed: " << r.output;
  EXPECT_EQ(r.output.find("api "), std::string::npos) << "only the service asked for: " << r.output;

  // Any /metrics page by URL; a page that is not Prometheus text is refused, naming the line.
  r = cli({"metrics", "--url", "http://127.0.0.1:" + std::to_string(daemon->port) + "/metrics", "--json"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  r = cli({"metrics", "--url", up.url() + "/"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("[line 1]"), std::string::npos) << r.output;
  EXPECT_EQ(cli({"metrics", "--url", "ftp://x"}).exit_code, 2);
}

TEST_F(CliDebug, PingTimesAUrlAndEachInstanceOfAService) {
  FaultServer up(io.io(), "up");
  auto r = cli({"ping", up.url() + "/ping", "-c", "3", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto rows = last_json(r);
  ASSERT_EQ(rows.size(), 3U) << r.output;
  for (const auto& row : rows) {
    EXPECT_EQ(row["status"], 200) << row.dump();
    EXPECT_LE(row["dns_ms"].get<double>(), row["connect_ms"].get<double>());
    EXPECT_LE(row["connect_ms"].get<double>(), row["first_byte_ms"].get<double>());
    EXPECT_LE(row["first_byte_ms"].get<double>(), row["total_ms"].get<double>());
    EXPECT_TRUE(row["tls_ms"].is_null()) << "plain http";
    EXPECT_GT(row["bytes"].get<int>(), 0);
  }
  EXPECT_EQ(up.last_target(), "/ping");

  // A service: each instance at its health path; one that does not answer fails the command (4).
  const int dead_port = free_port();
  add("web", up.port(), "up", R"(,"health_check_path":"/healthz")");
  add("web", dead_port, "dead");
  r = cli({"ping", "web", "--json"});
  EXPECT_EQ(r.exit_code, 4) << r.output;
  rows = last_json(r);
  ASSERT_EQ(rows.size(), 2U) << r.output;
  for (const auto& row : rows) {
    if (row["target"].get<std::string>().starts_with("up")) {
      EXPECT_EQ(row["status"], 200) << row.dump();
    } else {
      EXPECT_NE(row["error"].get<std::string>().find("connect: "), std::string::npos) << row.dump();
    }
  }
  EXPECT_EQ(up.last_target(), "/healthz");
  r = cli({"ping", "web"});
  EXPECT_NE(r.output.find("FIRST BYTE MS"), std::string::npos) << r.output;

  // A server that never answers: the ping ends at its timeout, naming the stage.
  up.hang(true);
  r = cli({"ping", up.url() + "/", "--timeout", "300ms", "--json"});
  EXPECT_EQ(r.exit_code, 4) << r.output;
  EXPECT_NE(last_json(r)[0]["error"].get<std::string>().find("http: timed out after 300 ms"), std::string::npos)
      << r.output;
  up.hang(false);

  EXPECT_EQ(cli({"ping", "http://"}).exit_code, 2);
  EXPECT_EQ(cli({"ping", up.url(), "-c", "0"}).exit_code, 2);
  EXPECT_EQ(cli({"ping", "nothing-here"}).exit_code, 3);
}

}  // namespace
}  // namespace svckit::testing
