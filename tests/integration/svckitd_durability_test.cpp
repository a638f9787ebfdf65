// svckitd acknowledges a persistent write (a registration without TTL, a config change) only once
// it is on disk: SIGKILLed at random points under a stream of writes, it restarts with every
// acknowledged one; with storage failing it answers 503, says so on /healthz and in a metric, and
// exits non-zero when its final write fails.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <csignal>
#include <mutex>
#include <random>
#include <set>
#include <thread>

#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

std::string persistent(const std::string& id, int port) {
  return R"({"service":"keep","id":")" + id + R"(","host":"127.0.0.1","port":)" + std::to_string(port) + "}";
}

TEST(SvckitdDurability, AcknowledgedWritesSurviveKillNineAtRandomPoints) {
  TempDir dir;
  const auto snapshot = (dir.path() / "registry.json").string();
  std::mt19937 random(20261205);  // fixed seed: the same kill points every run
  std::set<std::string> acknowledged;
  std::set<std::string> config_acknowledged;
  int next = 0;
  for (int cycle = 0; cycle < 4; ++cycle) {
    auto daemon = SvckitdProcess::start(dir.path(), {"--snapshot-file", snapshot});
    ASSERT_NE(daemon, nullptr);
    // Everything acknowledged so far is there after the restart.
    const auto listed = daemon->json("GET", "/v1/services/keep/instances");
    std::set<std::string> present;
    for (const auto& in : listed.value("instances", nlohmann::json::array()))
      present.insert(in["id"].get<std::string>());
    for (const auto& id : acknowledged) ASSERT_EQ(present.count(id), 1u) << "cycle " << cycle << ": lost " << id;
    const auto config = daemon->json("GET", "/v1/config");
    for (const auto& key : config_acknowledged) {
      ASSERT_TRUE(config.contains("crash") && config["crash"].contains(key)) << "cycle " << cycle << ": lost " << key;
    }
    // Four writers register as fast as they can; the daemon is killed after a random number of
    // acknowledgements, mid-stream.
    const int kill_after = std::uniform_int_distribution<int>(50, 400)(random);
    std::mutex mutex;
    std::atomic<int> acks{0};
    std::vector<std::thread> writers;
    for (int w = 0; w < 4; ++w) {
      writers.emplace_back([&, w] {
        for (int i = 0; i < 2000; ++i) {
          std::string id;
          {
            std::lock_guard lock(mutex);
            id = "i" + std::to_string(next++);
          }
          const bool config_write = w == 3 && i % 4 == 0;
          const auto answer = config_write ? daemon->call("PUT", "/v1/config/keys/crash." + id, "1")
                                           : daemon->call("POST", "/v1/instances", persistent(id, 1000 + i));
          if (answer.status == 0) return;  // the daemon is gone
          if (answer.status != 200) continue;
          std::lock_guard lock(mutex);
          (config_write ? config_acknowledged : acknowledged).insert(id);
          ++acks;
        }
      });
    }
    ASSERT_TRUE(wait_until([&] { return acks.load() >= kill_after; }, 60s));
    ::kill(daemon->process.pid(), SIGKILL);
    for (auto& t : writers) t.join();
    (void)daemon->process.wait_exit(10s);
  }
  EXPECT_GT(acknowledged.size(), 200u);
  EXPECT_GT(config_acknowledged.size(), 10u);
}

TEST(SvckitdDurability, AWriteThatCannotBeStoredIs503AndHealthzAndTheMetricSaySo) {
  TempDir dir;
  const auto folder = dir.path() / "state";
  std::filesystem::create_directories(folder);
  const auto snapshot = (folder / "registry.json").string();
  auto daemon = SvckitdProcess::start(dir.path(), {"--snapshot-file", snapshot});
  ASSERT_NE(daemon, nullptr);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", persistent("a", 1)).status, 200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("ttl", 2, R"(,"ttl":"30s")")).status, 200);

  std::filesystem::remove_all(folder);  // the disk "goes away" (chmod does not stop root)
  auto refused = daemon->call("POST", "/v1/instances", persistent("b", 3));
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("not acknowledged"), std::string::npos) << refused.body;
  auto health = daemon->call("GET", "/healthz");
  EXPECT_EQ(health.status, 503) << health.body;
  EXPECT_NE(health.body.find("storage"), std::string::npos) << health.body;
  EXPECT_NE(daemon->call("GET", "/metrics").body.find("svckit_persist_healthy 0"), std::string::npos);
  const auto version = daemon->call("GET", "/v1/config").header("X-Svckit-Config-Version");
  EXPECT_EQ(daemon->call("PUT", "/v1/config/keys/a", "1").status, 503);
  EXPECT_EQ(daemon->call("GET", "/v1/config").header("X-Svckit-Config-Version"), version)
      << "a config change that cannot be stored is not applied";
  EXPECT_EQ(daemon->call("PUT", "/v1/services/ttl/instances/127.0.0.1:2/heartbeat").status, 200)
      << "TTL instances live in memory only: their heartbeats need no disk";
  // Once the failure is known, a persistent write is refused before it is applied.
  auto not_applied = daemon->call("POST", "/v1/instances", persistent("e", 6));
  EXPECT_EQ(not_applied.status, 503) << not_applied.body;
  EXPECT_NE(not_applied.body.find("nothing was changed"), std::string::npos) << not_applied.body;
  EXPECT_NE(not_applied.body.find("snapshot_file"), std::string::npos) << not_applied.body;
  EXPECT_EQ(daemon->call("GET", "/v1/services/keep/instances/e").status, 404);
  EXPECT_EQ(daemon->call("DELETE", "/v1/services/keep/instances/a").status, 503);
  EXPECT_EQ(daemon->call("GET", "/v1/services/keep/instances/a").status, 200) << "a refused deregistration";
  auto consul = daemon->call("PUT", "/v1/agent/service/register", R"({"Name":"keep","ID":"f","Port":7})");
  EXPECT_EQ(consul.status, 503) << consul.body;
  EXPECT_EQ(daemon->call("GET", "/v1/services/keep/instances/f").status, 404);
  EXPECT_EQ(daemon->call("POST", "/v1/instances", instance_body("ttl", 8, R"(,"ttl":"30s")")).status, 200)
      << "a TTL registration needs no disk";

  std::filesystem::create_directories(folder);  // back again: the next write stores everything
  EXPECT_EQ(daemon->call("POST", "/v1/instances", persistent("c", 4)).status, 200);
  EXPECT_EQ(daemon->call("GET", "/healthz").status, 200);
  EXPECT_NE(daemon->call("GET", "/metrics").body.find("svckit_persist_healthy 1"), std::string::npos);

  ASSERT_EQ(daemon->call("POST", "/v1/instances", persistent("d", 5)).status, 200);
  std::filesystem::remove_all(folder);
  (void)daemon->call("DELETE", "/v1/services/keep/instances/d");  // a change the final write must store
  const int status = daemon->process.stop(SIGTERM);
  ASSERT_TRUE(WIFEXITED(status)) << status;
  EXPECT_EQ(WEXITSTATUS(status), 1) << "the final write failed: exit non-zero";
}

}  // namespace
}  // namespace svckit::testing
