// DiscoveryClient logic against a scripted Registry: what it does with snapshots, events, errors.
#include <gtest/gtest.h>

#include <map>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <deque>

#include "svckit/discovery/discovery_client.hpp"
#include "svckit/registry/memory_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/simulated_clock.hpp"
#include "svckit/testing/virtual_time.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;

ServiceInstance make(const std::string& service, int port, InstanceStatus status = InstanceStatus::healthy) {
  ServiceInstance in;
  in.service = service;
  in.host = "127.0.0.1";
  in.port = port;
  in.status = status;
  in.normalize();
  return in;
}

/// Answers watch() from a queue of results (errors included); an empty queue parks the watch until
/// more is pushed or it is cancelled. Other calls go to an in-memory registry.
class ScriptedRegistry final : public Registry {
 public:
  explicit ScriptedRegistry(const TimeSource& time) : memory_(time, {}) {}

  void push(Result<WatchResult> r) {
    answers_.push_back(std::move(r));
    wake_.set();
  }

  Awaitable<Result<WatchResult>> watch(WatchRequest request) override {
    ++watch_calls;
    while (answers_.empty()) {
      wake_.reset();
      request.cancel->set_hook([this] { wake_.set(); });
      (void)co_await wake_.wait(10s);
      if (request.cancel->cancelled()) co_return make_error(ErrorCode::cancelled, "cancelled");
    }
    auto r = std::move(answers_.front());
    answers_.pop_front();
    co_return r;
  }
  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance in) override {
    return memory_.register_instance(std::move(in));
  }
  Awaitable<Result<void>> deregister(std::string s, std::string id) override { return memory_.deregister(s, id); }
  Awaitable<Result<void>> renew(std::string s, std::string id) override {
    ++renewals;
    return memory_.renew(s, id);
  }
  Awaitable<Result<void>> set_status(std::string s, std::string id, InstanceStatus st) override {
    return memory_.set_status(s, id, st);
  }
  Awaitable<Result<ServiceInstance>> get(std::string s, std::string id) override { return memory_.get(s, id); }
  Awaitable<Result<std::vector<ServiceInstance>>> list(std::string s, InstanceFilter f) override {
    return memory_.list(s, f);
  }
  Awaitable<Result<std::vector<ServiceSummary>>> list_services() override { return memory_.list_services(); }

  std::atomic<int> renewals{0};
  std::atomic<int> watch_calls{0};
  MemoryRegistry memory_;

 private:
  std::deque<Result<WatchResult>> answers_;
  AsyncEvent wake_;
};

WatchResult snapshot(std::uint64_t index, std::vector<ServiceInstance> instances) {
  WatchResult r;
  r.index = index;
  r.reset = true;
  r.snapshot = std::move(instances);
  return r;
}

WatchResult events(std::uint64_t index, std::vector<RegistryEvent> list) {
  WatchResult r;
  r.index = index;
  r.events = std::move(list);
  return r;
}

class DiscoveryClientTest : public ::testing::Test {
 protected:
  DiscoveryClientTest() {
    DiscoveryOptions options;
    options.retry_initial = 1ms;
    options.retry_max = 4ms;
    options.heartbeat_interval = 10ms;
    client = std::make_unique<DiscoveryClient>(io.executor(), registry, random, options);
  }
  ~DiscoveryClientTest() override {
    io.run([&] { return client->shutdown(0ms); });
    io.stop();
  }

  /// Pushes on the io thread (the registry is confined there) and waits until the client applied it.
  void push_and_wait(Result<WatchResult> r, std::uint64_t index) {
    io.run([&]() -> Awaitable<void> {
      registry.push(std::move(r));
      co_return;
    });
    ASSERT_TRUE(testing::wait_until([&] { return client->stats().index == index; }, 5s));
  }

  testing::SimulatedClock clock;
  testing::FakeRandom random;
  ScriptedRegistry registry{clock};
  testing::IoThread io;
  std::unique_ptr<DiscoveryClient> client;
};

TEST(DiscoveryClientLoop, ALongPollAnsweredAtOnceWithNothingNewIsNotRepeatedInABusyLoop) {
  // In virtual time: the pauses are measured on the injected clock, not asserted on the wall clock.
  boost::asio::io_context io;
  testing::VirtualTime time(io);
  testing::FakeRandom random;
  ScriptedRegistry registry{time};
  DiscoveryOptions options;
  options.retry_initial = 100ms;  // the pause after an empty early answer (jittered in [50, 100] ms)
  DiscoveryClient client(io.get_executor(), registry, time, random, time, options);
  registry.push(snapshot(5, {make("a", 1)}));
  for (int i = 0; i < 3; ++i) {  // what a registry shutting down answers: no change, at once
    WatchResult nothing;
    nothing.index = 5;
    registry.push(nothing);
  }
  const auto started = time.steady_now();
  client.start();
  time.run_until(started + 10s);
  EXPECT_EQ(registry.watch_calls, 5) << "the snapshot, three empty answers, then a waiting watch";
  const auto paused = time.steady_now() - started;
  EXPECT_GE(paused, 150ms) << "each empty early answer is followed by a pause of >= 50 ms";
  EXPECT_LE(paused, 300ms);
  EXPECT_EQ(client.discover("a").size(), 1u);
  bool down = false;
  boost::asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        co_await client.shutdown(0ms);
        down = true;
      },
      boost::asio::detached);
  time.run_until(time.steady_now() + 1s);
  EXPECT_TRUE(down);
}

TEST_F(DiscoveryClientTest, AppliesSnapshotThenEventsInOrder) {
  std::vector<std::string> seen;
  io.run([&]() -> Awaitable<void> {
    client->on_event(
        [&](const RegistryEvent& e) { seen.push_back(std::string(to_string(e.type)) + ":" + e.instance.id); });
    client->start();
    co_return;
  });
  push_and_wait(snapshot(5, {make("a", 1), make("a", 2), make("b", 1)}), 5);
  EXPECT_EQ(client->discover("a").size(), 2u);
  EXPECT_EQ(client->services(), (std::vector<std::string>{"a", "b"}));

  push_and_wait(events(8, {RegistryEvent{6, EventType::status_changed, make("a", 1, InstanceStatus::unhealthy),
                                         InstanceStatus::healthy},
                           RegistryEvent{7, EventType::deregistered, make("b", 1), {}},
                           RegistryEvent{8, EventType::registered, make("c", 9), {}}}),
                8);
  EXPECT_EQ(client->discover("a")[0].status, InstanceStatus::unhealthy);
  EXPECT_TRUE(client->discover("b").empty());
  EXPECT_EQ(client->discover("c").size(), 1u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*client->service_url("a"), "http://127.0.0.1:2") << "only healthy instances";
  InstanceFilter unhealthy;
  unhealthy.status = InstanceStatus::unhealthy;
  EXPECT_EQ(client->discover("a", unhealthy).size(), 1u);

  io.run([&]() -> Awaitable<void> { co_return; });
  EXPECT_EQ(seen, (std::vector<std::string>{"registered:127.0.0.1:1", "registered:127.0.0.1:2",
                                            "registered:127.0.0.1:1", "status_changed:127.0.0.1:1",
                                            "deregistered:127.0.0.1:1", "registered:127.0.0.1:9"}));
}

TEST_F(DiscoveryClientTest, GetServiceFollowsTheWeights) {
  io.run([&]() -> Awaitable<void> {
    client->start();
    co_return;
  });
  auto heavy = make("a", 1);
  heavy.weight = 300;
  push_and_wait(snapshot(3, {heavy, make("a", 2), make("a", 3, InstanceStatus::unhealthy)}), 3);
  std::map<std::string, int> picks;
  for (int i = 0; i < 8; ++i) ++picks[client->get_service("a")->id];
  EXPECT_EQ(picks, (std::map<std::string, int>{{"127.0.0.1:1", 6}, {"127.0.0.1:2", 2}}))
      << "3:1, never the unhealthy one";
  EXPECT_EQ(*client->service_url("a"), "http://127.0.0.1:1") << "service_url() picks the same way";
  EXPECT_EQ(client->get_service("nothing").error().code, ErrorCode::not_found);
}

TEST_F(DiscoveryClientTest, EmptyPushIsRejectedUntilTheServiceChangesAgain) {
  io.run([&]() -> Awaitable<void> {
    client->start();
    co_return;
  });
  push_and_wait(snapshot(5, {make("a", 1), make("a", 2), make("b", 1)}), 5);
  // The registry comes back empty (e.g. restarted without a snapshot): keep serving what we knew.
  push_and_wait(snapshot(1, {make("b", 1)}), 1);
  EXPECT_EQ(client->discover("a").size(), 2u);
  EXPECT_EQ(client->stats().empty_pushes_rejected, 1u);
  // The first real event for "a" replaces the stale list rather than merging into it.
  push_and_wait(events(2, {RegistryEvent{2, EventType::registered, make("a", 3), {}}}), 2);
  ASSERT_EQ(client->discover("a").size(), 1u);
  EXPECT_EQ(client->discover("a")[0].port, 3);
}

TEST_F(DiscoveryClientTest, RegistryErrorsKeepTheCacheAndBackOff) {
  io.run([&]() -> Awaitable<void> {
    client->start();
    co_return;
  });
  push_and_wait(snapshot(5, {make("a", 1)}), 5);
  io.run([&]() -> Awaitable<void> {
    for (int i = 0; i < 3; ++i) registry.push(make_error(ErrorCode::unavailable, "down"));
    co_return;
  });
  ASSERT_TRUE(testing::wait_until([&] { return client->stats().watch_errors == 3; }, 5s));
  EXPECT_FALSE(client->stats().registry_reachable);
  EXPECT_EQ(client->discover("a").size(), 1u) << "static stability";
  push_and_wait(events(6, {}), 6);
  EXPECT_TRUE(testing::wait_until([&] { return client->stats().registry_reachable; }, 5s));
}

TEST_F(DiscoveryClientTest, HeartbeatRenewsAndReregistersWhenForgotten) {
  auto self = make("me", 7000);
  self.ttl = 1s;
  io.run([&]() -> Awaitable<void> {
    auto r = co_await client->register_self(self);
    EXPECT_TRUE(r.ok());
  });
  ASSERT_TRUE(testing::wait_until([&] { return registry.renewals >= 2; }, 5s));
  // The registry forgets us; the next heartbeat notices and registers again.
  io.run([&]() -> Awaitable<void> { (void)co_await registry.memory_.deregister("me", "127.0.0.1:7000"); });
  ASSERT_TRUE(testing::wait_until([&] { return client->stats().reregistrations >= 1; }, 5s));
  auto again = io.run([&] { return registry.memory_.get("me", "127.0.0.1:7000"); });
  EXPECT_TRUE(again.ok());
  io.run([&]() -> Awaitable<void> {
    EXPECT_TRUE((co_await client->update_status(InstanceStatus::maintenance)).ok());
    EXPECT_TRUE((co_await client->deregister_self()).ok());
  });
  EXPECT_FALSE(io.run([&] { return registry.memory_.get("me", "127.0.0.1:7000"); }).ok());
}

}  // namespace
}  // namespace svckit
