// MemoryEventBus on an io thread: consumer groups share the load, broadcast listeners each get
// every event, failures retry into dead letters, priorities order a group's backlog, ids are
// de-duplicated within a window, targeted events reach only their service, and a full queue
// refuses a publish (never a silent drop).
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <mutex>
#include <set>

#include "svckit/events/event_bus.hpp"
#include "svckit/events/metered_event_bus.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/metric_value.hpp"
#include "svckit/testing/process.hpp"

namespace svckit::events {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

class MemoryEventBusTest : public ::testing::Test {
 protected:
  SubscribeOptions options(const std::string& pattern, const std::string& group = {}) {
    SubscribeOptions o;
    o.pattern = pattern;
    o.group = group;
    o.retry_backoff = {BackoffKind::full_jitter, 1ms, 5ms, 2.0};
    return o;
  }
  /// A handler that records the event's type and data["n"], yielding first (so group members interleave).
  EventHandler recorder(std::vector<std::string>& log) {
    return [&log, this](const Event& e) -> Awaitable<Result<void>> {
      co_await asio::post(io.executor(), asio::use_awaitable);
      std::lock_guard lock(mutex);
      log.push_back(e.type + "#" + e.data.value("n", std::string()));
      co_return Result<void>{};
    };
  }
  Result<std::string> publish(Event e) {
    return io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await bus.publish(e); });
  }
  Result<std::string> publish(const std::string& type, const std::string& n, Priority p = Priority::medium) {
    Event e;
    e.type = type;
    e.data = {{"n", n}};
    e.priority = p;
    return publish(e);
  }
  std::size_t logged(const std::vector<std::string>& log) {
    std::lock_guard lock(mutex);
    return log.size();
  }
  void close(Subscription& s) {
    io.run([&]() -> Awaitable<void> { co_await s.close(); });
  }

  RealTimeSource time;
  testing::FakeRandom random;
  AsioSleeper sleeper;
  testing::IoThread io;  // before the bus: the bus (its parked loops' timers) goes first
  MemoryEventBus bus{time, random, sleeper};
  std::mutex mutex;
};

TEST_F(MemoryEventBusTest, AMeteredBusCountsPublishesHandlerRunsRetriesAndDeadLetters) {
  MetricsRegistry metrics;
  MeteredEventBus metered(bus, metrics, time);
  auto o = options("orders.*", "billing");
  o.max_deliveries = 2;
  std::atomic<int> runs{0};
  // n == "fail" always fails (dead-lettered after 2 deliveries); n == "once" fails its first run.
  std::atomic<bool> failed_once{false};
  auto sub = metered.subscribe(io.executor(), o, [&](const Event& e) -> Awaitable<Result<void>> {
    ++runs;
    const auto n = e.data.value("n", std::string());
    if (n == "fail" || (n == "once" && !failed_once.exchange(true))) {
      co_return make_error(ErrorCode::unavailable, "downstream is down");
    }
    co_return Result<void>{};
  });
  ASSERT_TRUE(sub);
  auto publish_metered = [&](const std::string& type, const std::string& n) {
    Event e;
    e.type = type;
    e.data = {{"n", n}};
    return io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await metered.publish(e); });
  };
  ASSERT_TRUE(publish_metered("orders.created", "a"));
  ASSERT_TRUE(publish_metered("orders.created", "once"));
  ASSERT_TRUE(publish_metered("orders.paid", "fail"));
  Event bad;
  bad.type = "Not A Type";
  EXPECT_FALSE(io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await metered.publish(bad); }));
  // a: 1 run; once: 2 runs; fail: 2 runs, then a dead letter.
  ASSERT_TRUE(testing::wait_until([&] { return (*sub)->stats().dead_lettered == 1 && runs == 5; }, 10s));
  const auto text = metrics.render_prometheus();
  auto value = [&](const std::string& series) { return testing::metric_value(text, series).value_or(-1); };
  EXPECT_EQ(value(R"(svckit_events_published_total{type="orders.created",result="ok"})"), 2) << text;
  EXPECT_EQ(value(R"(svckit_events_published_total{type="orders.paid",result="ok"})"), 1);
  EXPECT_EQ(value(R"(svckit_events_published_total{type="Not A Type",result="error"})"), 1);
  const std::string labels = R"({group="billing",pattern="orders.*")";
  EXPECT_EQ(value("svckit_events_handled_total" + labels + R"(,result="ok"})"), 2);
  EXPECT_EQ(value("svckit_events_handled_total" + labels + R"(,result="error"})"), 3);
  EXPECT_EQ(value("svckit_events_delivered_total" + labels + "}"), 5);
  EXPECT_EQ(value("svckit_events_retried_total" + labels + "}"), 2);
  EXPECT_EQ(value("svckit_events_dead_lettered_total" + labels + "}"), 1);
  EXPECT_EQ(value(R"(svckit_events_lag_seconds_count{group="billing"})"), 5);
  EXPECT_EQ(value(R"(svckit_events_handler_seconds_count{group="billing"})"), 5);
  close(**sub);
  sub->reset();  // its collector goes with it
  EXPECT_NO_THROW(metrics.render_prometheus());
}

TEST_F(MemoryEventBusTest, ATracedBusMakesEachHandlerRunAChildOfItsPublish) {
  struct Collect final : trace::SpanSink {
    void on_end(trace::SpanData span) override {
      std::lock_guard lock(mutex);
      spans.push_back(std::move(span));
    }
    std::mutex mutex;
    std::vector<trace::SpanData> spans;
  } sink;
  trace::Tracer tracer(time, random, {1.0}, &sink);
  MetricsRegistry metrics;
  MeteredEventBus traced(bus, metrics, time, &tracer);
  std::atomic<int> runs{0};
  std::mutex seen_mutex;
  std::vector<std::pair<std::string, std::string>> seen;  // each run's traceparent and tracestate
  auto o = options("orders.*", "billing");
  o.max_deliveries = 2;
  auto sub = traced.subscribe(io.executor(), o, [&](const Event& event) -> Awaitable<Result<void>> {
    {
      std::lock_guard lock(seen_mutex);
      seen.emplace_back(event.traceparent, event.tracestate);
    }
    // The first run fails (its span is an error), the redelivery succeeds.
    if (++runs == 1) co_return make_error(ErrorCode::unavailable, "try again");
    co_return Result<void>{};
  });
  ASSERT_TRUE(sub);
  // The publisher is inside a trace (an order's request): the publish span continues it.
  auto order = tracer.start_span("GET /orders/{id}", trace::SpanKind::server);
  const auto order_context = order.context();
  Event e;
  e.type = "orders.created";
  e.traceparent = order_context.traceparent();
  e.tracestate = "shop=7";
  ASSERT_TRUE(io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await traced.publish(e); }));
  order.end();
  ASSERT_TRUE(testing::wait_until([&] { return (*sub)->stats().handled == 1; }, 10s));
  close(**sub);
  std::lock_guard lock(sink.mutex);
  ASSERT_EQ(sink.spans.size(), 4U);  // publish, server, two handler runs (order of ending varies)
  const trace::SpanData* publish = nullptr;
  std::vector<const trace::SpanData*> runs_seen;
  for (const auto& s : sink.spans) {
    EXPECT_EQ(s.context.trace_id, order_context.trace_id) << s.name;
    if (s.kind == trace::SpanKind::producer) publish = &s;
    if (s.kind == trace::SpanKind::consumer) runs_seen.push_back(&s);
  }
  ASSERT_NE(publish, nullptr);
  EXPECT_EQ(publish->name, "publish orders.created");
  EXPECT_EQ(publish->parent_span_id, order_context.span_id);
  ASSERT_EQ(runs_seen.size(), 2U);
  int errors = 0;
  EXPECT_EQ(publish->context.tracestate, "shop=7");
  std::lock_guard seen_lock(seen_mutex);
  ASSERT_EQ(seen.size(), 2U);
  for (const auto* r : runs_seen) {
    EXPECT_EQ(r->name, "process orders.created");
    EXPECT_EQ(r->parent_span_id, publish->context.span_id);
    EXPECT_EQ(r->context.tracestate, "shop=7") << "tracestate travels with the event";
    errors += r->status == trace::StatusCode::error ? 1 : 0;
    // The handler saw its own run's context, so what it calls joins the run.
    const auto tp = r->context.traceparent();
    EXPECT_TRUE(std::any_of(seen.begin(), seen.end(), [&](const auto& s) { return s.first == tp; })) << tp;
  }
  EXPECT_EQ(errors, 1);
}

TEST_F(MemoryEventBusTest, AGroupSharesTheLoadAndListenersEachGetEveryEvent) {
  std::vector<std::string> a, b, listener1, listener2, users;
  auto sa = bus.subscribe(io.executor(), options("orders.*", "billing"), recorder(a));
  auto sb = bus.subscribe(io.executor(), options("orders.*", "billing"), recorder(b));
  auto l1 = bus.subscribe(io.executor(), options("orders.>"), recorder(listener1));
  auto l2 = bus.subscribe(io.executor(), options("*.created"), recorder(listener2));
  auto lu = bus.subscribe(io.executor(), options("users.*"), recorder(users));
  ASSERT_TRUE(sa && sb && l1 && l2 && lu);
  constexpr int kEvents = 200;
  for (int i = 0; i < kEvents; ++i) ASSERT_TRUE(publish("orders.created", std::to_string(i)));
  ASSERT_TRUE(testing::wait_until(
      [&] { return logged(a) + logged(b) == kEvents && logged(listener1) == kEvents && logged(listener2) == kEvents; },
      10s));
  std::lock_guard lock(mutex);
  std::multiset<std::string> group(a.begin(), a.end());
  group.insert(b.begin(), b.end());
  for (int i = 0; i < kEvents; ++i) {
    EXPECT_EQ(group.count("orders.created#" + std::to_string(i)), 1u) << "once per group";
  }
  EXPECT_GT(a.size(), 0u) << "both members took a share";
  EXPECT_GT(b.size(), 0u);
  EXPECT_TRUE(users.empty());
}

TEST_F(MemoryEventBusTest, AFailingHandlerIsRetriedThenTheEventIsDeadLettered) {
  std::atomic<int> calls{0};
  auto o = options("orders.*", "billing");
  o.max_deliveries = 3;
  auto sub = bus.subscribe(io.executor(), o, [&](const Event&) -> Awaitable<Result<void>> {
    ++calls;
    co_return make_error(ErrorCode::unavailable, "ledger is down");
  });
  ASSERT_TRUE(sub);
  auto id = publish("orders.created", "1");
  ASSERT_TRUE(id);
  ASSERT_TRUE(testing::wait_until([&] { return (*sub)->stats().dead_lettered == 1; }, 10s));
  EXPECT_EQ(calls.load(), 3);
  EXPECT_EQ((*sub)->stats().retried, 2u);
  auto dead = io.run(
      [&]() -> Awaitable<Result<std::vector<DeadLetter>>> { co_return co_await bus.dead_letters("billing", 10); });
  ASSERT_TRUE(dead);
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ(dead->front().event.id, *id);
  EXPECT_EQ(dead->front().deliveries, 3);
  EXPECT_NE(dead->front().error.find("ledger is down"), std::string::npos);
}

TEST_F(MemoryEventBusTest, AGroupKeepsItsBacklogWhileNobodyListensAndServesHighPriorityFirst) {
  std::vector<std::string> log;
  auto first = bus.subscribe(io.executor(), options("jobs.*", "workers"), recorder(log));
  ASSERT_TRUE(first);
  close(**first);  // the group stays: events wait for the next member
  ASSERT_TRUE(publish("jobs.run", "low", Priority::low));
  ASSERT_TRUE(publish("jobs.run", "medium", Priority::medium));
  ASSERT_TRUE(publish("jobs.run", "high", Priority::high));
  auto second = bus.subscribe(io.executor(), options("jobs.*", "workers"), recorder(log));
  ASSERT_TRUE(second);
  ASSERT_TRUE(testing::wait_until([&] { return logged(log) == 3; }, 10s));
  std::lock_guard lock(mutex);
  EXPECT_EQ(log, (std::vector<std::string>{"jobs.run#high", "jobs.run#medium", "jobs.run#low"}));
}

TEST_F(MemoryEventBusTest, RepublishedIdsAreDeduplicatedWithinTheWindow) {
  std::vector<std::string> deduped, all;
  auto o = options("orders.*", "dedupe");
  o.dedupe_window = 10s;
  auto with = bus.subscribe(io.executor(), o, recorder(deduped));
  auto without = bus.subscribe(io.executor(), options("orders.*", "plain"), recorder(all));
  ASSERT_TRUE(with && without);
  Event e;
  e.id = "order-42-created";
  e.type = "orders.created";
  e.data = {{"n", "42"}};
  ASSERT_TRUE(publish(e));
  ASSERT_TRUE(publish(e));  // a publisher's retry
  // delivered counts first, duplicates after the window was asked: wait for both.
  ASSERT_TRUE(testing::wait_until(
      [&] {
        const auto s = (*with)->stats();
        return logged(all) == 2 && s.delivered == 2 && s.duplicates + logged(deduped) == 2;
      },
      10s));
  EXPECT_EQ(logged(deduped), 1u);
  EXPECT_EQ((*with)->stats().duplicates, 1u);
}

TEST_F(MemoryEventBusTest, TargetedEventsReachOnlyTheirService) {
  std::vector<std::string> billing, shipping, anyone;
  auto ob = options("orders.*", "b");
  ob.service = "billing";
  auto os = options("orders.*", "s");
  os.service = "shipping";
  auto sb = bus.subscribe(io.executor(), ob, recorder(billing));
  auto ss = bus.subscribe(io.executor(), os, recorder(shipping));
  auto sa = bus.subscribe(io.executor(), options("orders.*"), recorder(anyone));
  ASSERT_TRUE(sb && ss && sa);
  auto id = io.run([&]() -> Awaitable<Result<std::string>> {
    // Named values, not literals or braced lists, inside co_await (GCC 12).
    std::string type = "orders.paid";
    nlohmann::json data = {{"n", "7"}};
    std::string target = "billing";
    co_return co_await publish_event(bus, std::move(type), std::move(data), std::move(target), Priority::high);
  });
  ASSERT_TRUE(id);
  ASSERT_TRUE(testing::wait_until([&] { return logged(billing) == 1 && logged(anyone) == 1; }, 10s));
  EXPECT_EQ(logged(shipping), 0u);
}

TEST_F(MemoryEventBusTest, AFullQueueRefusesThePublishAndBadInputNamesTheField) {
  MemoryEventBus small(time, random, sleeper, {2, 10});
  auto sub = small.subscribe(io.executor(), options("a.*", "slow"),
                             [](const Event&) -> Awaitable<Result<void>> { co_return Result<void>{}; });
  ASSERT_TRUE(sub);
  close(**sub);  // no member: the backlog grows
  auto publish_small = [&](const std::string& type) {
    Event e;
    e.type = type;
    return io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await small.publish(e); });
  };
  ASSERT_TRUE(publish_small("a.x"));
  ASSERT_TRUE(publish_small("a.x"));
  auto full = publish_small("a.x");
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error().code, ErrorCode::limit_exceeded);
  EXPECT_EQ(full.error().field, "max_pending");
  EXPECT_TRUE(publish_small("b.x")) << "other types are not held up";
  EXPECT_EQ(publish_small("Bad Type").error().field, "type");
  std::vector<std::string> unused;
  auto bad = options("orders.*");
  bad.max_deliveries = 0;
  EXPECT_EQ(small.subscribe(io.executor(), bad, recorder(unused)).error().field, "max_deliveries");
  auto other_pattern = options("a.>", "slow");
  EXPECT_EQ(small.subscribe(io.executor(), other_pattern, recorder(unused)).error().field, "pattern")
      << "a group's members subscribe to one pattern";
}

}  // namespace
}  // namespace svckit::events
