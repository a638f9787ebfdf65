// Internal to src/client: ServiceClient's state and per-attempt machinery (route choice, one
// attempt, the hedge race), kept apart from service_client.cpp (the public methods and the retry
// loop) so that neither file passes ~800 lines. Include it from src/client only.
#pragma once

#include <spdlog/spdlog.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "client/service_state.hpp"
#include "svckit/client/service_client.hpp"
#include "svckit/resilience/deadline.hpp"

#include <strings.h>
#include <nlohmann/json.hpp>

namespace svckit {

namespace asio = boost::asio;

namespace client_detail {

constexpr std::chrono::milliseconds kMargin{2}, kMinAttempt{1};
constexpr std::chrono::seconds kTickEvery{1};

/// A caller's synchronous body sink, awaited like the transport's asynchronous ones.
inline Awaitable<Result<void>> feed_sink(const http::BodySink* sink, std::string_view piece) {
  co_return (*sink)(piece);
}

/// Where one attempt goes.
struct Route {
  http::HostPort endpoint;
  std::string target;
  std::string instance;  // instance id, or "gateway"
  Pick pick;
  std::shared_ptr<CircuitBreaker> breaker;
  CircuitBreaker::Permit permit;
};

/// What one attempt came to.
struct Attempt {
  Result<http::Response> answer = make_error(ErrorCode::cancelled, "not sent");
  std::chrono::nanoseconds latency{0};
  bool retryable = false;
  bool not_sent = false;  // failed before the request left: retried for any method, outside the budget
  std::string instance;
};

}  // namespace client_detail

using namespace client_detail;  // NOLINT(google-build-using-namespace): internal header of one component

struct ServiceClient::Impl {
  Impl(ServiceClientOptions o, Deps d)  // NOLINT(performance-unnecessary-value-param): moved in
      : options(std::move(o)),
        deps(std::move(d)),
        owned_http(deps.transport != nullptr ? nullptr
                                             : std::make_unique<http::HttpClient>(deps.executor, options.pool)),
        http(deps.transport != nullptr ? *deps.transport : *owned_http),
        sleeper(deps.sleeper != nullptr ? *deps.sleeper : real_sleeper) {
    if (auto* m = deps.metrics) {
      calls = &m->counter("svckit_client_calls_total", "Calls by final result (ok or the failure kind).",
                          {"service", "result"});
      retries_family = &m->counter("svckit_client_retries_total", "Retries (attempts after the first).", {"service"});
      hedges_family = &m->counter("svckit_client_hedges_total", "Hedged attempts started.", {"service"});
      fallbacks_family = &m->counter("svckit_client_fallbacks_total", "Answers given by a fallback.", {"service"});
      budget_family =
          &m->counter("svckit_client_retry_budget_exhausted_total", "Retries refused by the budget.", {"service"});
      duration_family =
          &m->histogram("svckit_client_call_duration_seconds", "Call latency, retries included.", {"service"});
      in_flight_family = &m->gauge("svckit_client_in_flight", "Calls in flight.", {"service"});
      breaker_family =
          &m->gauge("svckit_client_breaker_state",
                    "Service breaker: 0 closed, 1 open, 2 half_open, 3 disabled, 4 forced_open.", {"service"});
      transitions_family =
          &m->counter("svckit_client_breaker_transitions_total", "Service breaker transitions.", {"service", "to"});
      pool_family = &m->gauge("svckit_client_pool_connections",
                              "Pool connections: opened (total), reused (total), idle (now).", {"kind"});
    }
  }

  /// The service's series, looked up again when the registry removed series since (one atomic
  /// load on the common path).
  std::shared_ptr<const ClientSeries> series_of(ServiceClient::ServiceState& state) {
    const std::uint64_t generation = deps.metrics == nullptr ? 0 : deps.metrics->generation();
    auto current = state.series.load(std::memory_order_acquire);
    if (current && state.series_generation.load(std::memory_order_acquire) == generation) return current;
    auto made = std::make_shared<ClientSeries>();
    if (deps.metrics != nullptr) {
      const std::vector<std::string> l{state.name};
      made->ok = calls->handle({state.name, "ok"});
      made->retries = retries_family->handle(l);
      made->hedges = hedges_family->handle(l);
      made->fallbacks = fallbacks_family->handle(l);
      made->budget_exhausted = budget_family->handle(l);
      made->duration = duration_family->handle(l);
      made->in_flight = in_flight_family->handle(l);
    }
    state.series.store(made, std::memory_order_release);
    state.series_generation.store(generation, std::memory_order_release);
    return made;
  }

  /// Discovery mode: feed the balancer when the registry moved since it last did.
  void refresh_from_discovery(ServiceClient::ServiceState& state) {
    if (state.mode != ServiceClient::ServiceState::Mode::discovery || deps.discovery == nullptr || !state.balancer) {
      return;
    }
    const auto index = deps.discovery->stats().index;
    if (state.applied_index.exchange(index) != index) {
      const auto instances = deps.discovery->discover(state.name);
      state.balancer->update(instances, index);
      state.prune_instance_breakers(instances);
    }
  }

  /// Outlier intervals and un-ejections: ticked from the call path, at most once a second, by
  /// whichever call finds it due (no timer to own, and a simulation's virtual clock drives it).
  void tick_balancer(ServiceClient::ServiceState& state) {
    if (!state.balancer) return;
    const auto now = deps.time.steady_now().time_since_epoch().count();
    auto due = state.next_tick_ns.load(std::memory_order_relaxed);
    if (now < due) return;
    const auto next = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(kTickEvery).count();
    if (state.next_tick_ns.compare_exchange_strong(due, next)) state.balancer->tick();
  }

  /// W3C traceparent: the caller's when given in the headers, else a new trace.
  std::string traceparent(const CallOptions& options) {
    for (const auto& [name, value] : options.headers) {
      if (name.size() == 11 && strncasecmp(name.c_str(), "traceparent", 11) == 0) return value;
    }
    // "00-<32 hex trace id>-<16 hex span id>-01", written by hand (snprintf showed in profiles).
    std::string out = "00-";
    out.reserve(55);
    const auto hex = [&out](std::uint64_t v) {
      for (int shift = 60; shift >= 0; shift -= 4) out += "0123456789abcdef"[(v >> shift) & 0xf];
    };
    hex(deps.random.next_u64());
    hex(deps.random.next_u64());
    out += '-';
    hex(deps.random.next_u64() | 1);
    out += "-01";
    return out;
  }

  bool take_retry_token(ServiceClient::ServiceState& state) {
    if (state.budget->try_start_retry()) return true;
    ++exhausted;
    if (auto series = series_of(state); series->budget_exhausted) series->budget_exhausted->inc();
    return false;
  }

  /// Where an attempt goes: the gateway, or an instance not tried yet whose breaker lets it through.
  std::optional<Route> choose_route(ServiceClient::ServiceState& state, const std::string& target,
                                    const CallOptions& options, std::vector<std::string>& tried, CallErrorKind& why) {
    Route route;
    if (state.mode == ServiceClient::ServiceState::Mode::gateway) {
      route.endpoint = state.gateway;
      route.target = state.gateway_prefix + "/" + state.name + target;
      route.instance = "gateway";
      return route;
    }
    why = CallErrorKind::no_instances;
    if (!state.balancer) return std::nullopt;
    std::vector<std::string> skip = tried;
    for (int guard = 0; guard < 64; ++guard) {
      PickRequest request;
      if (options.hash_key) request.hash = hash_key(*options.hash_key);
      request.exclude = &skip;
      auto picked = state.balancer->pick(request);
      if (!picked && picked.error().code == ErrorCode::unavailable) {
        if (skip.size() > tried.size()) {  // what is left has its breaker open
          why = CallErrorKind::circuit_open;
          return std::nullopt;
        }
        skip.clear();  // every instance was tried: go round again
        tried.clear();
        continue;
      }
      if (!picked) return std::nullopt;
      auto breaker = state.instance_breaker(picked->instance->id, deps.time);
      auto permit = breaker->acquire();
      if (!permit) {
        skip.push_back(picked->instance->id);
        continue;
      }
      route.endpoint = http::HostPort{picked->instance->host, static_cast<std::uint16_t>(picked->instance->port),
                                      picked->instance->scheme == "https"};
      route.target = target;
      route.instance = picked->instance->id;
      route.pick = std::move(*picked);
      route.breaker = std::move(breaker);
      route.permit = *permit;
      return route;
    }
    return std::nullopt;
  }

  http::Request make_request(http::Verb method, const std::string& target, const CallOptions& options,
                             const Deadline& deadline, const std::string& trace) {
    http::Request request{method, target, 11};
    for (const auto& [name, value] : options.headers) request.insert(name, value);  // repeated fields stay
    request.set(std::string(kDeadlineHeader), std::to_string(deadline.remaining(deps.time.steady_now()).count()));
    request.set("traceparent", trace);
    if (!options.content_type.empty()) request.set(http::beast_http::field::content_type, options.content_type);
    if (!options.body.empty()) {
      request.set(http::beast_http::field::content_type,
                  options.content_type.empty() ? "application/json" : options.content_type);
      request.body() = options.body;
    }
    return request;
  }

  /// One attempt on one route; its outcome feeds the balancer, the instance breaker and the budget.
  /// `state` is shared: a hedge's loser may still be running after its call returned.
  Awaitable<Attempt> send_attempt(std::shared_ptr<ServiceClient::ServiceState> state_ptr, Route route,
                                  http::Request request, std::chrono::milliseconds timeout,
                                  std::shared_ptr<CancelToken> cancel, http::Transport* via,
                                  const http::Streaming* streaming = nullptr) {
    http::Transport& transport = via != nullptr ? *via : http;
    auto& state = *state_ptr;
    const auto& cfg = state.config;
    Attempt out;
    out.instance = route.instance;
    if (route.pick.load) route.pick.load->active.fetch_add(1, std::memory_order_relaxed);
    const auto sent_at = deps.time.steady_now();
    const auto& faults = cfg.faults;
    bool streamed = false;  // body bytes left the source or reached a sink: never retried
    if (faults.delay_percent > 0 && deps.random.uniform01() * 100 < faults.delay_percent)
      co_await sleeper.sleep_for(faults.delay, cancel.get());
    if (faults.abort_percent > 0 && deps.random.uniform01() * 100 < faults.abort_percent) {
      const nlohmann::json body{{"error", {{"code", "fault_injected"}, {"message", "fault injection abort"}}}};
      out.answer = http::json_response(static_cast<http::Status>(faults.abort_status), body);
    } else if (streaming != nullptr && streaming->active()) {
      // Any byte pulled from the source or handed to a sink makes the attempt unrepeatable.
      http::Streaming counted;
      counted.buffer_up_to = streaming->buffer_up_to;
      if (streaming->request_body) {
        counted.request_body = [&streamed, inner = &streaming->request_body] {
          streamed = true;
          return (*inner)();
        };
      }
      if (streaming->on_head) {
        counted.on_head = [&streamed, inner = &streaming->on_head](const http::Response& head) {
          streamed = true;
          return (*inner)(head);
        };
      }
      if (streaming->on_body) {
        counted.on_body = [&streamed, inner = &streaming->on_body](std::string_view piece) {
          streamed = true;
          return (*inner)(piece);
        };
      }
      out.answer = co_await transport.send_streaming(route.endpoint, std::move(request), timeout, std::move(cancel),
                                                     std::move(counted));
    } else {
      out.answer = co_await transport.send(route.endpoint, std::move(request), timeout, std::move(cancel));
    }
    out.latency = deps.time.steady_now() - sent_at;
    if (route.pick.load) route.pick.load->active.fetch_sub(1, std::memory_order_relaxed);
    const bool cancelled = !out.answer && out.answer.error().code == ErrorCode::cancelled;
    out.not_sent = !out.answer && !cancelled && out.answer.error().field == http::kNotSent;
    const int status = out.answer ? static_cast<int>(out.answer->result_int()) : 0;
    out.retryable = !out.answer ? !cancelled && !streamed && out.answer.error().code != ErrorCode::payload_too_large
                                : cfg.retry.retry_on_statuses.count(status) > 0;
    if (cancelled) {  // a hedge's loser: no verdict on the instance
      if (route.breaker) route.breaker->release(route.permit);
      co_return out;
    }
    const auto outcome = outcome_from_status(status);
    if (state.balancer && route.pick.instance) state.balancer->report(route.pick, outcome, out.latency);
    if (route.breaker) {
      const bool counted =
          outcome == CallOutcome::local_failure || outcome == CallOutcome::http_gateway_failure ||
          (outcome == CallOutcome::http_5xx && cfg.breaker_counts == ServiceConfig::BreakerCounts::all_5xx);
      route.breaker->record(route.permit, !counted, out.latency);
    }
    state.budget->record_attempt(!out.retryable);
    spdlog::debug("event=attempt service={} instance={} status={} latency_us={}", state.name, out.instance, status,
                  std::chrono::duration_cast<std::chrono::microseconds>(out.latency).count());
    co_return out;
  }

  /// The primary attempt, plus a hedge to another instance if it has not answered after the
  /// hedging delay (budget permitting). The first good answer wins; the other attempt is cancelled.
  /// The race runs as its own coroutine on a strand, where every completion lands too: a
  /// coroutine's resumptions go through its own executor, so a strand it merely posted to would
  /// not serialise them.
  Awaitable<Attempt> hedged_attempt(std::shared_ptr<ServiceClient::ServiceState> state_ptr, Route primary,
                                    http::Request request, std::chrono::milliseconds timeout, const std::string& target,
                                    const CallOptions& options, std::vector<std::string>& tried, CallResult& result) {
    auto strand = asio::make_strand(deps.executor);
    co_return co_await asio::co_spawn(strand,
                                      hedge_race(strand, std::move(state_ptr), std::move(primary), std::move(request),
                                                 timeout, target, options, tried, result),
                                      asio::use_awaitable);
  }

  struct Race {
    explicit Race(const asio::strand<asio::any_io_executor>& s) : wake(s) {
      wake.expires_at(asio::steady_timer::time_point::max());
    }
    std::vector<std::optional<Attempt>> done;
    std::vector<std::shared_ptr<CancelToken>> cancels;
    asio::steady_timer wake;  // an event: cancel() wakes the race (strand only, so never lost)
    int running = 0;
    bool delay_over = false;
    std::shared_ptr<CancelToken> delay_cancel = std::make_shared<CancelToken>();
  };

  static Awaitable<void> hedge_delay(Sleeper& sleeper, std::chrono::milliseconds delay,
                                     std::shared_ptr<Race> race) {  // NOLINT: owned by the coroutine
    co_await sleeper.sleep_for(delay, race->delay_cancel.get());
    race->delay_over = true;
    race->wake.cancel();
  }

  // NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
  Awaitable<Attempt> hedge_race(asio::strand<asio::any_io_executor> strand,
                                std::shared_ptr<ServiceClient::ServiceState> state_ptr, Route primary,
                                http::Request request, std::chrono::milliseconds timeout, const std::string& target,
                                const CallOptions& options, std::vector<std::string>& tried, CallResult& result) {
    auto& state = *state_ptr;
    auto race = std::make_shared<Race>(strand);
    // NOLINTNEXTLINE(performance-unnecessary-value-param): moved in
    const auto launch = [&](Route route, http::Request req, bool is_hedge) {
      const std::size_t slot = race->done.size();
      race->done.emplace_back();
      race->cancels.push_back(std::make_shared<CancelToken>());
      ++race->running;
      ++result.attempts;
      ++in_flight;  // a loser outlives its call: shutdown() waits for it too
      asio::co_spawn(
          deps.executor,
          send_attempt(state_ptr, std::move(route), std::move(req), timeout, race->cancels[slot], options.transport),
          asio::bind_executor(strand, [this, race, slot, is_hedge, state_ptr](const std::exception_ptr&, Attempt a) {
            if (is_hedge) state_ptr->budget->retry_finished();  // the hedge held a retry slot
            race->done[slot] = std::move(a);
            --race->running;
            --in_flight;
            race->wake.cancel();
          }));
    };
    const auto good = [](const Attempt& a) { return a.answer && !a.retryable; };
    const auto winner = [&]() -> std::optional<std::size_t> {
      for (std::size_t i = 0; i < race->done.size(); ++i) {
        if (race->done[i] && good(*race->done[i])) return i;
      }
      return std::nullopt;
    };
    const auto wait = [&]() -> Awaitable<void> {
      boost::system::error_code ec;
      race->wake.expires_at(asio::steady_timer::time_point::max());
      co_await race->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    };
    const std::string primary_instance = primary.instance;
    tried.push_back(primary_instance);
    launch(std::move(primary), request, false);
    asio::co_spawn(strand, hedge_delay(sleeper, state.config.hedging.delay, race), asio::detached);
    while (!winner() && race->running > 0 && !race->delay_over) co_await wait();
    if (!winner() && race->running > 0 && take_retry_token(state)) {
      CallErrorKind why = CallErrorKind::no_instances;
      auto second = choose_route(state, target, options, tried, why);
      if (second && second->instance == primary_instance) {  // no other instance: no hedge
        if (second->breaker) second->breaker->release(second->permit);
        second.reset();
      }
      if (second) {
        ++hedges;
        if (auto series = series_of(state); series->hedges) series->hedges->inc();
        tried.push_back(second->instance);
        launch(std::move(*second), request, true);
      } else {
        state.budget->retry_finished();  // no hedge after all
      }
    }
    while (!winner() && race->running > 0) co_await wait();
    race->delay_cancel->cancel();
    const auto won = winner();
    for (std::size_t i = 0; i < race->cancels.size(); ++i) {
      if (!won || i != *won) race->cancels[i]->cancel();  // the loser stops; its permit is released
    }
    if (won) co_return std::move(*race->done[*won]);
    for (auto it = race->done.rbegin(); it != race->done.rend(); ++it) {  // none good: the latest verdict
      if (*it) co_return std::move(**it);
    }
    co_return Attempt{};
  }

  void publish_pool() {
    if (pool_family == nullptr) return;
    const auto p = http.stats();
    pool_family->with({"opened"}).set(static_cast<double>(p.connections_opened));
    pool_family->with({"reused"}).set(static_cast<double>(p.connections_reused));
    pool_family->with({"idle"}).set(static_cast<double>(p.idle));
  }

  Family<Counter>* calls = nullptr;
  Family<Counter>* retries_family = nullptr;
  Family<Counter>* hedges_family = nullptr;
  Family<Counter>* fallbacks_family = nullptr;
  Family<Counter>* budget_family = nullptr;
  Family<Histogram>* duration_family = nullptr;
  Family<Gauge>* in_flight_family = nullptr;
  Family<Gauge>* breaker_family = nullptr;
  Family<Counter>* transitions_family = nullptr;
  Family<Gauge>* pool_family = nullptr;

  ServiceClientOptions options;
  Deps deps;
  std::unique_ptr<http::HttpClient> owned_http;  // null when deps.transport is given
  http::Transport& http;
  AsioSleeper real_sleeper;
  Sleeper& sleeper;
  std::mutex mutex;  // guards services and options.services
  std::map<std::string, std::shared_ptr<ServiceState>> services;
  std::atomic<bool> shutting_down{false};
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::uint64_t> total{0}, succeeded{0}, failed{0}, retries{0}, hedges{0}, fallbacks{0}, trips{0},
      exhausted{0};
  std::mutex kinds_mutex;
  std::map<CallErrorKind, std::uint64_t> kinds;
  std::atomic<std::uint64_t> trace_counter{1};
};

}  // namespace svckit
