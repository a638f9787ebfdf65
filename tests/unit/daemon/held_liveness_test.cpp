#include "daemon/held_liveness.hpp"

#include <gtest/gtest.h>

namespace svckit::daemon {
namespace {

using namespace std::chrono_literals;
using Clock = HeldLiveness::Clock;

const HeldLiveness::Key kKey{"orders", "o-1"};
const Clock::time_point t0{};

TEST(HeldLiveness, HeldAfterItsWriteAndDueOneTtlAfterTheLastHeartbeat) {
  HeldLiveness held;
  EXPECT_FALSE(held.heartbeat(kKey, t0)) << "nothing held yet";
  held.begin(kKey);
  held.observe(kKey, 10);  // the watch delivers the write before etcd's answer arrives
  held.settle(kKey, 10, 30s, t0);
  EXPECT_EQ(held.held(), 1u);
  EXPECT_TRUE(held.take_due(t0 + 29s, 10).empty());
  EXPECT_TRUE(held.heartbeat(kKey, t0 + 20s));
  EXPECT_TRUE(held.take_due(t0 + 49s, 10).empty()) << "the heartbeat moved the due time";
  const auto due = held.take_due(t0 + 50s, 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].key, kKey);
  EXPECT_EQ(due[0].revision, 10u);
  EXPECT_TRUE(held.take_due(t0 + 51s, 10).empty()) << "handed out once";
  EXPECT_FALSE(held.heartbeat(kKey, t0 + 50s)) << "late: the expiry is on its way, the caller writes again";
  held.expired(kKey, 10);
  EXPECT_EQ(held.held(), 0u);
}

TEST(HeldLiveness, AnotherNodesLaterWriteTakesItOver) {
  HeldLiveness held;
  held.begin(kKey);
  held.settle(kKey, 10, 30s, t0);
  held.observe(kKey, 10);  // our own write, delivered after the answer: still held
  EXPECT_TRUE(held.heartbeat(kKey, t0 + 1s));
  held.observe(kKey, 12);  // another node moved it (or it was deleted)
  EXPECT_FALSE(held.heartbeat(kKey, t0 + 2s));
  EXPECT_TRUE(held.take_due(t0 + 1h, 10).empty()) << "not ours to expire";
  EXPECT_EQ(held.held(), 0u);
}

TEST(HeldLiveness, AWriteSeenBeforeOursSettledDoesNotCountButALaterOneDoes) {
  HeldLiveness held;
  held.begin(kKey);
  held.observe(kKey, 8);  // an older write by another node, delivered while ours is in flight
  held.settle(kKey, 10, 30s, t0);
  EXPECT_TRUE(held.heartbeat(kKey, t0));

  HeldLiveness lost;
  lost.begin(kKey);
  lost.observe(kKey, 10);  // ours...
  lost.observe(kKey, 11);  // ...and another node's after it, both before etcd's answer to us
  lost.settle(kKey, 10, 30s, t0);
  EXPECT_FALSE(lost.heartbeat(kKey, t0));
  EXPECT_EQ(lost.held(), 0u);
}

TEST(HeldLiveness, TwoWritesOfOursInFlightTheLaterHolds) {
  HeldLiveness held;
  held.begin(kKey);
  held.begin(kKey);
  held.observe(kKey, 10);
  held.observe(kKey, 11);
  held.settle(kKey, 10, 30s, t0);  // the earlier answers first: the later is still ours in flight
  held.settle(kKey, 11, 30s, t0);
  const auto due = held.take_due(t0 + 30s, 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].revision, 11u);
}

TEST(HeldLiveness, AFailedWriteChangesNothingAndAFailedExpiryIsRetried) {
  HeldLiveness held;
  held.begin(kKey);
  held.abandon(kKey);
  EXPECT_EQ(held.held(), 0u);
  held.begin(kKey);
  held.settle(kKey, 5, 10s, t0);
  ASSERT_EQ(held.take_due(t0 + 10s, 10).size(), 1u);
  held.kept(kKey, t0 + 11s);  // etcd away
  EXPECT_TRUE(held.take_due(t0 + 10500ms, 10).empty());
  EXPECT_EQ(held.take_due(t0 + 11s, 10).size(), 1u);
  held.expired(kKey, 4);  // not the write held: ignored
  EXPECT_EQ(held.held(), 1u);
  held.expired(kKey, 5);
  EXPECT_EQ(held.held(), 0u);
}

TEST(HeldLiveness, ClearLetsGoOfEverythingAndTakeDueHonoursItsLimit) {
  HeldLiveness held;
  for (int i = 0; i < 5; ++i) {
    const HeldLiveness::Key key{"s", std::to_string(i)};
    held.begin(key);
    held.settle(key, 100 + static_cast<std::uint64_t>(i), 1s, t0);
  }
  EXPECT_EQ(held.take_due(t0 + 1s, 3).size(), 3u);
  EXPECT_EQ(held.take_due(t0 + 1s, 3).size(), 2u);
  held.clear();
  EXPECT_EQ(held.held(), 0u);
  EXPECT_FALSE(held.heartbeat({"s", "0"}, t0));
}

}  // namespace
}  // namespace svckit::daemon
