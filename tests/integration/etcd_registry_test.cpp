// What etcd:// adds beyond the conformance suite: a 3-node cluster on loopback survives the loss
// of its leader with no registration lost and a watcher resuming from its revision; a
// DiscoveryClient keeps routing while etcd is down entirely and converges after; URL options.
#include <gtest/gtest.h>

#include <csignal>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include "svckit/core/async_event.hpp"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/etcd/bucket_leases.hpp"
#include "svckit/etcd/etcd_client.hpp"
#include "svckit/http/client.hpp"
#include "svckit/net/backend_url.hpp"
#include "svckit/registry/mirror_writes.hpp"
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

/// `n` registrations through register_new at once on `io`, ids "m<i % distinct>".
std::vector<Result<MirrorWrites::Stored>> register_all_at_once(IoThread& io, MirrorWrites& mirror, int n, int distinct,
                                                               const std::string& lease) {
  return io.run([&]() -> Awaitable<std::vector<Result<MirrorWrites::Stored>>> {
    auto results =
        std::make_shared<std::vector<Result<MirrorWrites::Stored>>>(n, make_error(ErrorCode::internal, "not run"));
    auto left = std::make_shared<int>(n);
    auto done = std::make_shared<AsyncEvent>();
    const auto executor = co_await boost::asio::this_coro::executor;
    for (int i = 0; i < n; ++i) {
      auto in = test_instance("mirrored", 9000 + i);
      in.id = "m" + std::to_string(i % distinct);
      in.ttl = 2s;
      boost::asio::co_spawn(
          executor,
          [](MirrorWrites& m, ServiceInstance one, std::shared_ptr<std::vector<Result<MirrorWrites::Stored>>> out,
             int at, std::shared_ptr<int> count, std::shared_ptr<AsyncEvent> all,
             std::string alive) -> Awaitable<void> {
            (*out)[static_cast<std::size_t>(at)] = co_await m.register_new(std::move(one), 0, std::move(alive));
            if (--*count == 0) all->set();
          }(mirror, in, results, i, left, done, lease),
          boost::asio::detached);
    }
    (void)co_await done->wait(30s);
    co_return std::move(*results);
  });
}

// What svckitd's cluster mode writes through: registrations of new instances grouped into one etcd
// transaction each guarded on its own, alive keys under a lease the caller holds for many
// instances, expiry by the caller (guarded by the write it made), a move to another lease, and the
// removal of expired records — by one caller, only while still expired.
TEST_F(EtcdRegistryTest, MirrorWritesGroupRegistrationsHoldLivenessAndRemoveExpiredRecordsOnce) {
  auto cluster = start_etcd_cluster(dir.path(), 1);
  ASSERT_TRUE(cluster) << cluster.error().message;
  auto made = open("etcd://" + cluster->endpoints + "?prefix=/mirror&grace=1s");
  ASSERT_TRUE(made) << made.error().message;
  auto* mirror = dynamic_cast<MirrorWrites*>(made->get());
  ASSERT_NE(mirror, nullptr);
  Registry& registry = **made;
  EXPECT_EQ(mirror->expiry_grace(), 1s);
  auto url = net::parse_backend_url("etcd://" + cluster->endpoints, 2379);
  ASSERT_TRUE(url);
  auto options = etcd::etcd_options_from_url(*url);
  ASSERT_TRUE(options);
  etcd::EtcdClient etcd(io.executor(), *options);
  etcd::BucketLeases leases(etcd);
  // Long enough for the whole test, though nobody keeps it alive.
  const auto lease = io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await leases.lease_for(60s); });
  ASSERT_TRUE(lease) << lease.error().describe();
  const auto short_lease = io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await leases.lease_for(1s); });
  ASSERT_TRUE(short_lease) << short_lease.error().describe();
  EXPECT_EQ(leases.count(), 2u);
  EXPECT_NE(*lease, *short_lease);

  // 48 at once, of 40 distinct ids: each id stored once; the 8 repeats find it existing.
  const auto results = register_all_at_once(io, *mirror, 48, 40, *lease);
  int stored = 0;
  int existed = 0;
  std::map<std::string, std::uint64_t> written;
  for (const auto& r : results) {
    ASSERT_TRUE(r) << r.error().describe();
    EXPECT_GT(r->index, 0u);
    (r->existed ? existed : stored)++;
    if (!r->existed) written[r->instance.id] = r->index;
  }
  EXPECT_EQ(stored, 40);
  EXPECT_EQ(existed, 8);
  const auto list = io.run(
      [&]() -> Awaitable<Result<std::vector<ServiceInstance>>> { co_return co_await registry.list("mirrored", {}); });
  ASSERT_TRUE(list);
  EXPECT_EQ(list->size(), 40u);
  // The limit is checked against the caller's count, not read from etcd.
  auto over = test_instance("mirrored", 9999);
  over.id = "over";
  const auto refused = io.run([&]() -> Awaitable<Result<MirrorWrites::Stored>> {
    co_return co_await mirror->register_new(over, 10'000, *lease);
  });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::limit_exceeded);

  const auto status = [&](const std::string& id) {
    auto got = io.run([&]() -> Awaitable<Result<ServiceInstance>> { co_return co_await registry.get("mirrored", id); });
    return got ? std::string(to_string(got->status)) : std::string("gone");
  };
  const auto expire = [&](const std::string& id, std::uint64_t revision) {
    return io.run(
        [&]() -> Awaitable<Result<bool>> { co_return co_await mirror->expire_alive("mirrored", id, revision); });
  };
  const auto remove = [&](const std::string& id) {
    return io.run([&]() -> Awaitable<Result<bool>> { co_return co_await mirror->remove_expired("mirrored", id); });
  };
  const auto hold = [&](const std::string& id) {
    return io.run([&]() -> Awaitable<Result<std::optional<std::uint64_t>>> {
      co_return co_await mirror->hold_alive("mirrored", id, *lease);
    });
  };
  // Expiry is the caller's guarded delete: a stale revision deletes nothing.
  EXPECT_FALSE(*expire("m1", written["m1"] - 1));
  EXPECT_EQ(status("m1"), "healthy");
  EXPECT_FALSE(*remove("m1")) << "alive: nothing to remove";
  EXPECT_TRUE(*expire("m1", written["m1"]));
  EXPECT_FALSE(*expire("m1", written["m1"])) << "once";
  EXPECT_EQ(status("m1"), "down") << "expired records stay listed until removed";
  // A heartbeat elsewhere puts the alive key back: alive again, and the old write no longer counts.
  const auto back = hold("m1");
  ASSERT_TRUE(back && *back);
  EXPECT_GT(**back, written["m1"]);
  EXPECT_EQ(status("m1"), "healthy");
  EXPECT_FALSE(*remove("m1"));
  const auto none = hold("nobody");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none) << "no record: nothing held";
  EXPECT_TRUE(*expire("m1", **back));
  EXPECT_TRUE(*remove("m1"));
  EXPECT_FALSE(*remove("m1")) << "once";
  EXPECT_EQ(status("m1"), "gone");

  // The same registration again is a heartbeat; a changed one is written.
  auto again = test_instance("mirrored", 9000);
  again.id = "m0";
  again.ttl = 2s;
  const auto same =
      io.run([&]() -> Awaitable<Result<MirrorWrites::Stored>> { co_return co_await mirror->replace(again, *lease); });
  ASSERT_TRUE(same) << same.error().describe();
  EXPECT_TRUE(same->unchanged);
  again.metadata["version"] = "2";
  const auto changed = io.run(
      [&]() -> Awaitable<Result<MirrorWrites::Stored>> { co_return co_await mirror->replace(again, *short_lease); });
  ASSERT_TRUE(changed) << changed.error().describe();
  EXPECT_FALSE(changed->unchanged);
  auto got = io.run([&]() -> Awaitable<Result<ServiceInstance>> { co_return co_await registry.get("mirrored", "m0"); });
  ASSERT_TRUE(got);
  EXPECT_EQ(got->metadata["version"], "2");

  // Nobody keeps the short lease alive (its holder died): etcd deletes the alive key under it.
  ASSERT_TRUE(wait_until([&] { return status("m0") == "down"; }, 15s));
  EXPECT_EQ(status("m7"), "healthy") << "under the other lease";
  // A persistent record is never removed as expired.
  auto kept = test_instance("mirrored", 9500);
  kept.id = "persistent";
  ASSERT_TRUE(io.run(
      [&]() -> Awaitable<Result<MirrorWrites::Stored>> { co_return co_await mirror->register_new(kept, 0, "0"); }));
  EXPECT_FALSE(*remove("persistent"));
  EXPECT_NE(status("persistent"), "gone");
}

}  // namespace
}  // namespace svckit::testing
