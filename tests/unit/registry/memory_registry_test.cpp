#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "svckit/registry/memory_registry.hpp"
#include "svckit/testing/co_assert.hpp"
#include "svckit/testing/simulated_clock.hpp"
#include "svckit/testing/virtual_time.hpp"

namespace svckit {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

ServiceInstance memory_instance(const std::string& service, int port) {
  ServiceInstance in;
  in.service = service;
  in.host = "127.0.0.1";
  in.port = port;
  return in;
}

class MemoryRegistryTest : public ::testing::Test {
 protected:
  template <class F>
  void run(F&& body) {
    bool done = false;
    asio::co_spawn(
        io,
        [&]() -> Awaitable<void> {
          co_await body();
          done = true;
        },
        asio::detached);
    io.run_for(10s);  // bound only: every test finishes through events long before
    ASSERT_TRUE(done);
  }

  testing::SimulatedClock clock;
  MemoryRegistry registry{clock, MemoryRegistryOptions{{}, 2}};
  asio::io_context io;
};

TEST_F(MemoryRegistryTest, WatchWithoutWaitAnswersAtOnce) {
  run([&]() -> Awaitable<void> {
    auto r = co_await registry.watch({"", 0, 0ms});
    EXPECT_TRUE(r.ok() && r->reset);
    r = co_await registry.watch(WatchRequest{"", r->index, 0ms, nullptr});
    EXPECT_TRUE(r.ok() && !r->reset && r->events.empty());
  });
}

TEST_F(MemoryRegistryTest, WaitingWatchWakesOnRegistrationOfItsService) {
  std::vector<EventType> seen;
  run([&]() -> Awaitable<void> {
    // Registration of another service must not end the watch; one of "a" must.
    asio::post(io, [&] {
      EXPECT_TRUE(registry.register_now(memory_instance("b", 1)).ok());
      asio::post(io, [&] { EXPECT_TRUE(registry.register_now(memory_instance("a", 1)).ok()); });
    });
    auto r = co_await registry.watch({"a", registry.index(), 60s, nullptr});
    EXPECT_TRUE(r.ok());
    for (const auto& e : r->events) seen.push_back(e.type);
    EXPECT_EQ(r->index, 3u);
    EXPECT_EQ(registry.watcher_count(), 0u);
  });
  EXPECT_EQ(seen, std::vector<EventType>{EventType::registered});
}

TEST_F(MemoryRegistryTest, APersistentWriteRefusedByTheGateChangesNothing) {
  auto ttl = memory_instance("t", 2);
  ttl.ttl = 5s;
  ASSERT_TRUE(registry.register_now(memory_instance("a", 1)).ok());
  ASSERT_TRUE(registry.register_now(ttl).ok());
  bool failing = true;
  registry.set_persistent_write_refusal([&]() -> std::optional<Error> {
    if (!failing) return std::nullopt;
    return make_error(ErrorCode::unavailable, "disk gone", "snapshot_file");
  });
  const auto version = registry.persistent_version();
  auto refused = registry.register_now(memory_instance("a", 3));
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::unavailable);
  EXPECT_EQ(refused.error().field, "snapshot_file");
  EXPECT_TRUE(registry.register_now(memory_instance("a", 1)).ok()) << "identical data changes nothing";
  run([&]() -> Awaitable<void> {
    auto gone = co_await registry.deregister("a", "127.0.0.1:1");
    EXPECT_FALSE(gone.ok());
    EXPECT_TRUE((co_await registry.renew("t", "127.0.0.1:2")).ok()) << "memory-only";
  });
  EXPECT_FALSE(registry.contains("a", "127.0.0.1:3"));
  EXPECT_TRUE(registry.contains("a", "127.0.0.1:1"));
  EXPECT_EQ(registry.persistent_version(), version);
  failing = false;
  EXPECT_TRUE(registry.register_now(memory_instance("a", 3)).ok());
}

TEST_F(MemoryRegistryTest, CancelEndsAWaitingWatch) {
  auto token = std::make_shared<CancelToken>();
  run([&]() -> Awaitable<void> {
    asio::post(io, [&] { token->cancel(); });
    auto r = co_await registry.watch({"", registry.index(), 60s, token});
    SVCKIT_CO_ASSERT_TRUE(!r.ok());
    EXPECT_EQ(r.error().code, ErrorCode::cancelled);
  });
  EXPECT_EQ(registry.watcher_count(), 0u);
}

TEST_F(MemoryRegistryTest, ReleaseWatchersAnswersEveryWaiter) {
  int answered = 0;
  for (int i = 0; i < 2; ++i) {
    asio::co_spawn(
        io,
        [&]() -> Awaitable<void> {
          auto r = co_await registry.watch({"", registry.index(), 60s, nullptr});
          if (r.ok() && !r->reset && r->events.empty()) ++answered;
        },
        asio::detached);
  }
  asio::post(io, [&] { asio::post(io, [&] { registry.release_watchers(); }); });
  io.run_for(10s);
  EXPECT_EQ(answered, 2);
}

TEST_F(MemoryRegistryTest, TooManyWatchersIsLimitExceeded) {
  Result<WatchResult> third = make_error(ErrorCode::internal, "not run");
  for (int i = 0; i < 2; ++i) {
    asio::co_spawn(
        io,
        [&]() -> Awaitable<void> {
          (void)co_await registry.watch({"", registry.index(), 60s, nullptr});
        },
        asio::detached);
  }
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        third = co_await registry.watch({"", registry.index(), 60s, nullptr});
        registry.release_watchers();
      },
      asio::detached);
  io.run_for(10s);
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.error().code, ErrorCode::limit_exceeded);
}

TEST_F(MemoryRegistryTest, SweepWakesWatchersWithExpiry) {
  auto in = memory_instance("a", 1);
  in.ttl = 2s;
  ASSERT_TRUE(registry.register_now(in).ok());
  run([&]() -> Awaitable<void> {
    asio::post(io, [&] {
      clock.advance(3s);
      registry.sweep();
    });
    auto r = co_await registry.watch({"a", 2, 60s});
    SVCKIT_CO_ASSERT_TRUE(r.ok());
    SVCKIT_CO_ASSERT_EQ(r->events.size(), 1u);
    EXPECT_EQ(r->events[0].type, EventType::expired);
  });
}

TEST(MemoryRegistryVirtualTime, ALongPollEndsAtItsDeadlineOnTheInjectedClockAndAChangeWakesIt) {
  asio::io_context io;
  testing::VirtualTime time(io);
  MemoryRegistry registry(time, time, MemoryRegistryOptions{});
  std::optional<Result<WatchResult>> first, second;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        first = co_await registry.watch({"a", registry.index(), 30s, nullptr});
      },
      asio::detached);
  const auto start = time.steady_now();
  time.run_until(start + 1h);
  ASSERT_TRUE(first.has_value());
  ASSERT_TRUE(first->ok());
  EXPECT_TRUE((*first)->events.empty());
  EXPECT_EQ(time.steady_now() - start, 30s) << "the wait ends at its deadline, in virtual time";

  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        second = co_await registry.watch({"a", registry.index(), 60s, nullptr});
      },
      asio::detached);
  time.run_until(time.steady_now());
  EXPECT_EQ(registry.watcher_count(), 1u);
  const auto parked_at = time.steady_now();
  ASSERT_TRUE(registry.register_now(memory_instance("a", 1)).ok());
  time.run_until(time.steady_now());
  ASSERT_TRUE(second.has_value());
  ASSERT_TRUE(second->ok());
  EXPECT_EQ((*second)->events.size(), 1u);
  EXPECT_EQ(time.steady_now(), parked_at) << "woken by the change, not by its deadline";
  EXPECT_EQ(registry.watcher_count(), 0u);
}

TEST(MemoryRegistryWatchers, AWatchWhoseCoroutineIsDestroyedLeavesNothingBehind) {
  testing::SimulatedClock clock;
  MemoryRegistry registry(clock, MemoryRegistryOptions{{}, 1});
  {
    asio::io_context io;
    asio::co_spawn(
        io,
        [&]() -> Awaitable<void> {
          (void)co_await registry.watch({"", registry.index(), 60s, nullptr});
        },
        asio::detached);
    io.poll();
    EXPECT_EQ(registry.watcher_count(), 1u);
  }  // the io_context goes with the suspended watch in it
  EXPECT_EQ(registry.watcher_count(), 0u);
  EXPECT_TRUE(registry.register_now(memory_instance("a", 1)).ok()) << "nothing points at the dead coroutine";
  asio::io_context io;
  std::optional<Result<WatchResult>> again;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        again = co_await registry.watch({"", registry.index(), 10ms, nullptr});
      },
      asio::detached);
  io.run_for(5s);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(again->ok()) << "its slot (max_watchers 1) is free again: " << again->error().describe();
}

}  // namespace
}  // namespace svckit
