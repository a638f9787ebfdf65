// Deadline arithmetic and skipped retries; token bucket, bulkhead and SRE adaptive throttling.
#include <gtest/gtest.h>

#include "svckit/resilience/deadline.hpp"
#include "svckit/resilience/limiters.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;

TEST(Deadline, AttemptTimeoutIsThePerTryOrWhatRemainsMinusTheMargin) {
  testing::SimulatedClock clock;
  const auto d = Deadline::after(clock.steady_now(), 1000ms);
  EXPECT_EQ(d.attempt_timeout(300ms, clock.steady_now(), 20ms, 10ms), 300ms);
  clock.advance(800ms);  // 200 left
  EXPECT_EQ(d.attempt_timeout(300ms, clock.steady_now(), 20ms, 10ms), 180ms);
  clock.advance(175ms);  // 25 left: 5 after the margin, below the minimum
  EXPECT_FALSE(d.attempt_timeout(300ms, clock.steady_now(), 20ms, 10ms));
  clock.advance(1s);
  EXPECT_TRUE(d.expired(clock.steady_now()));
  EXPECT_EQ(d.remaining(clock.steady_now()), 0ms);
}

TEST(Deadline, RetryWhoseBackoffEndsPastTheDeadlineIsNotStarted) {
  testing::SimulatedClock clock;
  const auto d = Deadline::after(clock.steady_now(), 500ms);
  EXPECT_TRUE(d.allows_retry_after(400ms, clock.steady_now(), 20ms, 50ms));   // 500-400-20 = 80 >= 50
  EXPECT_FALSE(d.allows_retry_after(450ms, clock.steady_now(), 20ms, 50ms));  // 30 < 50: fail now
  EXPECT_TRUE(Deadline::none().allows_retry_after(1h, clock.steady_now(), 20ms, 50ms));
  const auto later = Deadline::after(clock.steady_now(), 2s);
  EXPECT_EQ(later.earliest(d).remaining(clock.steady_now()), 500ms);
  EXPECT_EQ(Deadline::none().earliest(d).remaining(clock.steady_now()), 500ms);
}

TEST(Deadline, HeaderParsingIsStrict) {
  EXPECT_EQ(parse_deadline_header("250").value(), 250ms);
  for (const char* bad : {"", "0", "-5", "12ms", " 5", "99999999999", "86400001"}) {
    auto r = parse_deadline_header(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().field, kDeadlineHeader);
  }
}

TEST(TokenBucketTest, BurstThenRate) {
  testing::SimulatedClock clock;
  TokenBucket bucket(10, 5, clock);  // 10/s, burst 5
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.try_acquire());
  EXPECT_FALSE(bucket.try_acquire());
  EXPECT_EQ(bucket.wait_time(), 100ms);
  clock.advance(100ms);
  EXPECT_TRUE(bucket.try_acquire());
  EXPECT_FALSE(bucket.try_acquire());
  clock.advance(10s);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(bucket.try_acquire());
  EXPECT_FALSE(bucket.try_acquire()) << "refill is capped at the burst";
}

TEST(BulkheadTest, AtMostNInFlight) {
  Bulkhead bulkhead(2);
  EXPECT_TRUE(bulkhead.try_enter());
  EXPECT_TRUE(bulkhead.try_enter());
  EXPECT_FALSE(bulkhead.try_enter());
  bulkhead.leave();
  EXPECT_TRUE(bulkhead.try_enter());
  EXPECT_EQ(bulkhead.in_flight(), 2u);
}

TEST(AdaptiveThrottleTest, RejectsInProportionToRefusalsAndRecovers) {
  testing::SimulatedClock clock;
  testing::FakeRandom random{9};
  AdaptiveThrottle throttle({}, clock, random);
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(throttle.allow());
    throttle.record(true);
  }
  EXPECT_EQ(throttle.reject_probability(), 0) << "a healthy backend: nothing rejected locally";

  // The backend now refuses everything: requests grow, accepts stay at 100.
  int sent = 0;
  for (int i = 0; i < 1000; ++i) {
    if (throttle.allow()) {
      ++sent;
      throttle.record(false);
    }
  }
  const double p = throttle.reject_probability();  // (1100 - 2 × 100) / 1101
  EXPECT_NEAR(p, 900.0 / 1101.0, 1e-9);
  EXPECT_LT(sent, 500) << "most requests are rejected locally once refusals dominate";
  EXPECT_GT(sent, 150) << "but some still go through to notice recovery";

  clock.advance(121s);  // the window forgets
  EXPECT_EQ(throttle.reject_probability(), 0);
}

}  // namespace
}  // namespace svckit
