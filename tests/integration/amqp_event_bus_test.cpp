// AmqpEventBus against a real RabbitMQ node (Debian's rabbitmq-server, started per test): a
// consumer group shares the events while a listener gets every one (and, with a window, handles a
// re-published id once); failures retry into the group's dead letters, a full group refuses
// publishes and a high-priority event overtakes a backlog; a broker crash (SIGKILL) and restart
// mid-stream loses no confirmed event. One node start costs ~10 s, so each test checks several
// things.
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <mutex>
#include <set>

#include "svckit/events/amqp_event_bus.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"

namespace svckit::events {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

class AmqpEventBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = testing::start_rabbitmq(dir.path(), rabbit, node_kind());
    ASSERT_TRUE(started) << started.error().message;
    bus = connect_bus();
    ASSERT_TRUE(bus);
  }
  void TearDown() override {
    for (auto& s : subscriptions) io.run([&]() -> Awaitable<void> { co_await s->close(); });
    subscriptions.clear();
    bus.reset();
  }
  std::unique_ptr<AmqpEventBus> connect_bus(std::size_t max_pending = 1'000'000, std::uint16_t prefetch = 256) {
    auto o = AmqpEventBusOptions::from_url(rabbit.url() + "?user=guest");
    EXPECT_TRUE(o) << o.error().describe();
    o->publish_timeout = 1s;
    o->max_pending = max_pending;
    o->prefetch = prefetch;
    auto connected = AmqpEventBus::connect(time, random, sleeper, *o);
    EXPECT_TRUE(connected) << connected.error().describe();
    return connected ? std::move(*connected) : nullptr;
  }
  /// A vhost of the run's shared node, unless the test crashes the broker.
  virtual testing::RabbitMqNode node_kind() const { return testing::RabbitMqNode::shared_if_any; }
  SubscribeOptions options(const std::string& pattern, const std::string& group = {}) {
    SubscribeOptions o;
    o.pattern = pattern;
    o.group = group;
    o.retry_backoff = {BackoffKind::full_jitter, 1ms, 5ms, 2.0};
    return o;
  }
  EventHandler recorder(std::multiset<std::string>& ids) {
    return [&ids, this](const Event& e) -> Awaitable<Result<void>> {
      co_await asio::post(io.executor(), asio::use_awaitable);
      std::lock_guard lock(mutex);
      ids.insert(e.id);
      co_return Result<void>{};
    };
  }
  Subscription* subscribe(EventBus& on, SubscribeOptions o, EventHandler h) {
    auto s = on.subscribe(io.executor(), std::move(o), std::move(h));
    EXPECT_TRUE(s) << s.error().describe();
    if (!s) return nullptr;
    subscriptions.push_back(std::move(*s));
    return subscriptions.back().get();
  }
  Result<std::string> publish(EventBus& on, const std::string& type, std::string id = {}) {
    Event e;
    e.type = type;
    e.id = std::move(id);
    e.data = {{"at", "test"}};
    return io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await on.publish(e); });
  }
  std::size_t count(const std::multiset<std::string>& ids) {
    std::lock_guard lock(mutex);
    return ids.size();
  }
  bool all_handled(const std::set<std::string>& ids, const std::multiset<std::string>& handled) {
    std::lock_guard lock(mutex);
    for (const auto& id : ids) {
      if (handled.count(id) == 0) return false;
    }
    return true;
  }

  testing::TempDir dir;
  testing::RabbitMq rabbit;
  RealTimeSource time;
  testing::FakeRandom random{5};
  AsioSleeper sleeper;
  testing::IoThread io;
  std::unique_ptr<AmqpEventBus> bus;
  std::vector<std::unique_ptr<Subscription>> subscriptions;
  std::mutex mutex;
};

TEST_F(AmqpEventBusTest, AGroupSharesTheEventsAListenerGetsEveryOneAndARepublishedIdIsHandledOnce) {
  std::multiset<std::string> a, b, heard;
  ASSERT_TRUE(subscribe(*bus, options("orders.*", "billing"), recorder(a)));
  ASSERT_TRUE(subscribe(*bus, options("orders.*", "billing"), recorder(b)));
  auto listener = options("orders.>");
  listener.dedupe_window = 1min;  // per subscriber: the listener drops the second order-1
  ASSERT_TRUE(subscribe(*bus, listener, recorder(heard)));
  std::set<std::string> published;
  for (int i = 0; i < 200; ++i) {
    auto id = publish(*bus, i % 2 == 0 ? "orders.created" : "orders.line.added");
    ASSERT_TRUE(id) << id.error().describe();
    published.insert(*id);
  }
  ASSERT_TRUE(testing::wait_until([&] { return count(a) + count(b) == 100 && count(heard) == 200; }, 20s))
      << count(a) << " + " << count(b) << ", listener " << count(heard);
  auto first = publish(*bus, "orders.created", "order-1");
  auto again = publish(*bus, "orders.created", "order-1");  // a publisher retrying after a lost confirm
  ASSERT_TRUE(first && again);
  // The group (no window) gets both copies, at least once; the listener handles order-1 once.
  ASSERT_TRUE(testing::wait_until([&] { return count(a) + count(b) == 102; }, 10s));
  ASSERT_TRUE(testing::wait_until([&] { return count(heard) == 201; }, 10s));
  ASSERT_FALSE(testing::wait_until([&] { return count(heard) > 201; }, 300ms)) << "de-duplicated by id";
  EXPECT_EQ(subscriptions[2]->stats().duplicates, 1u);
  std::lock_guard lock(mutex);
  EXPECT_EQ(std::set<std::string>(heard.begin(), heard.end()).size(), 201u);
  std::multiset<std::string> group_ids(a.begin(), a.end());
  group_ids.insert(b.begin(), b.end());
  group_ids.erase("order-1");
  EXPECT_EQ(std::set<std::string>(group_ids.begin(), group_ids.end()).size(), group_ids.size()) << "each once";
  EXPECT_EQ(group_ids.size(), 100u);
  EXPECT_GT(a.size(), 0u);
  EXPECT_GT(b.size(), 0u);
  EXPECT_EQ(bus->subscribe(io.executor(), options("*.created", "g"), recorder(a)).error().field, "pattern");
}

TEST_F(AmqpEventBusTest, FailuresRetryIntoTheDeadLettersAFullGroupRefusesAndHighPriorityOvertakes) {
  std::atomic<int> calls{0};
  auto o = options("ledger.*", "posting");
  o.max_deliveries = 3;
  auto* sub = subscribe(*bus, o, [&](const Event&) -> Awaitable<Result<void>> {
    ++calls;
    co_return make_error(ErrorCode::unavailable, "ledger locked");
  });
  ASSERT_TRUE(sub);
  auto id = publish(*bus, "ledger.post");
  ASSERT_TRUE(id) << id.error().describe();
  ASSERT_TRUE(testing::wait_until([&] { return sub->stats().dead_lettered == 1; }, 10s)) << calls.load();
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ(sub->stats().retried, 2u);
  auto dead = io.run(
      [&]() -> Awaitable<Result<std::vector<DeadLetter>>> { co_return co_await bus->dead_letters("posting", 10); });
  ASSERT_TRUE(dead) << dead.error().describe();
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ(dead->front().event.id, *id);
  EXPECT_EQ(dead->front().deliveries, 3);
  EXPECT_NE(dead->front().error.find("ledger locked"), std::string::npos);
  auto twice = io.run(
      [&]() -> Awaitable<Result<std::vector<DeadLetter>>> { co_return co_await bus->dead_letters("posting", 10); });
  ASSERT_TRUE(twice);
  EXPECT_EQ(twice->size(), 1u) << "reading dead letters does not take them";

  // A group of 5 whose one member holds one event: the 7th publish is refused by the broker.
  auto small = connect_bus(5, 1);
  ASSERT_TRUE(small);
  std::atomic<bool> release{false};
  std::atomic<int> started{0};
  ASSERT_TRUE(subscribe(*small, options("stock.*", "tiny"), [&](const Event&) -> Awaitable<Result<void>> {
    ++started;
    while (!release) co_await sleeper.sleep_for(std::chrono::milliseconds(5));
    co_return Result<void>{};
  }));
  ASSERT_TRUE(publish(*small, "stock.low"));
  ASSERT_TRUE(testing::wait_until([&] { return started.load() == 1; }, 10s));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(publish(*small, "stock.low")) << i;
  auto refused = publish(*small, "stock.low");
  ASSERT_FALSE(refused) << "a full group refuses, never drops";
  EXPECT_EQ(refused.error().code, ErrorCode::limit_exceeded) << refused.error().describe();
  release = true;
  ASSERT_TRUE(testing::wait_until([&] { return started.load() == 6; }, 10s)) << started.load();

  // A backlog is served by priority: while the member holds its one event, three low ones and
  // then a high one queue up; the high one is handled next.
  std::vector<std::string> order;
  std::atomic<bool> hold{true};
  ASSERT_TRUE(subscribe(*small, options("jobs.*", "ordered"), [&](const Event& e) -> Awaitable<Result<void>> {
    while (hold && e.data.value("first", false)) co_await sleeper.sleep_for(std::chrono::milliseconds(5));
    std::lock_guard lock(mutex);
    order.push_back(e.data.value("name", std::string()));
    co_return Result<void>{};
  }));
  auto publish_job = [&](const std::string& name, Priority priority, bool first) {
    Event e;
    e.type = "jobs.run";
    e.priority = priority;
    e.data = {{"name", name}, {"first", first}};
    return io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await small->publish(e); });
  };
  ASSERT_TRUE(publish_job("first", Priority::medium, true));
  for (const char* name : {"low-1", "low-2", "low-3"}) ASSERT_TRUE(publish_job(name, Priority::low, false));
  ASSERT_TRUE(publish_job("urgent", Priority::high, false));
  hold = false;
  ASSERT_TRUE(testing::wait_until(
      [&] {
        std::lock_guard lock(mutex);
        return order.size() == 5;
      },
      10s));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(order, (std::vector<std::string>{"first", "urgent", "low-1", "low-2", "low-3"}));
  }
  for (auto& s : subscriptions) io.run([&]() -> Awaitable<void> { co_await s->close(); });
  subscriptions.clear();
}

/// Kills and restarts its broker: a node of its own.
class AmqpEventBusCrashTest : public AmqpEventBusTest {
 protected:
  testing::RabbitMqNode node_kind() const override { return testing::RabbitMqNode::own; }
};

TEST_F(AmqpEventBusCrashTest, ABrokerCrashAndRestartMidStreamLosesNoConfirmedEvent) {
  std::multiset<std::string> handled;
  ASSERT_TRUE(subscribe(*bus, options("orders.*", "audit"), recorder(handled)));
  std::set<std::string> confirmed;
  // Each publish waits 1 s for its confirm (the bus's publish_timeout here, so that a refusal is
  // quick); a loaded machine's broker may fsync slower than that. A publish that timed out is sent
  // again under the same id until confirmed: subscribers see that id once or more, never zero.
  const auto publish_confirmed = [&](const std::string& id) -> Result<std::string> {
    Result<std::string> published = make_error(ErrorCode::unavailable, "not yet");
    const auto give_up = std::chrono::steady_clock::now() + 90s;
    while (!published && published.error().code == ErrorCode::unavailable &&
           std::chrono::steady_clock::now() < give_up) {
      published = publish(*bus, "orders.created", id);
    }
    return published;
  };
  for (int i = 0; i < 300; ++i) {
    auto id = publish_confirmed("before-" + std::to_string(i));
    ASSERT_TRUE(id) << id.error().describe();
    confirmed.insert(*id);
  }
  ASSERT_TRUE(testing::wait_until([&] { return count(handled) >= 100; }, 60s));
  // Persistent events on a durable queue are confirmed once on disk: a crash keeps them.
  EXPECT_NE(rabbit.broker.stop(SIGKILL), -1);
  auto refused = publish(*bus, "orders.created");
  ASSERT_FALSE(refused) << "while the broker is down a publish is refused, not dropped";
  EXPECT_EQ(refused.error().code, ErrorCode::unavailable) << refused.error().describe();
  auto restarted = testing::start_rabbitmq(dir.path(), rabbit);  // same port and data
  ASSERT_TRUE(restarted) << restarted.error().message;
  for (int i = 0; i < 300; ++i) {
    auto id = publish_confirmed("after-" + std::to_string(i));
    ASSERT_TRUE(id) << id.error().describe();
    confirmed.insert(*id);
  }
  ASSERT_TRUE(testing::wait_until([&] { return all_handled(confirmed, handled); }, 120s))
      << "handled " << count(handled) << " of " << confirmed.size();
  EXPECT_GE(bus->reconnects(), 1u);
}

TEST(AmqpEventBusOptionsTest, UrlsParseAndBadOnesNameTheField) {
  ::setenv("SVCKIT_TEST_MQ_PASSWORD", "secret", 1);
  auto o = AmqpEventBusOptions::from_url(
      "amqp://mq.local:5673/orders?user=app&password_env=SVCKIT_TEST_MQ_PASSWORD&prefetch=16&timeout=2s");
  ASSERT_TRUE(o) << o.error().describe();
  EXPECT_EQ(o->user, "app");
  EXPECT_EQ(o->password, "secret");
  EXPECT_EQ(o->host, "mq.local");
  EXPECT_EQ(o->port, 5673);
  EXPECT_EQ(o->vhost, "orders");
  EXPECT_EQ(o->prefetch, 16);
  EXPECT_EQ(o->publish_timeout, std::chrono::seconds(2));
  auto plain = AmqpEventBusOptions::from_url("amqp://mq/%2F");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->port, 5672);
  EXPECT_EQ(plain->vhost, "/");
  const std::vector<std::pair<std::string, std::string>> bad{
      {"http://mq", "url"},
      {"amqp://app:secret@mq", "url"},
      {"amqp://mq:99999", "url"},
      {"amqp://mq?prefetch=0", "prefetch"},
      {"amqp://mq?timeout=soon", "timeout"},
      {"amqp://mq?password_env=SVCKIT_TEST_UNSET_VARIABLE", "password_env"},
      {"amqp://mq?heartbeat=5", "heartbeat"}};
  for (const auto& [url, field] : bad) {
    auto r = AmqpEventBusOptions::from_url(url);
    ASSERT_FALSE(r) << url;
    EXPECT_EQ(r.error().field, field) << url << ": " << r.error().describe();
  }
}

}  // namespace
}  // namespace svckit::events
