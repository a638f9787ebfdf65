// Per-service state of a ServiceClient: mode, balancer, breakers, budget, bulkhead.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string_view>
#include <unordered_set>

#include "core/per_thread_cache.hpp"
#include "svckit/client/service_client.hpp"
#include "svckit/resilience/adaptive_limit.hpp"
#include "svckit/resilience/limiters.hpp"
#include "svckit/resilience/retry_budget.hpp"

namespace svckit {

/// Prometheus series of one service (null members when there is no registry). Looked up once and
/// again after the registry removed series (MetricsRegistry::generation() moved): handles keep a
/// removed series alive for the calls still using it.
struct ClientSeries {
  std::shared_ptr<Counter> ok;
  std::shared_ptr<Counter> retries;
  std::shared_ptr<Counter> hedges;
  std::shared_ptr<Counter> fallbacks;
  std::shared_ptr<Counter> budget_exhausted;
  std::shared_ptr<Histogram> duration;
  std::shared_ptr<Gauge> in_flight;
};

struct ServiceClient::ServiceState {
  enum class Mode { discovery, static_urls, gateway };

  // NOLINTNEXTLINE(performance-unnecessary-value-param): moved in
  ServiceState(std::string service, ServiceConfig cfg, const TimeSource& time, CircuitBreaker::Callback on_trip)
      : name(std::move(service)),
        config(std::move(cfg)),
        service_breaker(config.service_breaker, time, std::move(on_trip)),
        budget(make_budget(config)),
        bulkhead(config.max_concurrent_calls) {}

  static std::unique_ptr<RetryBudget> make_budget(const ServiceConfig& c) {
    if (c.retry_budget_mode == ServiceConfig::RetryBudgetMode::concurrency) {
      return std::make_unique<ConcurrencyBudget>(
          ConcurrencyBudgetOptions{c.retry_budget_percent, c.retry_budget_min_concurrency});
    }
    return std::make_unique<TokenBucketBudget>(
        TokenBucketBudgetOptions{c.retry_budget_max_tokens, c.retry_budget_token_ratio});
  }

  /// The breaker of one instance (created on first use). Shared: an attempt keeps its breaker
  /// even when the instance leaves meanwhile.
  /// Lock-free after a thread's first lookup of the instance (a per-thread cache of weak pointers,
  /// keyed by this state's process-unique id and dropped when a prune removed breakers).
  std::shared_ptr<CircuitBreaker> instance_breaker(const std::string& id, const TimeSource& time) {
    thread_local detail::PerThreadCache<CircuitBreaker> known;
    const auto generation = breakers_generation.load(std::memory_order_acquire);
    if (auto breaker = known.find(uid, generation, id)) return breaker;
    std::shared_ptr<CircuitBreaker> breaker;
    {
      std::lock_guard lock(mutex);
      auto& slot = instance_breakers[id];
      if (!slot) slot = std::make_shared<CircuitBreaker>(config.instance_breaker, time);
      breaker = slot;
    }
    known.remember(id, breaker);
    return breaker;
  }

  /// Forgets the breakers of instances that are no longer among `instances` (discovery moved on):
  /// the map does not grow with instance churn. One that comes back starts closed.
  void prune_instance_breakers(const std::vector<ServiceInstance>& instances) {
    std::unordered_set<std::string_view> present;
    for (const auto& in : instances) present.insert(in.id);
    std::lock_guard lock(mutex);
    const auto before = instance_breakers.size();
    for (auto it = instance_breakers.begin(); it != instance_breakers.end();) {
      it = present.count(it->first) > 0 ? std::next(it) : instance_breakers.erase(it);
    }
    // A thread's cached breaker of a removed instance would outlive it: caches start over.
    if (instance_breakers.size() != before) breakers_generation.fetch_add(1, std::memory_order_release);
  }

  const std::string name;
  const ServiceConfig config;
  std::atomic<std::shared_ptr<const ClientSeries>> series;  // set by ServiceClient::Impl::series_of
  std::atomic<std::uint64_t> series_generation{0};          // the registry generation it was made for
  Mode mode = Mode::discovery;
  std::unique_ptr<ServiceBalancer> balancer;  // discovery and static modes
  std::atomic<std::uint64_t> applied_index{~std::uint64_t{0}};
  std::atomic<std::int64_t> next_tick_ns{0};  // when the balancer's outlier detector is next ticked
  net::HostPort gateway;                      // gateway mode
  std::string gateway_prefix;
  CircuitBreaker service_breaker;
  const std::unique_ptr<RetryBudget> budget;
  Bulkhead bulkhead;
  std::unique_ptr<TokenBucket> rate_limiter;   // null: unlimited
  std::unique_ptr<AdaptiveThrottle> throttle;  // null: off
  std::unique_ptr<AdaptiveLimiter> adaptive;   // null: off
  std::mutex mutex;                            // guards instance_breakers
  std::map<std::string, std::shared_ptr<CircuitBreaker>> instance_breakers;
  std::atomic<std::uint64_t> breakers_generation{0};  // bumped when a prune removed breakers
  const std::uint64_t uid = next_uid();               // process-unique: keys the per-thread breaker caches

  static std::uint64_t next_uid() {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }
};

}  // namespace svckit
