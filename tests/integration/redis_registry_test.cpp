// What redis:// adds beyond the conformance suite: URL options, a watcher that fell behind a trimmed
// event log gets a reset, and a DiscoveryClient that keeps routing while Redis is down and
// converges (re-registering itself) after Redis comes back empty.
#include <gtest/gtest.h>

#include <csignal>

#include "svckit/discovery/discovery_client.hpp"
#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"
#include "test_instance.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

class RedisRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = start_redis(dir.path(), port);
    ASSERT_TRUE(started) << started.error().message;
    server = std::move(*started);
    RegistryPlugins::Builder builder;
    register_builtin_plugins(builder);
    plugins = std::make_unique<RegistryPlugins>(std::move(builder).build());
  }
  void TearDown() override { io.stop(); }

  Result<std::unique_ptr<Registry>> open(const std::string& options) {
    return plugins->create("redis://127.0.0.1:" + std::to_string(port) + "/0" + options,
                           RegistryDeps{io.executor(), time, random});
  }
  static ServiceInstance instance(const std::string& service, int port, std::chrono::milliseconds ttl = 0ms) {
    return test_instance(service, port, ttl);
  }

  TempDir dir;
  int port = 0;
  ChildProcess server;
  RealTimeSource time;
  FakeRandom random;
  IoThread io;
  std::unique_ptr<RegistryPlugins> plugins;
};

TEST_F(RedisRegistryTest, BadUrlOptionsAreRefusedNamingTheOption) {
  auto unknown = open("?colour=blue");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().field, "colour");
  auto sweep = open("?sweep=soon");
  ASSERT_FALSE(sweep);
  EXPECT_EQ(sweep.error().field, "sweep");
  auto braces = open("?prefix={x}");
  ASSERT_FALSE(braces);
  EXPECT_EQ(braces.error().field, "prefix");
  auto db = plugins->create("redis://127.0.0.1:1/x", RegistryDeps{io.executor(), time, random});
  ASSERT_FALSE(db);
  EXPECT_EQ(db.error().field, "database");
  auto secret = open("?password_env=SVCKIT_TEST_SURELY_UNSET");
  ASSERT_FALSE(secret);
  EXPECT_EQ(secret.error().field, "password_env");
}

TEST_F(RedisRegistryTest, PrefixesKeepRegistriesApartAndATrimmedLogGivesAReset) {
  auto a = open("?prefix=team-a&history=5");
  auto b = open("?prefix=team-b");
  ASSERT_TRUE(a && b);
  Registry& ra = **a;
  Registry& rb = **b;
  const auto first = io.run([&]() -> Awaitable<Result<WatchResult>> { co_return co_await ra.watch({"", 0, 0ms}); });
  ASSERT_TRUE(first);
  for (int i = 0; i < 40; ++i) {
    auto r = io.run([&]() -> Awaitable<Result<ServiceInstance>> {
      co_return co_await ra.register_instance(instance("orders", 9000 + i));
    });
    ASSERT_TRUE(r) << r.error().message;
  }
  auto other =
      io.run([&]() -> Awaitable<Result<std::vector<ServiceInstance>>> { co_return co_await rb.list("orders", {}); });
  ASSERT_TRUE(other);
  EXPECT_TRUE(other->empty()) << "another prefix is another registry";

  auto behind = io.run([&]() -> Awaitable<Result<WatchResult>> {
    co_return co_await ra.watch({"", first->index, 0ms});
  });
  ASSERT_TRUE(behind) << behind.error().message;
  EXPECT_TRUE(behind->reset) << "40 changes do not fit a log of ~5: the watcher gets a snapshot";
  EXPECT_EQ(behind->snapshot.size(), 40u);
  EXPECT_GE(behind->index, first->index + 40);
}

TEST_F(RedisRegistryTest, DiscoveryKeepsRoutingWhileRedisIsDownAndConvergesAfter) {
  auto made = open("?sweep=100ms&grace=1s&timeout=1s");
  ASSERT_TRUE(made) << made.error().message;
  auto registry = std::move(*made);
  auto writer = open("");
  ASSERT_TRUE(writer);
  DiscoveryOptions options;
  options.watch_wait = 2s;
  options.retry_initial = 20ms;
  options.retry_max = 200ms;
  auto client = std::make_unique<DiscoveryClient>(io.executor(), *registry, random, options);
  io.run([&]() -> Awaitable<void> {
    client->start();
    EXPECT_TRUE(co_await client->wait_synced(5s));
    auto r = co_await client->register_self(instance("orders", 9100, 1500ms));
    EXPECT_TRUE(r.ok());
    auto other = co_await (*writer)->register_instance(instance("catalog", 7100));
    EXPECT_TRUE(other.ok());
  });
  ASSERT_TRUE(wait_until([&] { return client->discover("catalog").size() == 1; }, 5s));

  server.stop(SIGKILL);
  ASSERT_TRUE(wait_until([&] { return client->stats().watch_errors > 0; }, 10s));
  EXPECT_EQ(client->discover("catalog").size(), 1u) << "the last known instances keep being served";
  EXPECT_EQ(*client->service_url("catalog"), "http://127.0.0.1:7100");

  // Redis returns on the same port with no data: the watch resets, the empty snapshot does not wipe
  // "catalog", and our heartbeat finds us gone and registers again.
  auto restarted = start_redis(dir.path(), port);
  ASSERT_TRUE(restarted) << restarted.error().message;
  server = std::move(*restarted);
  ASSERT_TRUE(wait_until([&] { return client->stats().registry_reachable; }, 10s));
  EXPECT_EQ(client->discover("catalog").size(), 1u);
  ASSERT_TRUE(wait_until([&] { return client->stats().reregistrations >= 1; }, 10s));
  ASSERT_TRUE(wait_until([&] { return client->discover("orders").size() == 1; }, 10s)) << "our own record seen again";
  io.run([&] { return client->shutdown(0ms); });
}

}  // namespace
}  // namespace svckit::testing
