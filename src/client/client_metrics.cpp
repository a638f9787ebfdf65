#include "client/service_client_impl.hpp"

namespace svckit::client_detail {

ClientFamilies::ClientFamilies(MetricsRegistry* m) {
  if (m == nullptr) return;
  calls = &m->counter("svckit_client_calls_total", "Calls by final result (ok or the failure kind).",
                      {"service", "result"});
  retries = &m->counter("svckit_client_retries_total", "Retries (attempts after the first).", {"service"});
  hedges = &m->counter("svckit_client_hedges_total", "Hedged attempts started.", {"service"});
  fallbacks = &m->counter("svckit_client_fallbacks_total", "Answers given by a fallback.", {"service"});
  budget_exhausted =
      &m->counter("svckit_client_retry_budget_exhausted_total", "Retries refused by the budget.", {"service"});
  duration = &m->histogram("svckit_client_call_duration_seconds", "Call latency, retries included.", {"service"});
  in_flight = &m->gauge("svckit_client_in_flight", "Calls in flight.", {"service"});
  breaker = &m->gauge("svckit_client_breaker_state",
                      "Service breaker: 0 closed, 1 open, 2 half_open, 3 disabled, 4 forced_open.", {"service"});
  transitions =
      &m->counter("svckit_client_breaker_transitions_total", "Service breaker transitions.", {"service", "to"});
  pool = &m->gauge("svckit_client_pool_connections", "Pool connections: opened (total), reused (total), idle (now).",
                   {"kind"});
}

}  // namespace svckit::client_detail

namespace svckit {

std::shared_ptr<const ClientSeries> ServiceClient::Impl::series_of(ServiceClient::ServiceState& state) {
  const std::uint64_t generation = deps.metrics == nullptr ? 0 : deps.metrics->generation();
  auto current = state.series.load(std::memory_order_acquire);
  if (current && state.series_generation.load(std::memory_order_acquire) == generation) return current;
  auto made = std::make_shared<ClientSeries>();
  if (deps.metrics != nullptr) {
    const std::vector<std::string> l{state.name};
    made->ok = families.calls->handle({state.name, "ok"});
    made->retries = families.retries->handle(l);
    made->hedges = families.hedges->handle(l);
    made->fallbacks = families.fallbacks->handle(l);
    made->budget_exhausted = families.budget_exhausted->handle(l);
    made->duration = families.duration->handle(l);
    made->in_flight = families.in_flight->handle(l);
  }
  state.series.store(made, std::memory_order_release);
  state.series_generation.store(generation, std::memory_order_release);
  return made;
}

void ServiceClient::Impl::publish_pool(SteadyTime now) {
  if (families.pool == nullptr) return;
  const auto at = now.time_since_epoch().count();
  auto due = next_pool_publish_ns.load(std::memory_order_relaxed);
  if (at < due) return;
  const auto next = at + std::chrono::duration_cast<std::chrono::steady_clock::duration>(kPoolPublishEvery).count();
  if (!next_pool_publish_ns.compare_exchange_strong(due, next)) return;  // another call publishes
  const auto p = http.stats();
  families.pool->with({"opened"}).set(static_cast<double>(p.connections_opened));
  families.pool->with({"reused"}).set(static_cast<double>(p.connections_reused));
  families.pool->with({"idle"}).set(static_cast<double>(p.idle));
}

}  // namespace svckit
