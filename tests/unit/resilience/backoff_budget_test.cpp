// Backoff sequences and jitter bounds (property tests over many seeds), and both retry budgets.
#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "svckit/resilience/backoff.hpp"
#include "svckit/resilience/retry_budget.hpp"
#include "svckit/testing/fake_random.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

std::vector<ms> sequence(BackoffPolicy policy, std::uint64_t seed, int n) {
  testing::FakeRandom random{seed};
  Backoff backoff(policy, random);
  std::vector<ms> out;
  for (int i = 0; i < n; ++i) out.push_back(backoff.next());
  return out;
}

TEST(Backoff, DeterministicKinds) {
  BackoffPolicy p;
  p.base = 100ms;
  p.cap = 1000ms;
  p.kind = BackoffKind::fixed;
  EXPECT_EQ(sequence(p, 1, 3), (std::vector<ms>{100ms, 100ms, 100ms}));
  p.kind = BackoffKind::linear;
  EXPECT_EQ(sequence(p, 1, 4), (std::vector<ms>{100ms, 200ms, 300ms, 400ms}));
  p.kind = BackoffKind::exponential;
  EXPECT_EQ(sequence(p, 1, 6), (std::vector<ms>{100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms})) << "capped";
}

TEST(Backoff, FullJitterStaysWithinTheCappedExponentialAndSpreads) {
  BackoffPolicy p;
  p.kind = BackoffKind::full_jitter;
  p.base = 100ms;
  p.cap = 2000ms;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    const auto seq = sequence(p, seed, 12);
    for (std::size_t n = 0; n < seq.size(); ++n) {
      const auto ceiling = std::min<ms>(p.cap, ms(100 << std::min<std::size_t>(n, 20)));
      ASSERT_GE(seq[n], 0ms);
      ASSERT_LE(seq[n], ceiling) << "seed " << seed << " retry " << n;
    }
  }
  // Spread: the 10th retry's delays cover the range [0, cap] rather than bunching.
  ms lo = 1h, hi = 0ms;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    const auto d = sequence(p, seed, 10).back();
    lo = std::min(lo, d);
    hi = std::max(hi, d);
  }
  EXPECT_LT(lo, 200ms);
  EXPECT_GT(hi, 1800ms);
}

TEST(Backoff, DecorrelatedJitterStaysBetweenBaseAndThreeTimesThePreviousCapped) {
  BackoffPolicy p;
  p.kind = BackoffKind::decorrelated_jitter;
  p.base = 50ms;
  p.cap = 3000ms;
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    const auto seq = sequence(p, seed, 15);
    ms previous = p.base;
    for (const auto d : seq) {
      ASSERT_GE(d, p.base);
      ASSERT_LE(d, std::min(p.cap, previous * 3 + 1ms));
      previous = d;
    }
  }
}

TEST(Backoff, PolicyIsValidatedNamingTheField) {
  BackoffPolicy p;
  p.cap = 10ms;
  EXPECT_EQ(validate(p).error().field, "cap");
  p = {};
  p.multiplier = 0.5;
  EXPECT_EQ(validate(p).error().field, "multiplier");
  EXPECT_EQ(parse_backoff_kind("decorrelated_jitter"), BackoffKind::decorrelated_jitter);
  EXPECT_FALSE(parse_backoff_kind("random"));
}

TEST(RetryBudget, TokenBucketStopsRetriesAtHalfAndRefillsWithSuccesses) {
  TokenBucketBudget budget({10, 0.1});
  EXPECT_TRUE(budget.try_start_retry());
  for (int i = 0; i < 5; ++i) budget.record_attempt(false);  // 10 -> 5 tokens: at the threshold
  EXPECT_DOUBLE_EQ(budget.tokens(), 5);
  EXPECT_FALSE(budget.try_start_retry()) << "retries only while tokens > max/2";
  EXPECT_EQ(budget.exhausted(), 1u);
  budget.record_attempt(true);  // 5.1
  EXPECT_TRUE(budget.try_start_retry());
  budget.record_attempt(false);  // 4.1
  EXPECT_FALSE(budget.try_start_retry());
  EXPECT_EQ(budget.exhausted(), 2u);
  for (int i = 0; i < 1000; ++i) budget.record_attempt(true);
  EXPECT_DOUBLE_EQ(budget.tokens(), 10) << "capped at max_tokens";
  for (int i = 0; i < 100; ++i) budget.record_attempt(false);
  EXPECT_DOUBLE_EQ(budget.tokens(), 0) << "never below zero";
}

// The token bucket is updated without a lock: outcomes recorded from several threads at once are
// all applied, each to the value the one before left — the same count one thread reaches. (Each
// success adds the same ratio, so the sequence of values does not depend on who adds.)
TEST(RetryBudget, TokenBucketAppliesEveryOutcomeRecordedFromManyThreads) {
  constexpr int kThreads = 4;
  constexpr int kEach = 2'000;
  TokenBucketBudget concurrent({100, 0.01});
  TokenBucketBudget alone({100, 0.01});
  for (int i = 0; i < 100; ++i) {
    concurrent.record_attempt(false);
    alone.record_attempt(false);
  }
  ASSERT_DOUBLE_EQ(concurrent.tokens(), 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&concurrent] {
      for (int i = 0; i < kEach; ++i) concurrent.record_attempt(true);
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kThreads * kEach; ++i) alone.record_attempt(true);
  EXPECT_EQ(concurrent.tokens(), alone.tokens()) << "an update was lost";
  EXPECT_NEAR(concurrent.tokens(), 80, 1e-6);

  threads.clear();
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&concurrent] {
      for (int i = 0; i < 10; ++i) concurrent.record_attempt(false);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_NEAR(concurrent.tokens(), 40, 1e-6);
}

TEST(RetryBudget, ConcurrencyBudgetScalesWithActiveRequestsWithAFloor) {
  ConcurrencyBudget budget({20, 3});
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(budget.try_start_retry()) << "min_retry_concurrency";
  EXPECT_FALSE(budget.try_start_retry());
  for (int i = 0; i < 50; ++i) budget.call_started();  // 20% of 50 = 10
  for (int i = 0; i < 7; ++i) EXPECT_TRUE(budget.try_start_retry());
  EXPECT_FALSE(budget.try_start_retry());
  EXPECT_EQ(budget.retries_in_flight(), 10);
  budget.retry_finished();
  EXPECT_TRUE(budget.try_start_retry());
  EXPECT_EQ(budget.exhausted(), 2u);
}

}  // namespace
}  // namespace svckit
