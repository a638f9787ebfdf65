// One event-bus contract, run unchanged against every backend — in-memory, Redis Streams, NATS
// JetStream and RabbitMQ — each opened by URL through connect_event_bus, each against its real
// server: a group shares the events (each to one member) while a listener gets every one; a
// failing handler is retried, then dead-lettered; a re-published id is handled once within the
// window; targeted events reach only their service; a group keeps its events while no member is
// subscribed; after close() nothing more is delivered. Backend-specific behaviour (crash recovery,
// full queues, pending-entry takeover) stays in each backend's own test file.
#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <filesystem>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>

#include "svckit/events/event_bus_url.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"

namespace svckit::events {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

enum class Backend { memory, redis, nats, amqp };
void PrintTo(Backend b, std::ostream* out) {
  *out << (b == Backend::memory ? "memory" : b == Backend::redis ? "redis" : b == Backend::nats ? "nats" : "amqp");
}

/// The brokers, each started once for the whole suite (on first use), stopped at exit.
class Brokers {
 public:
  static Brokers& get() {
    static Brokers brokers;
    return brokers;
  }
  /// The base URL of `backend`'s server, or an error saying why it did not start.
  Result<std::string> url(Backend backend) {
    std::lock_guard lock(mutex_);
    switch (backend) {
      case Backend::memory:
        return std::string("memory://");
      case Backend::redis:
        if (!redis_) {
          redis_ = testing::start_redis(dir_.path() / "redis", redis_port_);
          if (!*redis_) return redis_->error();
        }
        if (!*redis_) return redis_->error();
        return "redis://127.0.0.1:" + std::to_string(redis_port_);
      case Backend::nats:
        if (!nats_) nats_ = testing::start_nats(dir_.path() / "nats", nats_port_);
        if (!*nats_) return nats_->error();
        return "nats://127.0.0.1:" + std::to_string(nats_port_);
      case Backend::amqp:
        if (!rabbit_started_) {
          rabbit_started_ = true;
          rabbit_error_ = testing::start_rabbitmq(dir_.path() / "rabbit", rabbit_);
        }
        if (!rabbit_error_) return rabbit_error_.error();
        return rabbit_.url() + "?user=guest";
    }
    return make_error(ErrorCode::invalid_argument, "no such backend");
  }

 private:
  Brokers() {
    for (const char* sub : {"redis", "nats", "rabbit"}) std::filesystem::create_directories(dir_.path() / sub);
  }
  std::mutex mutex_;
  testing::TempDir dir_;
  int redis_port_ = 0, nats_port_ = 0;
  std::optional<Result<testing::ChildProcess>> redis_, nats_;
  bool rabbit_started_ = false;
  Result<void> rabbit_error_ = make_error(ErrorCode::unavailable, "not started");
  testing::RabbitMq rabbit_;
};

class EventBusConformance : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    auto base = Brokers::get().url(GetParam());
    ASSERT_TRUE(base) << base.error().message;
    // Each test in its own namespace on the shared broker.
    const std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::string prefix = "conf";
    for (char c : name) {
      if (std::isalnum(static_cast<unsigned char>(c)) != 0) prefix += static_cast<char>(std::tolower(c));
    }
    prefix = prefix.substr(0, 40);
    std::string url = *base;
    if (GetParam() != Backend::memory) {
      url += (url.find('?') == std::string::npos ? "?" : "&") + std::string("prefix=") + prefix;
      if (GetParam() == Backend::nats) url += "&stream=" + prefix;
    }
    auto connected = connect_event_bus(url, io.executor(), time, random, sleeper);
    ASSERT_TRUE(connected) << url << ": " << connected.error().describe();
    bus = std::move(*connected);
  }
  void TearDown() override {
    for (auto& s : subscriptions) io.run([&]() -> Awaitable<void> { co_await s->close(); });
    subscriptions.clear();
    bus.reset();
    io.stop();
  }
  static SubscribeOptions options(const std::string& pattern, const std::string& group = {}) {
    SubscribeOptions o;
    o.pattern = pattern;
    o.group = group;
    o.retry_backoff = {BackoffKind::full_jitter, 1ms, 5ms, 2.0};
    return o;
  }
  /// Records each handled event's id (yielding first, so group members interleave).
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
    // Brokers that attach a subscription in the background: wait until it receives.
    EXPECT_TRUE(testing::wait_until([&] { return subscriptions.back()->ready(); }, 10s));
    return subscriptions.back().get();
  }
  Result<std::string> publish(const std::string& type, std::string id = {}, std::string target = {}) {
    Event e;
    e.type = type;
    e.id = std::move(id);
    e.target = std::move(target);
    e.data = {{"at", "test"}};
    return io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await bus->publish(e); });
  }
  std::size_t count(const std::multiset<std::string>& ids) {
    std::lock_guard lock(mutex);
    return ids.size();
  }

  RealTimeSource time;
  testing::FakeRandom random{11};
  AsioSleeper sleeper;
  testing::IoThread io;
  std::unique_ptr<EventBus> bus;
  std::vector<std::unique_ptr<Subscription>> subscriptions;
  std::mutex mutex;
};

TEST_P(EventBusConformance, AGroupSharesTheEventsAndAListenerGetsEveryOne) {
  std::multiset<std::string> a, b, heard;
  ASSERT_TRUE(subscribe(options("orders.*", "billing"), recorder(a)));
  ASSERT_TRUE(subscribe(options("orders.*", "billing"), recorder(b)));
  ASSERT_TRUE(subscribe(options("orders.*"), recorder(heard)));
  std::set<std::string> published;
  for (int i = 0; i < 40; ++i) {
    auto id = publish("orders.created");
    ASSERT_TRUE(id) << id.error().describe();
    published.insert(*id);
  }
  ASSERT_TRUE(publish("stock.low"));  // matches nobody
  ASSERT_TRUE(testing::wait_until([&] { return count(a) + count(b) == 40 && count(heard) == 40; }, 20s))
      << count(a) << " + " << count(b) << ", listener " << count(heard);
  ASSERT_FALSE(testing::wait_until([&] { return count(a) + count(b) > 40 || count(heard) > 40; }, 200ms));
  std::lock_guard lock(mutex);
  std::multiset<std::string> group(a.begin(), a.end());
  group.insert(b.begin(), b.end());
  EXPECT_EQ(std::set<std::string>(group.begin(), group.end()), published) << "each event to one member, once";
  EXPECT_EQ(std::set<std::string>(heard.begin(), heard.end()), published);
}

TEST_P(EventBusConformance, AFailingHandlerIsRetriedThenDeadLettered) {
  std::atomic<int> calls{0};
  auto o = options("ledger.*", "posting");
  o.max_deliveries = 3;
  auto* sub = subscribe(o, [&](const Event&) -> Awaitable<Result<void>> {
    ++calls;
    co_return make_error(ErrorCode::unavailable, "ledger locked");
  });
  ASSERT_TRUE(sub);
  auto id = publish("ledger.post");
  ASSERT_TRUE(id) << id.error().describe();
  ASSERT_TRUE(testing::wait_until([&] { return sub->stats().dead_lettered == 1; }, 20s)) << calls.load();
  EXPECT_EQ(calls.load(), 3);
  auto dead = io.run(
      [&]() -> Awaitable<Result<std::vector<DeadLetter>>> { co_return co_await bus->dead_letters("posting", 10); });
  ASSERT_TRUE(dead) << dead.error().describe();
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ(dead->front().event.id, *id);
  EXPECT_EQ(dead->front().deliveries, 3);
  EXPECT_NE(dead->front().error.find("ledger locked"), std::string::npos) << dead->front().error;
}

TEST_P(EventBusConformance, ARepublishedIdIsHandledOnceWithinTheWindow) {
  std::multiset<std::string> ids;
  auto o = options("payments.*", "ledger");
  o.dedupe_window = 1min;
  auto* sub = subscribe(o, recorder(ids));
  ASSERT_TRUE(sub);
  ASSERT_TRUE(publish("payments.taken", "pay-1"));
  ASSERT_TRUE(publish("payments.taken", "pay-1"));  // a publisher retrying after a lost confirm
  ASSERT_TRUE(publish("payments.taken", "pay-2"));
  ASSERT_TRUE(testing::wait_until([&] { return count(ids) == 2 && sub->stats().delivered >= 2; }, 20s));
  ASSERT_FALSE(testing::wait_until([&] { return count(ids) > 2; }, 300ms)) << "pay-1 handled twice";
  std::lock_guard lock(mutex);
  EXPECT_EQ(ids, (std::multiset<std::string>{"pay-1", "pay-2"}));
}

TEST_P(EventBusConformance, TargetedEventsReachOnlyTheirService) {
  std::multiset<std::string> billing, shipping;
  auto for_billing = options("orders.*", "billing");
  for_billing.service = "billing";
  auto for_shipping = options("orders.*", "shipping");
  for_shipping.service = "shipping";
  ASSERT_TRUE(subscribe(for_billing, recorder(billing)));
  ASSERT_TRUE(subscribe(for_shipping, recorder(shipping)));
  ASSERT_TRUE(publish("orders.created", "to-billing", "billing"));
  ASSERT_TRUE(publish("orders.created", "to-all"));
  ASSERT_TRUE(testing::wait_until([&] { return count(billing) == 2 && count(shipping) == 1; }, 20s))
      << count(billing) << " " << count(shipping);
  ASSERT_FALSE(testing::wait_until([&] { return count(shipping) > 1; }, 200ms));
  std::lock_guard lock(mutex);
  EXPECT_EQ(shipping, (std::multiset<std::string>{"to-all"}));
}

TEST_P(EventBusConformance, AGroupKeepsItsEventsWhileNoMemberIsSubscribedAndCloseStopsDelivery) {
  std::multiset<std::string> first, second;
  auto* sub = subscribe(options("mail.*", "sender"), recorder(first));
  ASSERT_TRUE(sub);
  io.run([&]() -> Awaitable<void> { co_await sub->close(); });
  std::set<std::string> waiting;
  for (int i = 0; i < 5; ++i) {
    auto id = publish("mail.queued");
    ASSERT_TRUE(id) << id.error().describe();
    waiting.insert(*id);
  }
  ASSERT_FALSE(testing::wait_until([&] { return count(first) > 0; }, 200ms)) << "delivered after close()";
  ASSERT_TRUE(subscribe(options("mail.*", "sender"), recorder(second)));
  ASSERT_TRUE(testing::wait_until([&] { return count(second) == 5; }, 20s)) << count(second);
  std::lock_guard lock(mutex);
  EXPECT_EQ(std::set<std::string>(second.begin(), second.end()), waiting);
}

INSTANTIATE_TEST_SUITE_P(All, EventBusConformance,
                         ::testing::Values(Backend::memory, Backend::redis, Backend::nats, Backend::amqp),
                         [](const auto& info) {
                           std::ostringstream out;
                           PrintTo(info.param, &out);
                           return out.str();
                         });

}  // namespace
}  // namespace svckit::events
