#include "svckit/resilience/retry_budget.hpp"

#include <algorithm>
#include <cmath>

namespace svckit {

TokenBucketBudget::TokenBucketBudget(TokenBucketBudgetOptions options)
    : options_(options), tokens_(options.max_tokens) {}

void TokenBucketBudget::record_attempt(bool succeeded) {
  auto current = tokens_.load(std::memory_order_relaxed);
  for (;;) {
    const double next =
        succeeded ? std::min(options_.max_tokens, current + options_.token_ratio) : std::max(0.0, current - 1);
    // A success with the bucket full (the steady state) changes nothing: no write, so callers on
    // several threads do not pass the bucket's cache line back and forth on every attempt.
    if (next == current) return;
    if (tokens_.compare_exchange_weak(current, next, std::memory_order_relaxed)) return;
  }
}

bool TokenBucketBudget::try_start_retry() {
  if (tokens_.load(std::memory_order_relaxed) > options_.max_tokens / 2) return true;
  exhausted_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

double TokenBucketBudget::tokens() const { return tokens_.load(std::memory_order_relaxed); }

bool ConcurrencyBudget::try_start_retry() {
  const auto active = static_cast<double>(active_.load(std::memory_order_relaxed));
  const auto limit = std::max<std::int64_t>(
      options_.min_retry_concurrency, static_cast<std::int64_t>(std::floor(active * options_.budget_percent / 100)));
  auto current = retries_.load(std::memory_order_relaxed);
  while (current < limit) {
    if (retries_.compare_exchange_weak(current, current + 1, std::memory_order_relaxed)) return true;
  }
  exhausted_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

}  // namespace svckit
