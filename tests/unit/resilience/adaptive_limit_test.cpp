// Adaptive concurrency limits on synthetic samples: AIMD and Gradient2 react to latency and drops.
#include "svckit/resilience/adaptive_limit.hpp"

#include <gtest/gtest.h>

namespace svckit {
namespace {

using namespace std::chrono_literals;

TEST(Aimd, GrowsWhileBusyShrinksOnDropsAndStaysInBounds) {
  AimdLimit aimd({});
  aimd.on_sample(10ms, 5, false);  // less than half of 20 in use: no growth
  EXPECT_EQ(aimd.limit(), 20);
  for (int i = 0; i < 30; ++i) aimd.on_sample(10ms, static_cast<int>(aimd.limit()), false);
  EXPECT_EQ(aimd.limit(), 50);
  aimd.on_sample(10ms, 50, true);
  EXPECT_DOUBLE_EQ(aimd.limit(), 45);
  aimd.on_sample(6s, 50, false);  // slower than the 5 s timeout: a drop
  EXPECT_DOUBLE_EQ(aimd.limit(), 40.5);
  for (int i = 0; i < 100; ++i) aimd.on_sample(10ms, 200, true);
  EXPECT_EQ(aimd.limit(), 20) << "never below min_limit";
  for (int i = 0; i < 1000; ++i) aimd.on_sample(10ms, 200, false);
  EXPECT_EQ(aimd.limit(), 200) << "never above max_limit";
}

TEST(Gradient2, SteadyLatencyGrowsTheLimitAndALatencyRiseShrinksIt) {
  Gradient2Limit g({});
  for (int i = 0; i < 200; ++i) g.on_sample(10ms, static_cast<int>(g.limit()), false);
  const double grown = g.limit();
  EXPECT_GT(grown, 60) << "gradient 1 + queue size: the limit climbs while latency holds";
  for (int i = 0; i < 30; ++i) g.on_sample(40ms, static_cast<int>(g.limit()), false);  // 4x slower
  EXPECT_LT(g.limit(), grown * 0.5) << "latency rose past the tolerance: the limit backs off";
  EXPECT_GE(g.limit(), 20);
}

TEST(Gradient2, AppLimitedSamplesTeachNothing) {
  Gradient2Limit g({});
  for (int i = 0; i < 100; ++i) g.on_sample(50ms, 2, false);  // 2 of 20 in use
  EXPECT_EQ(g.limit(), 20);
}

TEST(AdaptiveLimiterTest, AdmitsUpToTheCurrentLimit) {
  AimdOptions o;
  o.initial_limit = o.min_limit = 2;
  AdaptiveLimiter limiter(std::make_unique<AimdLimit>(o));
  int a = 0, b = 0, c = 0;
  EXPECT_TRUE(limiter.try_acquire(a));
  EXPECT_TRUE(limiter.try_acquire(b));
  EXPECT_FALSE(limiter.try_acquire(c));
  limiter.release(1ms, b, false);  // 2 in flight of a limit of 2: grows to 3
  EXPECT_EQ(limiter.limit(), 3);
  EXPECT_TRUE(limiter.try_acquire(c));
  EXPECT_TRUE(limiter.try_acquire(b));
  EXPECT_EQ(limiter.in_flight(), 3);
}

}  // namespace
}  // namespace svckit
