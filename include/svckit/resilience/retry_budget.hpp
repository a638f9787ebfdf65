// Retry budgets: one per service, shared by retries and hedges, so that retries never multiply
// an outage. Two modes:
//  - TokenBucketBudget, gRPC A6 retry throttling: tokens start at max_tokens; a failed attempt
//    takes 1, a successful one gives back token_ratio (capped at max); a retry may start only
//    while tokens > max_tokens / 2.
//  - ConcurrencyBudget, Envoy's retry_budget: retries in flight <= max(min_retry_concurrency,
//    budget_percent × active requests).
// Pure logic; thread-safe (atomics only: the token count is updated by compare-and-swap, and a
// success with the bucket full, the steady state, writes nothing).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "svckit/core/result.hpp"

namespace svckit {

class RetryBudget {
 public:
  virtual ~RetryBudget() = default;
  /// A call (not an attempt) starts / ends: the active-request count Envoy's budget scales with.
  virtual void call_started() {}
  virtual void call_finished() {}
  /// An attempt's outcome (failed = retryable failure): feeds the token bucket.
  virtual void record_attempt(bool succeeded) = 0;
  /// May one more attempt (retry or hedge) start now? When true, call retry_finished() once the
  /// attempt ends.
  virtual bool try_start_retry() = 0;
  virtual void retry_finished() {}
  /// Retries refused so far.
  std::uint64_t exhausted() const { return exhausted_.load(std::memory_order_relaxed); }

 protected:
  std::atomic<std::uint64_t> exhausted_{0};
};

struct TokenBucketBudgetOptions {
  double max_tokens = 10;    // gRPC: 1..1000
  double token_ratio = 0.1;  // gRPC: (0, 1]
};

class TokenBucketBudget final : public RetryBudget {
 public:
  explicit TokenBucketBudget(TokenBucketBudgetOptions options);
  void record_attempt(bool succeeded) override;
  bool try_start_retry() override;
  double tokens() const;

 private:
  const TokenBucketBudgetOptions options_;
  std::atomic<double> tokens_;
};

struct ConcurrencyBudgetOptions {
  double budget_percent = 20;  // of active requests
  std::uint32_t min_retry_concurrency = 3;
};

class ConcurrencyBudget final : public RetryBudget {
 public:
  explicit ConcurrencyBudget(ConcurrencyBudgetOptions options) : options_(options) {}
  void call_started() override { active_.fetch_add(1, std::memory_order_relaxed); }
  void call_finished() override { active_.fetch_sub(1, std::memory_order_relaxed); }
  void record_attempt(bool) override {}
  bool try_start_retry() override;
  void retry_finished() override { retries_.fetch_sub(1, std::memory_order_relaxed); }
  std::int64_t retries_in_flight() const { return retries_.load(std::memory_order_relaxed); }

 private:
  const ConcurrencyBudgetOptions options_;
  std::atomic<std::int64_t> active_{0};
  std::atomic<std::int64_t> retries_{0};
};

}  // namespace svckit
