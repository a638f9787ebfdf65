// Several real processes sharing one svckitd: the CLI registers, another process discovers; a
// registered process killed with SIGKILL expires; a restart with a snapshot keeps persistent
// registrations; SIGTERM drains gracefully.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <fstream>

#include "cli_process.hpp"
#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

TEST(Processes, CliRegistersAnotherProcessDiscoversAndWatches) {
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path());
  ASSERT_NE(daemon, nullptr);
  const std::string reg = daemon->url();

  // A watcher process, started first, must see the registration.
  const auto watch_out = dir.path() / "watch.out";
  auto watcher =
      ChildProcess::spawn({cli_binary(), "--registry", reg, "watch", "product", "--count", "1", "--json"}, watch_out);
  ASSERT_TRUE(watcher.ok());
  ASSERT_TRUE(wait_until(
      [&] { return daemon->call("GET", "/metrics").body.find("svckit_watchers_active 2") != std::string::npos; },
      10s));  // + the health follower

  auto r = run_cli(dir.path(), {"--registry", reg, "register", "-s", "product", "--host", "127.0.0.1", "-p", "8081",
                                "--tag", "v2", "--meta", "version=1.4", "--ttl", "30s"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("registered product/127.0.0.1:8081"), std::string::npos);

  const int watch_status = watcher->wait_exit(10s);
  ASSERT_TRUE(WIFEXITED(watch_status) && WEXITSTATUS(watch_status) == 0);
  auto event = nlohmann::json::parse(read_file(watch_out));
  EXPECT_EQ(event["type"], "registered");
  EXPECT_EQ(event["instance"]["metadata"]["version"], "1.4");

  auto listed = run_cli(dir.path(), {"--registry", reg, "instances", "product", "--tag", "v2", "--json"});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  auto instances = nlohmann::json::parse(listed.output);
  ASSERT_EQ(instances.size(), 1u);
  EXPECT_EQ(instances[0]["ttl"], "30s");

  auto table = run_cli(dir.path(), {"--registry", reg, "services"});
  EXPECT_NE(table.output.find("product  1          1"), std::string::npos) << table.output;

  // heartbeat and deregister (before: both aborted with free(): invalid pointer, exit 134).
  auto beat = run_cli(dir.path(), {"--registry", reg, "heartbeat", "product", "127.0.0.1:8081"});
  EXPECT_EQ(beat.exit_code, 0) << beat.output;
  EXPECT_NE(beat.output.find("heartbeat product/127.0.0.1:8081: ok"), std::string::npos) << beat.output;
  auto gone = run_cli(dir.path(), {"--registry", reg, "heartbeat", "product", "nope"});
  EXPECT_EQ(gone.exit_code, 3) << gone.output;
  EXPECT_NE(gone.output.find("nope"), std::string::npos) << "names what was not found: " << gone.output;
  auto removed = run_cli(dir.path(), {"--registry", reg, "deregister", "product", "127.0.0.1:8081"});
  EXPECT_EQ(removed.exit_code, 0) << removed.output;
  EXPECT_EQ(run_cli(dir.path(), {"--registry", reg, "deregister", "product", "127.0.0.1:8081"}).exit_code, 3);
  ASSERT_EQ(run_cli(dir.path(), {"--registry", reg, "register", "-s", "product", "--host", "127.0.0.1", "-p", "8081",
                                 "--ttl", "30s"})
                .exit_code,
            0);

  // Exit codes scripts rely on.
  EXPECT_EQ(run_cli(dir.path(), {"--registry", reg, "get", "product", "nope"}).exit_code, 3);
  EXPECT_EQ(run_cli(dir.path(), {"--registry", reg, "status", "product", "127.0.0.1:8081", "asleep"}).exit_code, 2);
  EXPECT_EQ(run_cli(dir.path(), {"--registry", reg, "register", "-s", "x", "--host", "h", "-p", "0"}).exit_code, 2);
  EXPECT_EQ(run_cli(dir.path(), {"--registry", "svckitd://127.0.0.1:1", "services"}).exit_code, 4);
  EXPECT_EQ(run_cli(dir.path(), {"--registry", "nope://", "services"}).exit_code, 2);
}

TEST(Processes, KilledInstanceExpiresWithinTtlPlusOneSweep) {
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path(), {"--sweep-interval", "200ms", "--expiry-grace", "60s"});
  ASSERT_NE(daemon, nullptr);
  int service_port = 0;
  auto service = start_listening_binary(
      {DEMO_SERVICE_BIN, "--name", "victim", "--registry", daemon->url(), "--ttl", "1s", "--call-every", "0s"},
      dir.path(), service_port);
  ASSERT_TRUE(service.ok()) << service.error().message;
  const std::string path = "/v1/services/victim/instances/127.0.0.1:" + std::to_string(service_port);
  ASSERT_EQ(daemon->json("GET", path)["status"], "healthy");

  // Heartbeats (every ttl/3) keep it alive well past its TTL.
  const auto alive_until = std::chrono::steady_clock::now() + 2500ms;
  EXPECT_FALSE(wait_until([&] { return daemon->json("GET", path)["status"] != "healthy"; }, 2500ms));
  ASSERT_GE(std::chrono::steady_clock::now(), alive_until);

  const auto killed_at = std::chrono::steady_clock::now();
  service->stop(SIGKILL);
  ASSERT_TRUE(wait_until([&] { return daemon->json("GET", path)["status"] == "down"; }, 10s));
  const auto took = std::chrono::steady_clock::now() - killed_at;
  // TTL (1s) + one sweep (200ms) + HTTP polling slack.
  EXPECT_LT(took, 1200ms + 500ms) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << "ms";
  // The counter is bumped just after the sweep that marked it down: wait for it, do not race it.
  EXPECT_TRUE(wait_until(
      [&] { return daemon->call("GET", "/metrics").body.find("svckit_expirations_total 1\n") != std::string::npos; },
      5s));
}

TEST(Processes, SnapshotKeepsPersistentRegistrationsAcrossRestart) {
  TempDir dir;
  const auto snapshot = (dir.path() / "registry.json").string();
  auto daemon = SvckitdProcess::start(dir.path(), {"--snapshot-file", snapshot});
  ASSERT_NE(daemon, nullptr);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("db", 5432, R"(,"tags":["primary"])")).status, 200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("web", 8080, R"(,"ttl":"30s")")).status, 200);
  const int status = daemon->process.stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "graceful exit";

  auto again = SvckitdProcess::start(dir.path(), {"--snapshot-file", snapshot});
  ASSERT_NE(again, nullptr);
  auto db = again->json("GET", "/v1/services/db/instances");
  ASSERT_EQ(db["instances"].size(), 1u);
  EXPECT_EQ(db["instances"][0]["tags"][0], "primary");
  EXPECT_EQ(again->json("GET", "/v1/services/web/instances")["instances"].size(), 0u)
      << "TTL registrations are not persistent: their owners re-register on the next heartbeat";

  // A watcher holding an index from before the restart gets a full snapshot, not a silent gap.
  auto w = again->json("GET", "/v1/watch?index=2&wait=1s");
  EXPECT_TRUE(w["reset"].get<bool>());
}

TEST(Processes, DamagedSnapshotRefusesToStartWithClearError) {
  TempDir dir;
  const auto snapshot = dir.path() / "registry.json";
  std::ofstream(snapshot) << R"({"format":1,"index":3,"instances":[{"service":"a","host":"h","port":99999}]})";
  auto child =
      ChildProcess::spawn({SVCKITD_BIN, "--port", "0", "--snapshot-file", snapshot.string()}, dir.path() / "out.log");
  ASSERT_TRUE(child.ok());
  const int status = child->wait_exit(10s);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(read_file(dir.path() / "out.log").find("port"), std::string::npos);
}

TEST(Processes, SigtermReleasesWatchersAndExitsCleanly) {
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path());
  ASSERT_NE(daemon, nullptr);
  HttpAnswer answer;
  std::thread watcher([&] { answer = daemon->call("GET", "/v1/watch?index=1&wait=60s"); });
  ASSERT_TRUE(wait_until(
      [&] { return daemon->call("GET", "/metrics").body.find("svckit_watchers_active 2") != std::string::npos; },
      10s));  // + the health follower
  const auto start = std::chrono::steady_clock::now();
  const int status = daemon->process.stop(SIGTERM, 10s);
  watcher.join();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(answer.status, 200) << "the pending long poll was answered, not cut";
}

TEST(Processes, BadConfigNamesTheSetting) {
  TempDir dir;
  const auto config = dir.path() / "svckitd.yaml";
  std::ofstream(config) << "listen: 127.0.0.1:0\nlimits:\n  max_watchers: many\n";
  auto child = ChildProcess::spawn({SVCKITD_BIN, "--config", config.string()}, dir.path() / "out.log");
  ASSERT_TRUE(child.ok());
  const int status = child->wait_exit(10s);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(read_file(dir.path() / "out.log").find("limits.max_watchers"), std::string::npos)
      << read_file(dir.path() / "out.log");
}

}  // namespace
}  // namespace svckit::testing
