// NatsEventBus against a real nats-server with JetStream: a consumer group shares the events while
// listeners (one on a leading wildcard) get every one; failures retry into the group's dead letters;
// a re-published id is stored once; a publish while the server is down is refused, and a server
// restart mid-stream loses no confirmed event.
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <mutex>
#include <set>

#include "svckit/events/event_bus_url.hpp"
#include "svckit/events/nats_event_bus.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"

namespace svckit::events {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

class NatsEventBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    start_nats();
    connect(2s);
  }
  void connect(std::chrono::milliseconds ack_wait) {
    NatsEventBusOptions o;
    o.servers = {"nats://127.0.0.1:" + std::to_string(port)};
    o.publish_timeout = 1s;
    o.ack_wait = ack_wait;
    auto connected = NatsEventBus::connect(time, random, sleeper, o);
    ASSERT_TRUE(connected) << connected.error().describe();
    bus = std::move(*connected);
  }
  void TearDown() override {
    for (auto& s : subscriptions) io.run([&]() -> Awaitable<void> { co_await s->close(); });
    subscriptions.clear();
    bus.reset();
  }
  void start_nats() {
    auto started = testing::start_nats(dir.path(), port);
    ASSERT_TRUE(started) << started.error().message;
    nats = std::move(*started);
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
  Subscription* subscribe(SubscribeOptions o, EventHandler h) {
    auto s = bus->subscribe(io.executor(), std::move(o), std::move(h));
    EXPECT_TRUE(s) << s.error().describe();
    if (!s) return nullptr;
    subscriptions.push_back(std::move(*s));
    return subscriptions.back().get();
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

  testing::TempDir dir;
  int port = 0;
  testing::ChildProcess nats;
  RealTimeSource time;
  testing::FakeRandom random{7};
  AsioSleeper sleeper;
  testing::IoThread io;
  std::unique_ptr<NatsEventBus> bus;
  std::vector<std::unique_ptr<Subscription>> subscriptions;
  std::mutex mutex;
};

TEST_F(NatsEventBusTest, AGroupSharesTheEventsAndListenersGetEveryOne) {
  std::multiset<std::string> a, b, heard, created;
  ASSERT_TRUE(subscribe(options("orders.*", "billing"), recorder(a)));
  ASSERT_TRUE(subscribe(options("orders.*", "billing"), recorder(b)));
  ASSERT_TRUE(subscribe(options("orders.>"), recorder(heard)));
  ASSERT_TRUE(subscribe(options("*.created"), recorder(created)));
  std::set<std::string> published, published_created;
  for (int i = 0; i < 200; ++i) {
    const std::string type = i % 2 == 0 ? "orders.created" : "orders.paid";
    auto id = publish(type);
    ASSERT_TRUE(id) << id.error().describe();
    published.insert(*id);
    if (i % 2 == 0) published_created.insert(*id);
  }
  ASSERT_TRUE(testing::wait_until(
      [&] { return count(a) + count(b) == 200 && count(heard) == 200 && count(created) == 100; }, 20s))
      << count(a) << " + " << count(b) << ", listeners " << count(heard) << ", " << count(created);
  std::lock_guard lock(mutex);
  std::set<std::string> group(a.begin(), a.end());
  group.insert(b.begin(), b.end());
  EXPECT_EQ(group, published) << "each event once in the group";
  EXPECT_EQ(std::set<std::string>(heard.begin(), heard.end()), published);
  EXPECT_EQ(std::set<std::string>(created.begin(), created.end()), published_created);
  EXPECT_GT(a.size(), 0u);
  EXPECT_GT(b.size(), 0u);
  EXPECT_EQ(bus->subscribe(io.executor(), options("orders.paid", "billing"), recorder(a)).error().field, "pattern")
      << "a group keeps its pattern";
}

TEST_F(NatsEventBusTest, AGroupKeepsItsEventsWhileNoMemberIsSubscribed) {
  bus.reset();
  connect(60s);  // the events below must not wait for a redelivery after ack_wait
  std::multiset<std::string> handled;
  auto* first = subscribe(options("stock.*", "restock"), recorder(handled));
  ASSERT_TRUE(first);
  io.run([&]() -> Awaitable<void> { co_await first->close(); });
  std::set<std::string> published;
  for (int i = 0; i < 20; ++i) {
    auto id = publish("stock.low");
    ASSERT_TRUE(id) << id.error().describe();
    published.insert(*id);
  }
  ASSERT_TRUE(subscribe(options("stock.*", "restock"), recorder(handled)));
  ASSERT_TRUE(testing::wait_until([&] { return count(handled) == 20; }, 10s)) << count(handled);
  std::lock_guard lock(mutex);
  EXPECT_EQ(std::set<std::string>(handled.begin(), handled.end()), published);
}

TEST_F(NatsEventBusTest, FailuresRetryIntoTheDeadLetterStream) {
  std::atomic<int> calls{0};
  auto o = options("ledger.*", "posting");
  o.max_deliveries = 3;
  // A whole-millisecond delay: NAK-with-delay once took it as nanoseconds x 10^6 (20 ms -> 5.5 h).
  o.retry_backoff = {BackoffKind::fixed, 20ms, 20ms, 1.0};
  auto* sub = subscribe(o, [&](const Event&) -> Awaitable<Result<void>> {
    ++calls;
    co_return make_error(ErrorCode::unavailable, "ledger locked");
  });
  ASSERT_TRUE(sub);
  auto id = publish("ledger.post");
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
  // Terminated, not redelivered: after the ack wait the handler still ran three times.
  ASSERT_FALSE(testing::wait_until([&] { return calls.load() > 3; }, 2500ms));
}

TEST_F(NatsEventBusTest, ARepublishedIdIsStoredOnceAndHandledOnce) {
  std::multiset<std::string> handled;
  auto o = options("pay.*", "settle");
  o.dedupe_window = 1min;
  ASSERT_TRUE(subscribe(o, recorder(handled)));
  auto first = publish("pay.done", "pay-1");
  auto again = publish("pay.done", "pay-1");  // a publisher retrying after a lost confirmation
  auto other = publish("pay.done", "pay-2");
  ASSERT_TRUE(first && again && other);
  ASSERT_TRUE(testing::wait_until([&] { return count(handled) == 2; }, 10s));
  ASSERT_FALSE(testing::wait_until([&] { return count(handled) > 2; }, 500ms));
  std::lock_guard lock(mutex);
  EXPECT_EQ(handled, (std::multiset<std::string>{"pay-1", "pay-2"}));
}

TEST_F(NatsEventBusTest, AServerRestartMidStreamLosesNoConfirmedEvent) {
  std::multiset<std::string> handled;
  ASSERT_TRUE(subscribe(options("orders.*", "audit"), recorder(handled)));
  std::set<std::string> confirmed;
  for (int i = 0; i < 300; ++i) {
    auto id = publish("orders.created");
    ASSERT_TRUE(id) << id.error().describe();
    confirmed.insert(*id);
  }
  ASSERT_TRUE(testing::wait_until([&] { return count(handled) >= 100; }, 20s));
  // SIGTERM: JetStream's file store flushes on shutdown (it acknowledges before its write reaches
  // the file, so a SIGKILL may lose the last acknowledged messages — as with Redis without fsync).
  EXPECT_NE(nats.stop(SIGTERM), -1);
  auto refused = publish("orders.created");
  ASSERT_FALSE(refused) << "while the server is down a publish is refused, not dropped";
  EXPECT_EQ(refused.error().code, ErrorCode::unavailable) << refused.error().describe();
  start_nats();  // same port and store
  for (int i = 0; i < 300; ++i) {
    Result<std::string> id = make_error(ErrorCode::unavailable, "not yet");
    for (int attempt = 0; attempt < 50 && !id; ++attempt) id = publish("orders.created", "after-" + std::to_string(i));
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
  EXPECT_GE(bus->reconnects(), 1u);
}

TEST_F(NatsEventBusTest, AnUnconfirmedPublishIsFireAndForgetYetStoredForTheGroup) {
  std::multiset<std::string> handled;
  ASSERT_TRUE(subscribe(options("metrics.*", "collectors"), recorder(handled)));
  std::set<std::string> sent;
  for (int i = 0; i < 50; ++i) {
    Event e;
    e.type = "metrics.cpu";
    e.data = {{"load", i}};
    auto id = bus->publish_unconfirmed(e);
    ASSERT_TRUE(id) << id.error().describe();
    sent.insert(*id);
  }
  ASSERT_TRUE(testing::wait_until([&] { return count(handled) == 50; }, 10s)) << count(handled);
  std::lock_guard lock(mutex);
  EXPECT_EQ(std::set<std::string>(handled.begin(), handled.end()), sent);
  Event bad;
  bad.type = "Metrics";
  EXPECT_EQ(bus->publish_unconfirmed(bad).error().field, "type");
}

TEST_F(NatsEventBusTest, ConnectEventBusPicksTheBackendByUrl) {
  const auto url = "nats://127.0.0.1:" + std::to_string(port) + "?prefix=byurl&stream=BYURL&timeout=2s";
  auto by_url = connect_event_bus(url, io.executor(), time, random, sleeper);
  ASSERT_TRUE(by_url) << by_url.error().describe();
  std::multiset<std::string> handled;
  auto s = (*by_url)->subscribe(io.executor(), options("audit.*", "auditors"), recorder(handled));
  ASSERT_TRUE(s) << s.error().describe();
  Event e;
  e.type = "audit.login";
  auto id = io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await (*by_url)->publish(e); });
  ASSERT_TRUE(id) << id.error().describe();
  ASSERT_TRUE(testing::wait_until([&] { return count(handled) == 1; }, 10s));
  io.run([&]() -> Awaitable<void> { co_await (*s)->close(); });
  s->reset();
  by_url->reset();

  auto memory = connect_event_bus("memory://", io.executor(), time, random, sleeper);
  ASSERT_TRUE(memory);
  const std::vector<std::pair<std::string, std::string>> bad{
      {"kafka://127.0.0.1:9092", "url"}, {"nats://", "url"}, {"nats://127.0.0.1:1?timeout=soon", "timeout"}};
  for (const auto& [text, field] : bad) {
    auto r = connect_event_bus(text, io.executor(), time, random, sleeper);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().field, field) << text << ": " << r.error().describe();
  }
  const int closed = testing::free_port();
  auto down = connect_event_bus("nats://127.0.0.1:" + std::to_string(closed), io.executor(), time, random, sleeper);
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().code, ErrorCode::unavailable) << down.error().describe();
}

}  // namespace
}  // namespace svckit::events
