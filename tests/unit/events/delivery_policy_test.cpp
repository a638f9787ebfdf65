// DeliveryPolicy: the decisions every event bus makes about one delivery (filter, de-duplicate,
// retry with backoff, dead-letter), on a simulated clock.
#include "svckit/events/delivery_policy.hpp"

#include <gtest/gtest.h>

#include "svckit/testing/simulated_clock.hpp"

namespace svckit::events {
namespace {

using namespace std::chrono_literals;
using Kind = DeliveryPolicy::Verdict::Kind;

Event event(const std::string& id, const std::string& type = "orders.created", const std::string& target = "") {
  Event e;
  e.id = id;
  e.type = type;
  e.target = target;
  return e;
}

SubscribeOptions options() {
  SubscribeOptions o;
  o.pattern = "orders.*";
  o.service = "billing";
  o.max_deliveries = 3;
  o.retry_backoff = {BackoffKind::exponential, 100ms, 10'000ms, 2.0};
  o.dedupe_window = 60s;
  return o;
}

TEST(DeliveryPolicy, SkipsWhatIsNotForItAndCountsEveryDelivery) {
  testing::SimulatedClock clock;
  DeliveryPolicy policy(clock, 1, options());
  EXPECT_EQ(policy.screen(event("a", "payments.done"), 1), DeliveryPolicy::Screen::skip) << "pattern";
  EXPECT_EQ(policy.screen(event("b", "orders.created", "shipping"), 1), DeliveryPolicy::Screen::skip) << "target";
  EXPECT_EQ(policy.screen(event("c", "orders.created", "billing"), 1), DeliveryPolicy::Screen::deliver);
  EXPECT_EQ(policy.screen(event("d"), 1), DeliveryPolicy::Screen::deliver) << "no target: everyone";
  const auto stats = policy.stats();
  EXPECT_EQ(stats.delivered, 4u);
  EXPECT_EQ(stats.duplicates, 0u);
}

TEST(DeliveryPolicy, AFirstDeliveryOfASeenIdIsADuplicateButARedeliveryIsNot) {
  testing::SimulatedClock clock;
  DeliveryPolicy policy(clock, 1, options());
  EXPECT_EQ(policy.screen(event("a"), 1), DeliveryPolicy::Screen::deliver);
  EXPECT_EQ(policy.screen(event("a"), 1), DeliveryPolicy::Screen::duplicate) << "published twice";
  EXPECT_EQ(policy.screen(event("a"), 2), DeliveryPolicy::Screen::deliver)
      << "a redelivery: the first delivery's handler may have died";
  clock.advance(61s);
  EXPECT_EQ(policy.screen(event("a"), 1), DeliveryPolicy::Screen::deliver) << "outside the window";
  EXPECT_EQ(policy.stats().duplicates, 1u);
}

TEST(DeliveryPolicy, TheMembersOfAGroupCanShareOneWindow) {
  testing::SimulatedClock clock;
  auto shared = std::make_shared<SharedDedupeWindow>(clock, 60s);
  DeliveryPolicy first(clock, 1, options(), shared);
  DeliveryPolicy second(clock, 2, options(), shared);
  EXPECT_EQ(first.screen(event("a"), 1), DeliveryPolicy::Screen::deliver);
  EXPECT_EQ(second.screen(event("a"), 1), DeliveryPolicy::Screen::duplicate);
  auto none = options();
  none.dedupe_window = 0ms;
  DeliveryPolicy without(clock, 3, none);
  EXPECT_EQ(without.screen(event("a"), 1), DeliveryPolicy::Screen::deliver);
  EXPECT_EQ(without.screen(event("a"), 1), DeliveryPolicy::Screen::deliver) << "no window: no de-duplication";
}

TEST(DeliveryPolicy, RetriesWithTheBackoffOfEachDeliveryThenDeadLetters) {
  testing::SimulatedClock clock;
  DeliveryPolicy policy(clock, 1, options());
  const Result<void> failed = make_error(ErrorCode::unavailable, "db down");
  auto first = policy.after(failed, 1);
  EXPECT_EQ(first.kind, Kind::retry);
  EXPECT_EQ(first.delay, 100ms);
  auto second = policy.after(failed, 2);
  EXPECT_EQ(second.kind, Kind::retry);
  EXPECT_EQ(second.delay, 200ms) << "retry n waits like the n-th backoff";
  auto last = policy.after(failed, 3);
  EXPECT_EQ(last.kind, Kind::dead_letter) << "max_deliveries reached";
  EXPECT_NE(last.reason.find("db down"), std::string::npos) << last.reason;
  auto wrong = policy.after(make_error(ErrorCode::invalid_argument, "bad payload", "data"), 1);
  EXPECT_EQ(wrong.kind, Kind::dead_letter) << "the event itself is wrong: retrying cannot help";
  EXPECT_EQ(policy.after(Result<void>{}, 2).kind, Kind::ack);
  policy.dead_lettered();
  const auto stats = policy.stats();
  EXPECT_EQ(stats.handled, 1u);
  EXPECT_EQ(stats.retried, 2u);
  EXPECT_EQ(stats.dead_lettered, 1u) << "counted by the bus once the letter is stored";
  EXPECT_EQ(policy.undecodable(make_error(ErrorCode::invalid_argument, "not JSON")),
            "undecodable: invalid_argument: not JSON");
  EXPECT_EQ(policy.stats().delivered, 1u);
}

TEST(DeliveryPolicy, TheJitterComesFromItsSeed) {
  testing::SimulatedClock clock;
  auto jittered = options();
  jittered.retry_backoff = {BackoffKind::full_jitter, 100ms, 10'000ms, 2.0};
  DeliveryPolicy a(clock, 7, jittered), b(clock, 7, jittered), c(clock, 8, jittered);
  const Result<void> failed = make_error(ErrorCode::unavailable, "x");
  std::vector<std::chrono::milliseconds> da, db, dc;
  for (int i = 1; i <= 2; ++i) {
    da.push_back(a.after(failed, i).delay);
    db.push_back(b.after(failed, i).delay);
    dc.push_back(c.after(failed, i).delay);
  }
  EXPECT_EQ(da, db) << "same seed, same delays";
  EXPECT_NE(da, dc);
  for (auto d : da) EXPECT_LE(d, 200ms);
}

}  // namespace
}  // namespace svckit::events
