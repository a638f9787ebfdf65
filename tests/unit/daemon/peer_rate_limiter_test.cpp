#include "daemon/peer_rate_limiter.hpp"

#include <gtest/gtest.h>

#include "svckit/testing/simulated_clock.hpp"

namespace svckit::daemon {
namespace {

using namespace std::chrono_literals;

TEST(PeerRateLimiter, EachPeerHasItsBurstThenItsRateAndHearsWhenToComeBack) {
  testing::SimulatedClock clock;
  PeerRateLimiter limiter(PeerRateLimits{2, 4, 100}, clock);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(limiter.admit("10.0.0.1")) << i;
  const auto wait = limiter.admit("10.0.0.1");
  ASSERT_TRUE(wait.has_value());
  EXPECT_EQ(*wait, 500ms) << "one token comes every 1/2 s";
  EXPECT_FALSE(limiter.admit("10.0.0.2")) << "another peer has its own bucket";
  clock.advance(499ms);
  EXPECT_TRUE(limiter.admit("10.0.0.1"));
  clock.advance(2ms);
  EXPECT_FALSE(limiter.admit("10.0.0.1"));
  clock.advance(1h);  // refills to the burst, not beyond
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(limiter.admit("10.0.0.1")) << i;
  EXPECT_TRUE(limiter.admit("10.0.0.1"));
  EXPECT_EQ(limiter.refused(), 3u);
}

TEST(PeerRateLimiter, TheTableOfPeersIsBoundedByRecency) {
  testing::SimulatedClock clock;
  PeerRateLimiter limiter(PeerRateLimits{1, 1, 3}, clock);
  EXPECT_FALSE(limiter.admit("a"));
  EXPECT_FALSE(limiter.admit("b"));
  EXPECT_FALSE(limiter.admit("c"));
  EXPECT_TRUE(limiter.admit("a"));   // a is now the most recent
  EXPECT_FALSE(limiter.admit("d"));  // b, the least recent, goes
  EXPECT_EQ(limiter.peers(), 3u);
  EXPECT_EQ(limiter.evicted(), 1u);
  EXPECT_TRUE(limiter.admit("a")) << "a kept its (empty) bucket";
  EXPECT_FALSE(limiter.admit("b")) << "b came back with a full bucket";
}

TEST(PeerRateLimiter, ARateOfZeroAdmitsEverything) {
  testing::SimulatedClock clock;
  PeerRateLimiter limiter(PeerRateLimits{}, clock);
  EXPECT_FALSE(limiter.enabled());
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(limiter.admit("x"));
}

}  // namespace
}  // namespace svckit::daemon
