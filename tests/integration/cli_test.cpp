// Every `svckit` subcommand and every documented exit code (0 ok, 1 other failure, 2 bad usage or
// input, 3 not found, 4 unavailable) against a real svckitd. scripts/check-clang-fuzz runs this
// suite again with the ASan build of the CLI (SVCKIT_CLI).
#include <gtest/gtest.h>

#include "cli_process.hpp"
#include "svckit/testing/fault_server.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon = SvckitdProcess::start(dir.path(), {"--set", "limits.max_instances_per_service=3"});
    ASSERT_NE(daemon, nullptr);
  }
  /// Runs `svckit --registry <daemon> args...`.
  CliResult cli(std::vector<std::string> args) const {
    args.insert(args.begin(), {"--registry", daemon->url()});
    return run_cli(dir.path(), std::move(args));
  }
  json cli_json(std::vector<std::string> args) const {
    args.emplace_back("--json");
    const auto r = cli(std::move(args));
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return json::parse(r.output, nullptr, false);
  }
  std::string status_of(const std::string& service, const std::string& id) const {
    return daemon->json("GET", "/v1/services/" + service + "/instances/" + id).value("status", "");
  }

  TempDir dir;
  IoThread io;
  std::unique_ptr<SvckitdProcess> daemon;
};

TEST_F(Cli, RegisterWithEveryOptionThenGetInstancesAndServicesShowIt) {
  auto r = cli({"register", "-s",       "api",    "--host",   "127.0.0.1",   "-p",     "8081",  "--id",
                "api-1",    "--scheme", "https",  "--weight", "250",         "--zone", "eu-1a", "--tag",
                "v2",       "--tag",    "canary", "--meta",   "version=1.4", "--ttl",  "30s"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("registered api/api-1 at https://127.0.0.1:8081"), std::string::npos) << r.output;

  const auto one = cli_json({"get", "api", "api-1"});
  EXPECT_EQ(one["scheme"], "https");
  EXPECT_EQ(one["weight"], 250);
  EXPECT_EQ(one["zone"], "eu-1a");
  EXPECT_EQ(one["tags"], json({"canary", "v2"}));
  EXPECT_EQ(one["metadata"]["version"], "1.4");
  EXPECT_EQ(one["ttl"], "30s");
  EXPECT_EQ(one["status"], "healthy");
  const auto table = cli({"get", "api", "api-1"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.output.find("https://127.0.0.1:8081"), std::string::npos) << table.output;

  ASSERT_EQ(cli({"register", "-s", "api", "--host", "127.0.0.1", "-p", "8082", "--zone", "eu-1b", "--tag", "v1",
                 "--meta", "version=1.3", "--status", "starting"})
                .exit_code,
            0);
  EXPECT_EQ(cli_json({"instances", "api"}).size(), 2u);
  EXPECT_EQ(cli_json({"instances", "api", "--tag", "v2"})[0]["id"], "api-1");
  EXPECT_EQ(cli_json({"instances", "api", "--zone", "eu-1b"})[0]["id"], "127.0.0.1:8082");
  EXPECT_EQ(cli_json({"instances", "api", "--meta", "version=1.3"})[0]["id"], "127.0.0.1:8082");
  EXPECT_EQ(cli_json({"instances", "api", "--status", "starting"}).size(), 1u);
  EXPECT_TRUE(cli_json({"instances", "api", "--tag", "v2", "--zone", "eu-1b"}).empty()) << "filters combine";
  const auto listing = cli({"instances", "api"});
  EXPECT_NE(listing.output.find("STATUS"), std::string::npos) << listing.output;

  const auto services = cli_json({"services"});
  ASSERT_EQ(services.size(), 1u) << services.dump();
  EXPECT_EQ(services[0]["name"], "api");
  EXPECT_EQ(services[0]["instances"], 2);
  EXPECT_EQ(services[0]["healthy"], 1);
  EXPECT_NE(cli({"services"}).output.find("api"), std::string::npos);
}

TEST_F(Cli, CheckPathCreatesARealHttpCheckThatDecidesTheStatus) {
  FaultServer up(io.io(), "up");
  const auto port = std::to_string(up.port());
  auto r = cli({"register", "-s", "web", "--host", "127.0.0.1", "-p", port, "--id", "up", "--check-path", "/health",
                "--check-interval", "50ms"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto record = daemon->json("GET", "/v1/services/web/instances/up");
  ASSERT_EQ(record["checks"].size(), 1u) << record.dump();
  EXPECT_EQ(record["checks"][0]["type"], "http");
  EXPECT_EQ(record["checks"][0]["path"], "/health");
  EXPECT_TRUE(wait_until([&] { return status_of("web", "up") == "healthy"; }, 10s));
  EXPECT_EQ(up.last_target(), "/health");

  // Nothing listens there: the check fails and the instance never counts as healthy.
  int dead_port = free_port();
  const auto dead = cli_json({"register", "-s", "web", "--host", "127.0.0.1", "-p", std::to_string(dead_port), "--id",
                              "dead", "--check-path", "/health", "--check-interval", "1s"});
  EXPECT_EQ(dead["status"], "starting") << "registered out of rotation until a check passes";
  EXPECT_TRUE(wait_until([&] { return status_of("web", "dead") == "unhealthy"; }, 10s));

  const auto bad = cli({"register", "-s", "web", "--host", "127.0.0.1", "-p", "9", "--check-path", "/health",
                        "--check-interval", "soon"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("check-interval"), std::string::npos) << bad.output;
  EXPECT_EQ(cli({"register", "-s", "web", "--host", "127.0.0.1", "-p", "9", "--check-path", "health"}).exit_code, 2)
      << "a path must start with /";
}

TEST_F(Cli, StatusHeartbeatDeregisterAndTheirNotFoundCodes) {
  ASSERT_EQ(cli({"register", "-s", "job", "--host", "127.0.0.1", "-p", "9100", "--id", "j1", "--ttl", "30s"}).exit_code,
            0);
  auto s = cli({"status", "job", "j1", "maintenance"});
  EXPECT_EQ(s.exit_code, 0) << s.output;
  EXPECT_NE(s.output.find("job/j1 is now maintenance"), std::string::npos) << s.output;
  EXPECT_EQ(status_of("job", "j1"), "maintenance");
  EXPECT_EQ(cli_json({"status", "job", "j1", "healthy"})["status"], "healthy");
  EXPECT_EQ(cli_json({"heartbeat", "job", "j1"})["ok"], true);

  for (const auto* command : {"status", "heartbeat", "deregister", "get"}) {
    std::vector<std::string> args{command, "job", "nope"};
    if (std::string(command) == "status") args.emplace_back("healthy");
    const auto missing = cli(args);
    EXPECT_EQ(missing.exit_code, 3) << command << ": " << missing.output;
    EXPECT_NE(missing.output.find("nope"), std::string::npos) << command << " names what is missing";
  }
  EXPECT_EQ(cli({"status", "nosuch", "j1", "healthy"}).exit_code, 3);

  auto gone = cli({"deregister", "job", "j1"});
  EXPECT_EQ(gone.exit_code, 0) << gone.output;
  EXPECT_NE(gone.output.find("deregister job/j1: ok"), std::string::npos) << gone.output;
  EXPECT_EQ(cli({"deregister", "job", "j1"}).exit_code, 3);
  EXPECT_TRUE(cli_json({"instances", "job"}).empty());
}

TEST_F(Cli, WatchPrintsTheCurrentInstancesThenChangesAndStopsAtCountOrTimeout) {
  ASSERT_EQ(cli({"register", "-s", "feed", "--host", "127.0.0.1", "-p", "7001"}).exit_code, 0);
  const auto out = dir.path() / "watch.out";
  auto watcher =
      ChildProcess::spawn({cli_binary(), "--registry", daemon->url(), "watch", "feed", "--count", "3", "--json"}, out);
  ASSERT_TRUE(watcher.ok());
  ASSERT_TRUE(wait_until([&] { return !read_file(out).empty(); }, 10s)) << "the snapshot comes first";
  ASSERT_EQ(cli({"register", "-s", "feed", "--host", "127.0.0.1", "-p", "7002"}).exit_code, 0);
  ASSERT_EQ(cli({"deregister", "feed", "127.0.0.1:7001"}).exit_code, 0);
  const int status = watcher->wait_exit(10s);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(out);
  std::vector<std::string> types;
  std::istringstream lines(read_file(out));
  for (std::string line; std::getline(lines, line);) types.push_back(json::parse(line)["type"]);
  EXPECT_EQ(types, (std::vector<std::string>{"registered", "registered", "deregistered"}));

  // --timeout ends a quiet watch with 0; the table form names the event.
  const auto quiet = cli({"watch", "other", "--timeout", "200ms"});
  EXPECT_EQ(quiet.exit_code, 0) << quiet.output;
  EXPECT_TRUE(quiet.output.empty()) << quiet.output;
  const auto table = cli({"watch", "feed", "--count", "1"});
  EXPECT_EQ(table.exit_code, 0);
  EXPECT_NE(table.output.find("127.0.0.1:7002"), std::string::npos) << table.output;
  EXPECT_EQ(cli({"watch", "--timeout", "later"}).exit_code, 2);
}

TEST_F(Cli, ExitCodesForUsageInputLimitsProtocolAndUnavailable) {
  struct Case {
    std::vector<std::string> args;
    int code;
    const char* names;  // the message must name this
  };
  const std::vector<Case> usage = {
      {{"register", "-s", "x", "--host", "h"}, 2, "--port"},              // a required option is missing
      {{"bogus"}, 2, "subcommand"},                                       // no such command
      {{"register", "-s", "x", "--host", "h", "-p", "http"}, 2, "port"},  // not a number
      {{"register", "-s", "x", "--host", "h", "-p", "0"}, 2, "port"},
      {{"register", "-s", "x", "--host", "h", "-p", "1", "--ttl", "1y"}, 2, "ttl"},
      {{"register", "-s", "x", "--host", "h", "-p", "1", "--meta", "novalue"}, 2, "meta"},
      {{"register", "-s", "x", "--host", "h", "-p", "1", "--status", "asleep"}, 2, "status"},
      {{"register", "-s", "x", "--host", "h", "-p", "1", "--weight", "20000"}, 2, "weight"},
      {{"instances", "x", "--status", "asleep"}, 2, "status"},
      {{"status", "x", "y", "asleep"}, 2, "status"},
  };
  for (const auto& c : usage) {
    const auto r = cli(c.args);
    EXPECT_EQ(r.exit_code, c.code) << c.args[0] << ": " << r.output;
    EXPECT_NE(r.output.find(c.names), std::string::npos) << "must name " << c.names << ": " << r.output;
  }
  EXPECT_EQ(run_cli(dir.path(), {"--help"}).exit_code, 0);

  // 1: the registry refused for another reason (here svckitd's per-service instance limit).
  for (int port = 1; port <= 3; ++port) {
    ASSERT_EQ(cli({"register", "-s", "full", "--host", "127.0.0.1", "-p", std::to_string(port)}).exit_code, 0);
  }
  const auto full = cli({"register", "-s", "full", "--host", "127.0.0.1", "-p", "4"});
  EXPECT_EQ(full.exit_code, 1) << full.output;
  EXPECT_NE(full.output.find("svckit: "), std::string::npos) << full.output;

  // 1: something that is not svckitd answers.
  FaultServer impostor(io.io(), "impostor");
  const auto odd =
      run_cli(dir.path(), {"--registry", "svckitd://127.0.0.1:" + std::to_string(impostor.port()), "services"});
  EXPECT_EQ(odd.exit_code, 1) << odd.output;

  // 4: nothing listens.
  const auto down =
      run_cli(dir.path(), {"--registry", "svckitd://127.0.0.1:" + std::to_string(free_port()), "services"});
  EXPECT_EQ(down.exit_code, 4) << down.output;
  EXPECT_EQ(run_cli(dir.path(), {"--registry", "nope://", "services"}).exit_code, 2);

  // SVCKIT_REGISTRY is the default registry.
  auto env_child = ChildProcess::spawn({cli_binary(), "services", "--json"}, dir.path() / "env.out",
                                       {"SVCKIT_REGISTRY=" + daemon->url()});
  ASSERT_TRUE(env_child.ok());
  const int env_status = env_child->wait_exit(30s);
  EXPECT_TRUE(WIFEXITED(env_status) && WEXITSTATUS(env_status) == 0) << read_file(dir.path() / "env.out");
  EXPECT_NE(read_file(dir.path() / "env.out").find("\"full\""), std::string::npos);
}

}  // namespace
}  // namespace svckit::testing
