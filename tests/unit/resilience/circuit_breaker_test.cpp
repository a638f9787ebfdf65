// CircuitBreaker on a SimulatedClock: both window kinds, slow calls, half-open probing with
// per-probe timeouts and a bounded wait, epoch tagging, forced states and events.
#include "svckit/resilience/circuit_breaker.hpp"

#include <gtest/gtest.h>

#include "svckit/testing/simulated_clock.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;

class Breaker : public ::testing::Test {
 protected:
  CircuitBreaker& make(CircuitBreakerOptions options) {
    breaker = std::make_unique<CircuitBreaker>(options, clock,
                                               [this](const BreakerTransition& t) { transitions.push_back(t); });
    return *breaker;
  }
  /// One call through the breaker; false when it was refused.
  bool call(bool success, std::chrono::milliseconds took = 1ms) {
    auto permit = breaker->acquire();
    if (!permit) return false;
    breaker->record(*permit, success, took);
    return true;
  }
  static CircuitBreakerOptions small() {
    CircuitBreakerOptions o;
    o.sliding_window_size = 10;
    o.minimum_number_of_calls = 5;
    o.wait_duration_in_open_state = 30s;
    o.permitted_number_of_calls_in_half_open_state = 3;
    return o;
  }

  testing::SimulatedClock clock;
  std::unique_ptr<CircuitBreaker> breaker;
  std::vector<BreakerTransition> transitions;
};

TEST_F(Breaker, CountWindowOpensAtTheFailureRateOnceMinimumCallsAreIn) {
  auto& b = make(small());
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(call(false));
  EXPECT_EQ(b.state(), BreakerState::closed) << "4 calls: below the minimum of 5";
  ASSERT_TRUE(call(true));  // 4 of 5 failed = 80%
  EXPECT_EQ(b.state(), BreakerState::open);
  ASSERT_EQ(transitions.size(), 1u);
  EXPECT_EQ(transitions[0].reason, "failure rate");
  auto refused = b.acquire();
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("open for another 30000ms"), std::string::npos);
}

TEST_F(Breaker, CountWindowForgetsOldCalls) {
  auto& b = make(small());
  for (int i = 0; i < 6; ++i) call(true);
  for (int i = 0; i < 4; ++i) call(false);
  EXPECT_EQ(b.state(), BreakerState::closed);
  EXPECT_DOUBLE_EQ(b.rates().failure_rate, 40);
  for (int i = 0; i < 10; ++i) call(true);  // the failures age out of the last 10 calls
  EXPECT_DOUBLE_EQ(b.rates().failure_rate, 0);
  for (int i = 0; i < 4; ++i) call(false);
  EXPECT_EQ(b.state(), BreakerState::closed) << "4 of the last 10";
  call(false);
  EXPECT_EQ(b.state(), BreakerState::open) << "5 of the last 10 = 50%";
}

TEST_F(Breaker, TimeWindowCountsOnlyTheLastSeconds) {
  auto o = small();
  o.window = CircuitBreakerOptions::Window::time_based;
  o.sliding_window_size = 10;  // seconds
  auto& b = make(o);
  for (int i = 0; i < 4; ++i) call(false);
  clock.advance(11s);  // those four are out of the window now
  for (int i = 0; i < 4; ++i) call(true);
  call(false);
  EXPECT_EQ(b.state(), BreakerState::closed);
  EXPECT_EQ(b.rates().calls, 5u);
  EXPECT_DOUBLE_EQ(b.rates().failure_rate, 20);
  for (int i = 0; i < 5; ++i) call(false);  // 6 of 10 in the window
  EXPECT_EQ(b.state(), BreakerState::open);
}

TEST_F(Breaker, SlowCallsOpenItToo) {
  auto o = small();
  o.slow_call_duration_threshold = 2s;
  o.slow_call_rate_threshold = 60;
  auto& b = make(o);
  for (int i = 0; i < 2; ++i) call(true, 10ms);
  for (int i = 0; i < 3; ++i) call(true, 3s);  // successes, but 60% slow
  EXPECT_EQ(b.state(), BreakerState::open);
  EXPECT_EQ(transitions.back().reason, "slow-call rate");
}

TEST_F(Breaker, HalfOpenLetsExactlyNProbesAndClosesOnTheirSuccess) {
  auto& b = make(small());
  for (int i = 0; i < 5; ++i) call(false);
  clock.advance(29s);
  EXPECT_FALSE(b.acquire().ok());
  clock.advance(1s);
  std::vector<CircuitBreaker::Permit> probes;
  for (int i = 0; i < 3; ++i) {
    auto p = b.acquire();
    ASSERT_TRUE(p.ok()) << i;
    EXPECT_NE(p->probe, 0u);
    probes.push_back(*p);
  }
  EXPECT_EQ(b.state(), BreakerState::half_open);
  EXPECT_FALSE(b.acquire().ok()) << "only 3 probes";
  b.record(probes[0], true, 1ms);
  b.record(probes[1], true, 1ms);
  EXPECT_EQ(b.state(), BreakerState::half_open);
  b.record(probes[2], false, 1ms);  // 1 of 3 failed = 33% < 50%
  EXPECT_EQ(b.state(), BreakerState::closed);
  EXPECT_EQ(transitions.back().reason, "half-open probes succeeded");
}

TEST_F(Breaker, FailingProbesReopenAndAHungProbeTimesOut) {
  auto o = small();
  o.half_open_probe_timeout = 2s;
  auto& b = make(o);
  for (int i = 0; i < 5; ++i) call(false);
  clock.advance(30s);
  auto p1 = *b.acquire();
  auto p2 = *b.acquire();
  auto p3 = *b.acquire();
  b.record(p1, true, 1ms);
  b.record(p2, true, 1ms);
  // p3 hangs: after its timeout it counts as failed (2 of 3 ok = 33% failures) and half-open ends.
  clock.advance(2s);
  EXPECT_TRUE(b.acquire().ok()) << "closed again: the hung probe no longer blocks the breaker";
  EXPECT_EQ(b.state(), BreakerState::closed);
  b.record(p3, false, 5s);  // its late answer belongs to an old epoch: ignored
  EXPECT_EQ(b.rates().calls, 0u);

  for (int i = 0; i < 5; ++i) call(false);
  clock.advance(30s);
  auto q1 = *b.acquire();
  auto q2 = *b.acquire();
  auto q3 = *b.acquire();
  b.record(q1, false, 1ms);
  b.record(q2, false, 1ms);
  b.record(q3, true, 1ms);
  EXPECT_EQ(b.state(), BreakerState::open);
  EXPECT_EQ(transitions.back().reason, "half-open probes failed");
}

TEST_F(Breaker, HalfOpenWaitIsBoundedAndReleasedProbesFreeTheirSlot) {
  auto o = small();
  o.max_wait_in_half_open = 5s;
  o.half_open_probe_timeout = 60s;
  auto& b = make(o);
  for (int i = 0; i < 5; ++i) call(false);
  clock.advance(30s);
  auto p = *b.acquire();
  b.release(p);  // cancelled by the caller: the slot goes to the next one
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(b.acquire().ok()) << i;
  clock.advance(5s);
  EXPECT_FALSE(b.acquire().ok());
  EXPECT_EQ(b.state(), BreakerState::open);
  EXPECT_EQ(transitions.back().reason, "half-open waited too long for its probes");
}

TEST_F(Breaker, OutcomesFromBeforeATransitionAreIgnored) {
  auto& b = make(small());
  std::vector<CircuitBreaker::Permit> early;
  for (int i = 0; i < 20; ++i) early.push_back(*b.acquire());  // 20 calls in flight, epoch 1
  for (int i = 0; i < 5; ++i) b.record(early[static_cast<std::size_t>(i)], false, 1ms);
  ASSERT_EQ(b.state(), BreakerState::open);
  clock.advance(30s);
  auto probe = *b.acquire();                                            // half-open, new epoch
  for (std::size_t i = 5; i < 20; ++i) b.record(early[i], false, 1ms);  // stale: must not decide anything
  EXPECT_EQ(b.state(), BreakerState::half_open);
  b.record(probe, true, 1ms);
  EXPECT_EQ(b.state(), BreakerState::half_open) << "2 more probes to go";
}

TEST_F(Breaker, ForcedAndDisabledStatesAndValidation) {
  auto& b = make(small());
  b.force_open();
  EXPECT_FALSE(b.acquire().ok());
  clock.advance(1h);
  EXPECT_FALSE(b.acquire().ok()) << "forced open does not time out";
  b.disable();
  for (int i = 0; i < 50; ++i) EXPECT_TRUE(call(false));
  EXPECT_EQ(b.state(), BreakerState::disabled);
  b.reset();
  EXPECT_EQ(b.state(), BreakerState::closed);
  EXPECT_EQ(transitions.size(), 3u);

  CircuitBreakerOptions o;
  o.failure_rate_threshold = 0;
  EXPECT_EQ(validate(o).error().field, "failure_rate_threshold");
  o = {};
  o.permitted_number_of_calls_in_half_open_state = 0;
  EXPECT_EQ(validate(o).error().field, "permitted_number_of_calls_in_half_open_state");
  EXPECT_TRUE(validate(CircuitBreakerOptions{}).ok());
}

}  // namespace
}  // namespace svckit
