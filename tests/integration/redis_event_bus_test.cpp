// RedisEventBus against a real redis-server: a consumer group shares a stream while a listener
// gets every event; failures retry into the group's dead-letter stream; an entry left pending by a
// consumer that vanished is taken over after claim_idle; a re-published id is handled once; and
// redis-server (AOF, fsync always) SIGKILLed and restarted mid-stream loses no confirmed event.
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <mutex>
#include <set>

#include "svckit/events/redis_event_bus.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"

namespace svckit::events {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

class RedisEventBusTest : public ::testing::Test {
 protected:
  // Background loops (claims, heartbeats) use the client and the queue or bus: the io thread
  // stops before those members go.
  void TearDown() override { io.stop(); }
  void start_redis(const std::vector<std::string>& extra = {}) {
    auto started = testing::start_redis(dir.path(), port, extra);
    ASSERT_TRUE(started) << started.error().message;
    redis = std::move(*started);
    if (!client) {
      redis::RedisOptions o;
      o.server = {"127.0.0.1", static_cast<std::uint16_t>(port), false};
      o.command_timeout = 2s;
      client = std::make_unique<redis::RedisClient>(io.executor(), o);
      RedisEventBusOptions bo;
      bo.claim_idle = 300ms;
      bus = std::make_unique<RedisEventBus>(*client, time, random, sleeper, bo);
    }
  }
  SubscribeOptions options(const std::string& pattern, const std::string& group = {}) {
    SubscribeOptions o;
    o.pattern = pattern;
    o.group = group;
    o.retry_backoff = {BackoffKind::full_jitter, 1ms, 5ms, 2.0};
    return o;
  }
  /// Records each handled event's id (yielding first, so members interleave).
  EventHandler recorder(std::multiset<std::string>& ids) {
    return [&ids, this](const Event& e) -> Awaitable<Result<void>> {
      co_await asio::post(io.executor(), asio::use_awaitable);
      std::lock_guard lock(mutex);
      ids.insert(e.id);
      co_return Result<void>{};
    };
  }
  std::unique_ptr<Subscription> subscribe(SubscribeOptions o, EventHandler h) {
    auto s = bus->subscribe(io.executor(), std::move(o), std::move(h));
    EXPECT_TRUE(s) << s.error().describe();
    if (!s) return nullptr;
    EXPECT_TRUE(testing::wait_until([&] { return (*s)->ready(); }, 10s));
    return std::move(*s);
  }
  Result<std::string> publish(const std::string& type, std::string id = {}) {
    Event e;
    e.type = type;
    e.id = std::move(id);
    e.data = {{"at", "test"}};
    return io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await bus->publish(e); });
  }
  std::size_t count(const std::multiset<std::string>& ids) {
    std::lock_guard lock(mutex);
    return ids.size();
  }
  Result<redis::Reply> command(std::vector<std::string> args) {
    return io.run([&]() -> Awaitable<Result<redis::Reply>> { co_return co_await client->command(std::move(args)); });
  }
  void close(Subscription& s) {
    io.run([&]() -> Awaitable<void> { co_await s.close(); });
  }

  testing::TempDir dir;
  int port = 0;
  testing::ChildProcess redis;
  RealTimeSource time;
  testing::FakeRandom random{11};
  AsioSleeper sleeper;
  testing::IoThread io;
  std::unique_ptr<redis::RedisClient> client;
  std::unique_ptr<RedisEventBus> bus;
  std::mutex mutex;
};

TEST_F(RedisEventBusTest, AGroupSharesTheStreamAndAListenerGetsEveryEvent) {
  start_redis();
  std::multiset<std::string> a, b, heard;
  auto sa = subscribe(options("orders.*", "billing"), recorder(a));
  auto sb = subscribe(options("orders.*", "billing"), recorder(b));
  auto listener = subscribe(options("orders.>"), recorder(heard));
  ASSERT_TRUE(sa && sb && listener);
  std::set<std::string> published;
  for (int i = 0; i < 200; ++i) {
    auto id = publish("orders.created");
    ASSERT_TRUE(id) << id.error().describe();
    published.insert(*id);
  }
  ASSERT_TRUE(testing::wait_until([&] { return count(a) + count(b) == 200 && count(heard) == 200; }, 20s))
      << count(a) << " + " << count(b) << ", listener " << count(heard);
  std::lock_guard lock(mutex);
  std::set<std::string> group(a.begin(), a.end());
  group.insert(b.begin(), b.end());
  EXPECT_EQ(group, published) << "each event once in the group";
  EXPECT_EQ(std::set<std::string>(heard.begin(), heard.end()), published);
  EXPECT_GT(a.size(), 0u);
  EXPECT_GT(b.size(), 0u);
  EXPECT_EQ(publish("Orders").error().field, "type");
  EXPECT_EQ(bus->subscribe(io.executor(), options("*.created", "g"), recorder(a)).error().field, "pattern")
      << "redis:// needs a literal namespace";
}

TEST_F(RedisEventBusTest, FailuresRetryIntoTheDeadLetterStreamAndAreAcknowledged) {
  start_redis();
  std::atomic<int> calls{0};
  auto o = options("ledger.*", "posting");
  o.max_deliveries = 3;
  auto sub = subscribe(o, [&](const Event&) -> Awaitable<Result<void>> {
    ++calls;
    co_return make_error(ErrorCode::unavailable, "ledger locked");
  });
  ASSERT_TRUE(sub);
  auto id = publish("ledger.post");
  ASSERT_TRUE(id);
  ASSERT_TRUE(testing::wait_until([&] { return sub->stats().dead_lettered == 1; }, 10s));
  EXPECT_EQ(calls.load(), 3);
  auto dead = io.run(
      [&]() -> Awaitable<Result<std::vector<DeadLetter>>> { co_return co_await bus->dead_letters("posting", 10); });
  ASSERT_TRUE(dead) << dead.error().describe();
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ(dead->front().event.id, *id);
  EXPECT_EQ(dead->front().deliveries, 3);
  EXPECT_NE(dead->front().error.find("ledger locked"), std::string::npos);
  auto pending = command({"XPENDING", bus->stream_of("ledger.post"), "posting"});
  ASSERT_TRUE(pending);
  EXPECT_EQ(pending->elements[0].integer, 0) << "dead-lettered entries are acknowledged";
}

TEST_F(RedisEventBusTest, AnEntryLeftPendingByAVanishedConsumerIsTakenOver) {
  start_redis();
  const auto stream = bus->stream_of("jobs.run");
  ASSERT_TRUE(command({"XGROUP", "CREATE", stream, "workers", "$", "MKSTREAM"}));
  auto id = publish("jobs.run");
  ASSERT_TRUE(id);
  // A consumer reads the entry and vanishes without acknowledging it.
  auto taken = command({"XREADGROUP", "GROUP", "workers", "vanished", "COUNT", "1", "STREAMS", stream, ">"});
  ASSERT_TRUE(taken && !taken->is_nil());
  std::multiset<std::string> done;
  auto survivor = subscribe(options("jobs.*", "workers"), recorder(done));
  ASSERT_TRUE(survivor);
  ASSERT_TRUE(testing::wait_until([&] { return count(done) == 1; }, 10s)) << "claimed after claim_idle (300 ms)";
  std::lock_guard lock(mutex);
  EXPECT_EQ(*done.begin(), *id);
}

TEST_F(RedisEventBusTest, ARepublishedIdIsHandledOnceWithinTheWindow) {
  start_redis();
  std::multiset<std::string> handled;
  auto o = options("orders.*", "dedupe");
  o.dedupe_window = 10s;
  auto sub = subscribe(o, recorder(handled));
  ASSERT_TRUE(sub);
  ASSERT_TRUE(publish("orders.paid", "order-7-paid"));
  ASSERT_TRUE(publish("orders.paid", "order-7-paid"));
  // delivered counts first, duplicates after the window was asked: wait for both.
  ASSERT_TRUE(testing::wait_until(
      [&] { return sub->stats().delivered == 2 && sub->stats().duplicates + count(handled) == 2; }, 10s));
  EXPECT_EQ(count(handled), 1u);
  EXPECT_EQ(sub->stats().duplicates, 1u);
}

TEST_F(RedisEventBusTest, AFullStreamRefusesWhileAGroupHoldsItsEntriesAndListenerStreamsDropTheirOldest) {
  start_redis();
  RedisEventBusOptions small;
  small.max_pending = 10;
  RedisEventBus bounded(*client, time, random, sleeper, small);
  auto publish_to = [&](const std::string& type) {
    Event e;
    e.type = type;
    return io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await bounded.publish(e); });
  };
  // "news": no group reads it: it never refuses, it keeps at most max_pending entries
  for (int i = 0; i < 25; ++i) ASSERT_TRUE(publish_to("news.item")) << i;
  auto length = command({"XLEN", bounded.stream_of("news.item")});
  ASSERT_TRUE(length);
  EXPECT_LE(length->integer, 10);
  // "bills": a group that has not acknowledged anything holds every entry: the 11th is refused
  ASSERT_TRUE(command({"XGROUP", "CREATE", bounded.stream_of("bills.due"), "slow", "$", "MKSTREAM"}));
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(publish_to("bills.due")) << i;
  auto refused = publish_to("bills.due");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::limit_exceeded);
  EXPECT_EQ(refused.error().field, "max_pending");
}

TEST_F(RedisEventBusTest, ARedisRestartWithAofMidStreamLosesNoConfirmedEvent) {
  const std::vector<std::string> aof{"--appendonly", "yes", "--appendfsync", "always"};
  start_redis(aof);
  std::multiset<std::string> handled;
  auto sub = subscribe(options("orders.*", "audit"), recorder(handled));
  ASSERT_TRUE(sub);
  std::set<std::string> confirmed;
  for (int i = 0; i < 300; ++i) {
    auto id = publish("orders.created");
    ASSERT_TRUE(id);
    confirmed.insert(*id);
  }
  ASSERT_TRUE(testing::wait_until([&] { return count(handled) >= 100; }, 20s));
  EXPECT_NE(redis.stop(SIGKILL), -1);
  auto refused = publish("orders.created");
  EXPECT_FALSE(refused) << "while Redis is down a publish is refused, not dropped";
  start_redis(aof);  // same port and directory: the AOF is replayed
  for (int i = 0; i < 300; ++i) {
    auto id = publish("orders.created");
    ASSERT_TRUE(id) << id.error().describe();
    confirmed.insert(*id);
  }
  ASSERT_TRUE(testing::wait_until(
      [&] {
        std::lock_guard lock(mutex);
        for (const auto& id : confirmed) {
          if (handled.count(id) == 0) return false;
        }
        return true;
      },
      30s))
      << "handled " << count(handled) << " of " << confirmed.size();
}

}  // namespace
}  // namespace svckit::events
