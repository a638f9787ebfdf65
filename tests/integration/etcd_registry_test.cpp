// What etcd:// adds beyond the conformance suite: a 3-node cluster on loopback survives the loss
// of its leader with no registration lost and a watcher resuming from its revision; a
// DiscoveryClient keeps routing while etcd is down entirely and converges after; URL options.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "svckit/discovery/discovery_client.hpp"
#include "svckit/http/client.hpp"
#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"
#include "test_instance.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

class EtcdRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegistryPlugins::Builder builder;
    register_builtin_plugins(builder);
    plugins = std::make_unique<RegistryPlugins>(std::move(builder).build());
  }
  void TearDown() override { io.stop(); }

  Result<std::unique_ptr<Registry>> open(const std::string& url) {
    return plugins->create(url, RegistryDeps{io.executor(), time, random});
  }
  static ServiceInstance instance(int port) { return test_instance("orders", port); }

  TempDir dir;
  RealTimeSource time;
  FakeRandom random;
  IoThread io;
  std::unique_ptr<RegistryPlugins> plugins;
};

TEST_F(EtcdRegistryTest, BadUrlOptionsAreRefusedNamingTheOption) {
  EXPECT_EQ(open("etcd://127.0.0.1:1?colour=blue").error().field, "colour");
  EXPECT_EQ(open("etcd://127.0.0.1:1?grace=later").error().field, "grace");
  EXPECT_EQ(open("etcd://127.0.0.1:1?prefix=no-slash").error().field, "prefix");
  EXPECT_EQ(open("etcd://127.0.0.1:1?user=root").error().field, "user") << "a user needs a password source";
  EXPECT_EQ(open("etcd://127.0.0.1:1?tls=maybe").error().field, "tls");
  EXPECT_TRUE(open("etcd://127.0.0.1:1,127.0.0.1:2?prefix=/team-a&grace=5s"));
}

TEST_F(EtcdRegistryTest, AThreeNodeClusterLosesItsLeaderAndNothingIsLost) {
  auto cluster = start_etcd_cluster(dir.path(), 3);
  ASSERT_TRUE(cluster) << cluster.error().message;
  const std::string url = "etcd://" + cluster->endpoints;
  auto made = open(url + "?timeout=2s");
  ASSERT_TRUE(made) << made.error().message;
  Registry& registry = **made;

  const auto start = io.run([&]() -> Awaitable<Result<WatchResult>> {
    co_return co_await registry.watch({"", 0, 0ms});
  });
  ASSERT_TRUE(start);
  // During an election a call may fail with `unavailable`: the caller retries, as a heartbeat would.
  const auto register_port = [&](int port) {
    return wait_until(
        [&] {
          return io
              .run([&]() -> Awaitable<Result<ServiceInstance>> {
                co_return co_await registry.register_instance(instance(port));
              })
              .ok();
        },
        30s);
  };
  for (int port = 9000; port < 9020; ++port) ASSERT_TRUE(register_port(port)) << port;

  // Find the leader and kill it.
  const auto leader = etcd_leader(*cluster);
  ASSERT_LT(leader, cluster->nodes.size()) << "no member says it leads";
  cluster->members[leader].stop(SIGKILL);
  for (int port = 9020; port < 9040; ++port) ASSERT_TRUE(register_port(port)) << port << " after the leader died";

  // The watcher resumes from its revision and sees each of the 40 registrations once.
  std::map<std::string, int> seen;
  std::uint64_t index = start->index;
  ASSERT_TRUE(wait_until(
      [&] {
        auto r = io.run([&]() -> Awaitable<Result<WatchResult>> {
          co_return co_await registry.watch({"", index, 1s});
        });
        if (!r) return false;
        EXPECT_FALSE(r->reset);
        for (const auto& e : r->events) ++seen[e.instance.id];
        index = r->index;
        return seen.size() == 40;
      },
      60s));
  for (const auto& [id, times] : seen) EXPECT_EQ(times, 1) << id;

  // The dead member comes back with its data and catches up.
  const auto& dead = cluster->nodes[leader];
  auto back = start_etcd_node(dead, dir.path());
  ASSERT_TRUE(back) << back.error().message;
  cluster->members[leader] = std::move(*back);
  ASSERT_TRUE(wait_until([&] { return etcd_answers(dead.client_port); }, 30s));
  auto only = open("etcd://127.0.0.1:" + std::to_string(dead.client_port));
  ASSERT_TRUE(only);
  ASSERT_TRUE(wait_until(
      [&] {
        auto list = io.run([&]() -> Awaitable<Result<std::vector<ServiceInstance>>> {
          co_return co_await (*only)->list("orders", {});
        });
        return list && list->size() == 40;
      },
      30s));
}

TEST_F(EtcdRegistryTest, DiscoveryKeepsRoutingWhileEtcdIsDownAndConvergesAfter) {
  const EtcdNode node{"solo", free_port(), free_port(), ""};
  auto server = start_etcd_node(node, dir.path());
  ASSERT_TRUE(server) << server.error().message;
  ASSERT_TRUE(wait_until([&] { return etcd_answers(node.client_port); }, 30s));
  const auto url = "etcd://127.0.0.1:" + std::to_string(node.client_port) + "?timeout=1s&grace=3s";
  auto made = open(url);
  ASSERT_TRUE(made) << made.error().message;
  auto registry = std::move(*made);
  auto writer = open(url);
  ASSERT_TRUE(writer);
  DiscoveryOptions options;
  options.watch_wait = 2s;
  options.retry_initial = 20ms;
  options.retry_max = 200ms;
  auto client = std::make_unique<DiscoveryClient>(io.executor(), *registry, random, options);
  io.run([&]() -> Awaitable<void> {
    client->start();
    EXPECT_TRUE(co_await client->wait_synced(5s));
    auto r = co_await client->register_self(test_instance("orders", 9100, 3s));
    EXPECT_TRUE(r.ok());
    auto other = co_await (*writer)->register_instance(test_instance("catalog", 7100));
    EXPECT_TRUE(other.ok());
  });
  ASSERT_TRUE(wait_until([&] { return client->discover("catalog").size() == 1; }, 5s));

  // etcd gone entirely: calls keep being routed to the last known instances.
  server->stop(SIGKILL);
  ASSERT_TRUE(wait_until([&] { return client->stats().watch_errors > 0; }, 10s));
  EXPECT_EQ(client->discover("catalog").size(), 1u) << "the last known instances keep being served";
  EXPECT_EQ(*client->service_url("catalog"), "http://127.0.0.1:7100");

  // Back with its data on the same port: the watch resumes from its revision and sees what
  // happens next; our own record is there (kept alive, or registered again by the heartbeat).
  auto back = start_etcd_node(node, dir.path());
  ASSERT_TRUE(back) << back.error().message;
  server = std::move(back);
  ASSERT_TRUE(wait_until([&] { return etcd_answers(node.client_port); }, 30s));
  ASSERT_TRUE(wait_until([&] { return client->stats().registry_reachable; }, 10s));
  io.run([&]() -> Awaitable<void> {
    auto late = co_await (*writer)->register_instance(test_instance("catalog", 7101));
    EXPECT_TRUE(late.ok()) << late.error().message;
  });
  ASSERT_TRUE(wait_until([&] { return client->discover("catalog").size() == 2; }, 10s));
  ASSERT_TRUE(wait_until([&] { return client->discover("orders").size() == 1; }, 10s)) << "our own record";
  io.run([&] { return client->shutdown(0ms); });
}

}  // namespace
}  // namespace svckit::testing
