// nats:// beyond the conformance suite: a nats-server killed and restarted mid-watch (the watch
// resumes and misses nothing; writes work again), and several clients sweeping one bucket expire
// and remove each silent instance exactly once.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <csignal>
#include <future>

#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"
#include "test_instance.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

class NatsRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegistryPlugins::Builder builder;
    register_builtin_plugins(builder);
    plugins = std::make_unique<RegistryPlugins>(std::move(builder).build());
    auto started = start_nats(dir.path(), port);
    ASSERT_TRUE(started) << started.error().message;
    server = std::move(*started);
  }
  void TearDown() override {
    clients.clear();
    io.stop();
  }
  Registry& open(const std::string& options = "") {
    auto made = plugins->create("nats://127.0.0.1:" + std::to_string(port) + "?timeout=5s" + options,
                                RegistryDeps{io.executor(), time, random});
    EXPECT_TRUE(made) << made.error().describe();
    if (!made) throw std::runtime_error("cannot open nats://");
    clients.push_back(std::move(*made));
    return *clients.back();
  }
  Result<ServiceInstance> add(Registry& r, ServiceInstance in) {
    return io.run([&]() -> Awaitable<Result<ServiceInstance>> { co_return co_await r.register_instance(in); });
  }
  std::uint64_t index_now(Registry& r) {
    auto w = io.run([&]() -> Awaitable<Result<WatchResult>> { co_return co_await r.watch({"", 0, 0ms}); });
    EXPECT_TRUE(w) << w.error().describe();
    return w ? w->index : 0;
  }

  TempDir dir;
  int port = 0;
  ChildProcess server;
  RealTimeSource time;
  FakeRandom random;
  IoThread io;
  std::unique_ptr<RegistryPlugins> plugins;
  std::vector<std::unique_ptr<Registry>> clients;
};

TEST_F(NatsRegistryTest, AServerKilledAndRestartedMidWatchLosesNothingAndWritesWorkAgain) {
  Registry& a = open();
  ASSERT_TRUE(add(a, test_instance("orders", 9001)));
  const auto start = index_now(a);
  auto waiting = boost::asio::co_spawn(
      io.io(),
      [&]() -> Awaitable<Result<WatchResult>> {
        co_return co_await a.watch({"orders", start, 30s});
      },
      boost::asio::use_future);
  ASSERT_EQ(waiting.wait_for(200ms), std::future_status::timeout) << "nothing changed yet";
  server.stop(SIGKILL);
  auto restarted = start_nats(dir.path(), port);  // same port, same store directory
  ASSERT_TRUE(restarted) << restarted.error().message;
  server = std::move(*restarted);

  Registry& b = open();  // a client that connects after the restart
  ASSERT_TRUE(add(b, test_instance("orders", 9002)));
  ASSERT_EQ(waiting.wait_for(20s), std::future_status::ready) << "the watch resumed after the restart";
  auto woken = waiting.get();
  ASSERT_TRUE(woken) << woken.error().describe();
  ASSERT_FALSE(woken->reset) << "the bucket survived (file storage): no reset";
  ASSERT_EQ(woken->events.size(), 1u);
  EXPECT_EQ(woken->events[0].type, EventType::registered);
  EXPECT_EQ(woken->events[0].instance.port, 9002);

  auto again = add(a, test_instance("orders", 9003));  // the first client writes again
  ASSERT_TRUE(again) << again.error().describe();
  const auto listed =
      io.run([&]() -> Awaitable<Result<std::vector<ServiceInstance>>> { co_return co_await b.list("orders", {}); });
  ASSERT_TRUE(listed);
  ASSERT_EQ(listed->size(), 3u) << "what was stored before the kill is still there";
  EXPECT_EQ(index_now(a), index_now(b)) << "both clients number changes alike (the bucket's revisions)";
}

TEST_F(NatsRegistryTest, ThreeSweepingClientsExpireAndRemoveEachSilentInstanceOnce) {
  const std::string fast = "&sweep=20ms&grace=300ms";
  Registry& writer = open(fast);
  open(fast);
  open(fast);
  Registry& watcher = open();
  const auto start = index_now(watcher);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(add(writer, test_instance("orders", 9100 + i, 1s)));
  std::vector<RegistryEvent> events;
  auto after = start;
  for (int round = 0; round < 100 && events.size() < 15; ++round) {
    auto r = io.run([&]() -> Awaitable<Result<WatchResult>> {
      co_return co_await watcher.watch({"orders", after, 2s});
    });
    ASSERT_TRUE(r) << r.error().describe();
    ASSERT_FALSE(r->reset);
    for (auto& e : r->events) events.push_back(std::move(e));
    after = r->index;
  }
  std::map<std::string, std::vector<EventType>> by_instance;
  for (const auto& e : events) by_instance[e.instance.id].push_back(e.type);
  ASSERT_EQ(by_instance.size(), 5u);
  for (const auto& [id, types] : by_instance) {
    EXPECT_EQ(types, (std::vector<EventType>{EventType::registered, EventType::expired, EventType::deregistered}))
        << id;
  }
  // Nothing more comes: no second expiry or removal by another sweeper.
  auto idle = io.run([&]() -> Awaitable<Result<WatchResult>> {
    co_return co_await watcher.watch({"orders", after, 500ms});
  });
  ASSERT_TRUE(idle);
  EXPECT_TRUE(idle->events.empty());
}

TEST_F(NatsRegistryTest, BadUrlsAreRefusedNamingTheOption) {
  const auto base = "nats://127.0.0.1:" + std::to_string(port);
  for (const auto& [url, field] : std::vector<std::pair<std::string, std::string>>{{base + "?bucket=no.dots", "bucket"},
                                                                                   {base + "?sweep=0s", "sweep"},
                                                                                   {base + "?replicas=9", "replicas"},
                                                                                   {base + "?colour=blue", "colour"}}) {
    auto made = plugins->create(url, RegistryDeps{io.executor(), time, random});
    ASSERT_FALSE(made) << url;
    EXPECT_EQ(made.error().field, field) << url << ": " << made.error().describe();
  }
  auto down = plugins->create("nats://127.0.0.1:" + std::to_string(free_port()) + "?timeout=300ms",
                              RegistryDeps{io.executor(), time, random});
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::unavailable);
}

}  // namespace
}  // namespace svckit::testing
