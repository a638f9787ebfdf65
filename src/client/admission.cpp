// ServiceClient's admission guard (CallAdmission): what a call takes before its first attempt and
// gives back after its last.
#include "client/service_client_impl.hpp"

namespace svckit::client_detail {

CallAdmission::CallAdmission(ServiceClient::ServiceState& state, const TimeSource& time, bool use_breaker)
    : state_(state), time_(time), use_breaker_(use_breaker), started_(time.steady_now()) {}

CallAdmission::~CallAdmission() {
  if (permit_) state_.service_breaker.release(*permit_);  // no verdict: the call never finished
  if (in_adaptive_) state_.adaptive->release(time_.steady_now() - started_, adaptive_in_flight_, adaptive_dropped_);
  if (in_bulkhead_) state_.bulkhead.leave();
}

std::optional<CallAdmission::Refusal> CallAdmission::enter() {
  const auto& name = state_.name;
  const auto& cfg = state_.config;
  if (cfg.max_concurrent_calls > 0) {
    if (!state_.bulkhead.try_enter()) {
      return Refusal{CallErrorKind::bulkhead_full,
                     name + ": " + std::to_string(cfg.max_concurrent_calls) + " calls already in flight"};
    }
    in_bulkhead_ = true;
  }
  // The adaptive limit learns from every admitted call: its latency, and whether it was dropped.
  if (state_.adaptive) {
    if (!state_.adaptive->try_acquire(adaptive_in_flight_)) {
      return Refusal{CallErrorKind::bulkhead_full, name + ": adaptive concurrency limit (" +
                                                       std::to_string(static_cast<int>(state_.adaptive->limit())) +
                                                       ") reached"};
    }
    in_adaptive_ = true;
  }
  if (state_.rate_limiter && !state_.rate_limiter->try_acquire()) {
    return Refusal{CallErrorKind::rate_limited, name + ": client-side rate limit reached"};
  }
  if (state_.throttle && !state_.throttle->allow()) {
    return Refusal{CallErrorKind::rate_limited,
                   name + ": rejected locally by adaptive throttling (backend overloaded)"};
  }
  if (use_breaker_) {
    auto permit = state_.service_breaker.acquire();
    if (!permit) return Refusal{CallErrorKind::circuit_open, name + ": " + permit.error().message};
    permit_ = *permit;
  }
  started_ = time_.steady_now();
  return std::nullopt;
}

void CallAdmission::finish(const CallResult& result) {
  const auto& cfg = state_.config;
  const auto& e = result.error;
  // A 4xx is the caller's problem, not the service's: it neither trips the breaker nor counts as
  // a refusal for adaptive throttling (which only 429/503 and no answer at all do).
  const bool service_failed =
      e && !(e->kind == CallErrorKind::http_status &&
             (e->status < 500 || (cfg.breaker_counts == ServiceConfig::BreakerCounts::gateway_failures &&
                                  outcome_from_status(e->status) != CallOutcome::http_gateway_failure)));
  if (permit_) {
    state_.service_breaker.record(*permit_, !service_failed, time_.steady_now() - started_);
    permit_.reset();
  }
  if (state_.throttle) {
    const bool refused = e && (e->kind != CallErrorKind::http_status || e->status == 429 || e->status == 503);
    state_.throttle->record(!refused);
  }
  adaptive_dropped_ = e && (e->kind == CallErrorKind::timeout || e->status == 429 || e->status == 503);
}

}  // namespace svckit::client_detail
