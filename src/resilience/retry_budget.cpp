#include "svckit/resilience/retry_budget.hpp"

#include <algorithm>
#include <cmath>

namespace svckit {

TokenBucketBudget::TokenBucketBudget(TokenBucketBudgetOptions options)
    : options_(options), tokens_(options.max_tokens) {}

void TokenBucketBudget::record_attempt(bool succeeded) {
  std::lock_guard lock(mutex_);
  tokens_ = succeeded ? std::min(options_.max_tokens, tokens_ + options_.token_ratio) : std::max(0.0, tokens_ - 1);
}

bool TokenBucketBudget::try_start_retry() {
  std::lock_guard lock(mutex_);
  if (tokens_ > options_.max_tokens / 2) return true;
  exhausted_.fetch_add(1, std::memory_order_relaxed);
  return false;
}

double TokenBucketBudget::tokens() const {
  std::lock_guard lock(mutex_);
  return tokens_;
}

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
