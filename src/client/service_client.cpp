#include "svckit/client/service_client.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>

#include "client/service_state.hpp"
#include "svckit/resilience/deadline.hpp"

#include <strings.h>
#include <nlohmann/json.hpp>

namespace svckit {

namespace asio = boost::asio;

namespace {

constexpr std::chrono::milliseconds kMargin{2}, kMinAttempt{1};
constexpr std::chrono::seconds kTickEvery{1};

/// A caller's synchronous body sink, awaited like the transport's asynchronous ones.
Awaitable<Result<void>> feed_sink(const http::BodySink* sink, std::string_view piece) { co_return (*sink)(piece); }

/// Where one attempt goes.
struct Route {
  http::HostPort endpoint;
  std::string target;
  std::string instance;  // instance id, or "gateway"
  Pick pick;
  CircuitBreaker* breaker = nullptr;
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

}  // namespace

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

  ClientSeries series_for(const std::string& service) {
    ClientSeries s;
    if (deps.metrics == nullptr) return s;
    const std::vector<std::string> l{service};
    s.ok = &calls->with({service, "ok"});
    s.retries = &retries_family->with(l);
    s.hedges = &hedges_family->with(l);
    s.fallbacks = &fallbacks_family->with(l);
    s.budget_exhausted = &budget_family->with(l);
    s.duration = &duration_family->with(l);
    s.in_flight = &in_flight_family->with(l);
    s.breaker_state = &breaker_family->with(l);
    return s;
  }

  /// Discovery mode: feed the balancer when the registry moved since it last did.
  void refresh_from_discovery(ServiceClient::ServiceState& state) {
    if (state.mode != ServiceClient::ServiceState::Mode::discovery || deps.discovery == nullptr || !state.balancer) {
      return;
    }
    const auto index = deps.discovery->stats().index;
    if (state.applied_index.exchange(index) != index)
      state.balancer->update(deps.discovery->discover(state.name), index);
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
    if (state.series.budget_exhausted != nullptr) state.series.budget_exhausted->inc();
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
      auto& breaker = state.instance_breaker(picked->instance->id, deps.time);
      auto permit = breaker.acquire();
      if (!permit) {
        skip.push_back(picked->instance->id);
        continue;
      }
      route.endpoint = http::HostPort{picked->instance->host, static_cast<std::uint16_t>(picked->instance->port),
                                      picked->instance->scheme == "https"};
      route.target = target;
      route.instance = picked->instance->id;
      route.pick = std::move(*picked);
      route.breaker = &breaker;
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
    if (route.breaker) route.breaker->record(route.permit, outcome == CallOutcome::success, out.latency);
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
        if (state.series.hedges != nullptr) state.series.hedges->inc();
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

namespace {
Result<void> check_policy(const ServiceConfig& config, const BalancerPlugins& balancers, const std::string& prefix) {
  const auto names = balancers.names();
  if (std::find(names.begin(), names.end(), config.balancing.policy) != names.end()) return {};
  std::string known;
  for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
  const auto field = prefix + "balancing.policy";
  return make_error(ErrorCode::invalid_argument,
                    field + " '" + config.balancing.policy + "' is not a known policy (" + known + ")", field);
}
}  // namespace

Result<std::unique_ptr<ServiceClient>> ServiceClient::create(ServiceClientOptions options, Deps deps) {
  if (auto r = validate(options.defaults, "defaults."); !r) return r.error();
  if (auto r = check_policy(options.defaults, deps.balancers, "defaults."); !r) return r.error();
  for (const auto& [name, config] : options.services) {
    if (auto r = validate_service_name(name, "services"); !r) return r.error();
    if (auto r = validate(config, "services." + name + "."); !r) return r.error();
    if (auto r = check_policy(config, deps.balancers, "services." + name + "."); !r) return r.error();
  }
  if (!options.gateway_url.empty()) {
    auto url = http::parse_backend_url(options.gateway_url, 80);
    if (!url || (url->scheme != "http" && url->scheme != "https") || url->hosts.size() != 1) {
      return make_error(ErrorCode::invalid_argument, "gateway_url must be http(s)://host:port[/prefix]", "gateway_url");
    }
  }
  return std::unique_ptr<ServiceClient>(new ServiceClient(std::move(options), std::move(deps)));
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): both are moved into Impl
ServiceClient::ServiceClient(ServiceClientOptions options, Deps deps)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(deps))) {}

ServiceClient::~ServiceClient() = default;

Result<ServiceClient::Endpoint> ServiceClient::pick_endpoint(const std::string& service, const std::string& path,
                                                             const std::vector<std::string>& exclude) {
  if (auto valid = validate_service_name(service, "service"); !valid) return valid.error();
  auto state = state_for(service);
  impl_->refresh_from_discovery(*state);
  std::vector<std::string> tried = exclude;
  CallErrorKind why = CallErrorKind::no_instances;
  const CallOptions none;
  auto route = impl_->choose_route(*state, path, none, tried, why);
  if (!route) {
    return make_error(ErrorCode::unavailable,
                      service + (why == CallErrorKind::circuit_open ? ": every instance's breaker is open"
                                                                    : ": no instance can take traffic"));
  }
  if (route->breaker != nullptr) route->breaker->release(route->permit);  // a tunnel is not a call: no verdict
  return Endpoint{route->endpoint, route->target, route->instance};
}

std::shared_ptr<ServiceClient::ServiceState> ServiceClient::state_for(const std::string& service) {
  std::lock_guard lock(impl_->mutex);
  auto& slot = impl_->services[service];
  if (slot) return slot;
  auto it = impl_->options.services.find(service);
  const ServiceConfig& config = it != impl_->options.services.end() ? it->second : impl_->options.defaults;
  auto on_trip = [impl = impl_.get(), service](const BreakerTransition& t) {
    if (t.to == BreakerState::open) ++impl->trips;
    if (impl->breaker_family != nullptr) {
      impl->breaker_family->with({service}).set(static_cast<double>(static_cast<int>(t.to)));
      impl->transitions_family->with({service, std::string(to_string(t.to))}).inc();
    }
    spdlog::warn("event=breaker_transition service={} from={} to={} reason=\"{}\"", service, to_string(t.from),
                 to_string(t.to), t.reason);
  };
  auto state = std::make_shared<ServiceState>(service, config, impl_->deps.time, on_trip);
  state->series = impl_->series_for(service);
  if (config.rate_limit_per_second > 0) {
    const double burst = config.rate_limit_burst > 0 ? config.rate_limit_burst : config.rate_limit_per_second;
    state->rate_limiter =
        std::make_unique<TokenBucket>(config.rate_limit_per_second, std::max(1.0, burst), impl_->deps.time);
  }
  // NOLINTNEXTLINE(bugprone-branch-clone): the branches build different limit types
  if (config.adaptive_concurrency == ServiceConfig::AdaptiveConcurrency::aimd) {
    state->adaptive = std::make_unique<AdaptiveLimiter>(std::make_unique<AimdLimit>(AimdOptions{}));
  } else if (config.adaptive_concurrency == ServiceConfig::AdaptiveConcurrency::gradient2) {
    state->adaptive = std::make_unique<AdaptiveLimiter>(std::make_unique<Gradient2Limit>(Gradient2Options{}));
  }
  if (config.adaptive_throttling) {
    state->throttle =
        std::make_unique<AdaptiveThrottle>(AdaptiveThrottleOptions{}, impl_->deps.time, impl_->deps.random);
  }
  if (!config.static_urls.empty()) {
    state->mode = ServiceState::Mode::static_urls;
  } else if (!impl_->options.gateway_url.empty()) {
    state->mode = ServiceState::Mode::gateway;
    auto url = http::parse_backend_url(impl_->options.gateway_url, 80);  // validated at create()
    state->gateway = url->hosts.front();
    state->gateway.tls = url->scheme == "https";
    state->gateway_prefix = url->path == "/" ? "" : url->path;
  }
  if (state->mode != ServiceState::Mode::gateway) {
    auto balancer = ServiceBalancer::create(service, config.balancing, impl_->deps.balancers,
                                            {impl_->deps.random, impl_->deps.time}, impl_->deps.metrics);
    if (balancer) state->balancer = std::move(*balancer);
  }
  if (state->mode == ServiceState::Mode::static_urls && state->balancer) {
    std::vector<ServiceInstance> instances;
    for (const auto& u : config.static_urls) {
      auto url = http::parse_backend_url(u, 80);
      for (const auto& hp : url->hosts) {
        ServiceInstance in;
        in.service = service;
        in.host = hp.host;
        in.port = hp.port;
        in.scheme = url->scheme;
        in.normalize();
        instances.push_back(std::move(in));
      }
    }
    state->balancer->update(instances);
  }
  slot = state;
  return state;
}

Result<void> ServiceClient::update_service_config(
    const std::string& service,
    ServiceConfig config) {  // NOLINT(performance-unnecessary-value-param): moved in
  if (auto r = validate_service_name(service, "service"); !r) return r;
  if (auto r = validate(config, "services." + service + "."); !r) return r;
  if (auto r = check_policy(config, impl_->deps.balancers, "services." + service + "."); !r) return r;
  std::lock_guard lock(impl_->mutex);
  impl_->options.services[service] = std::move(config);
  impl_->services.erase(service);  // the next call builds fresh state; calls in flight keep theirs
  return {};
}

namespace {

bool idempotent(http::Verb v) {
  return v == http::Verb::get || v == http::Verb::head || v == http::Verb::put || v == http::Verb::delete_ ||
         v == http::Verb::options || v == http::Verb::trace;
}

std::string build_target(const std::string& path, const std::multimap<std::string, std::string>& params) {
  std::string target = path.empty() || path.front() != '/' ? "/" + path : path;
  char sep = target.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, v] : params) {
    target += sep;
    target += http::url_encode(k) + "=" + http::url_encode(v);
    sep = '&';
  }
  return target;
}

}  // namespace

Awaitable<CallResult> ServiceClient::try_call(std::string service, http::Verb method, std::string path,
                                              CallOptions options) {
  auto& impl = *impl_;
  ++impl.total;
  CallResult result;
  if (auto valid = validate_service_name(service, "service"); !valid) {
    result.error.emplace(CallErrorKind::invalid_argument, valid.error().message, service);
  } else if (impl.shutting_down) {
    result.error.emplace(CallErrorKind::cancelled, "the client is shutting down", service);
  } else {
    impl.in_flight.fetch_add(1);
    auto state = state_for(service);
    const auto& series = state->series;
    if (series.in_flight != nullptr) series.in_flight->add(1);
    const auto started = impl.deps.time.steady_now();
    result = co_await run(state, method, build_target(path, options.params), options);
    if (series.duration != nullptr) {
      series.duration->observe(std::chrono::duration<double>(impl.deps.time.steady_now() - started).count());
      series.in_flight->add(-1);
    }
    impl.in_flight.fetch_sub(1);
    if (!result.ok() && result.error && options.fallback) {
      if (auto answer = options.fallback(*result.error)) {
        ++impl.fallbacks;
        if (series.fallbacks != nullptr) series.fallbacks->inc();
        result.response = std::move(*answer);
        result.error.reset();
      }
    }
    if (impl.calls != nullptr) {
      if (result.ok()) {  // NOLINT(bugprone-branch-clone): different series
        series.ok->inc();
      } else {
        impl.calls->with({service, std::string(to_string(result.error->kind))}).inc();
      }
      impl.publish_pool();
    }
  }
  if (result.ok()) {
    ++impl.succeeded;
  } else {
    ++impl.failed;
    std::lock_guard lock(impl.kinds_mutex);
    ++impl.kinds[result.error ? result.error->kind : CallErrorKind::http_status];
  }
  co_return result;
}

Awaitable<http::Response> ServiceClient::call(std::string service, http::Verb method, std::string path,
                                              CallOptions options) {
  auto result = co_await try_call(std::move(service), method, std::move(path), std::move(options));
  if (result.error) throw *result.error;
  co_return std::move(*result.response);
}

namespace {

/// call_all's body. Runs as its own coroutine on `strand`, where every completion lands too, so
/// the batch needs no lock and the done event is never lost.
// NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
Awaitable<std::vector<CallResult>> gather(ServiceClient& client, asio::any_io_executor executor,
                                          asio::strand<asio::any_io_executor> strand, std::vector<CallSpec> calls) {
  struct Batch {
    explicit Batch(const asio::strand<asio::any_io_executor>& s, std::size_t n) : results(n), left(n), done(s) {
      done.expires_at(asio::steady_timer::time_point::max());
    }
    std::vector<CallResult> results;
    std::size_t left;
    asio::steady_timer done;
  };
  auto batch = std::make_shared<Batch>(strand, calls.size());
  for (std::size_t i = 0; i < calls.size(); ++i) {
    auto& c = calls[i];
    asio::co_spawn(executor, client.try_call(std::move(c.service), c.method, std::move(c.path), std::move(c.options)),
                   asio::bind_executor(strand, [batch, i](const std::exception_ptr& error, CallResult result) {
                     if (error) {
                       result.error.emplace(CallErrorKind::cancelled, "the call ended with an exception", "");
                     }
                     batch->results[i] = std::move(result);
                     if (--batch->left == 0) batch->done.cancel();
                   }));
  }
  while (batch->left > 0) {
    boost::system::error_code ec;
    co_await batch->done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  co_return std::move(batch->results);
}

}  // namespace

Awaitable<std::vector<CallResult>> ServiceClient::call_all(std::vector<CallSpec> calls) {
  auto strand = asio::make_strand(impl_->deps.executor);
  co_return co_await asio::co_spawn(strand, gather(*this, impl_->deps.executor, strand, std::move(calls)),
                                    asio::use_awaitable);
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): moved into the coroutine
CallResult ServiceClient::call_sync(std::string service, http::Verb method, std::string path, CallOptions options) {
  return asio::co_spawn(impl_->deps.executor, try_call(std::move(service), method, std::move(path), std::move(options)),
                        asio::use_future)
      .get();
}

std::optional<Deadline> incoming_deadline(const http::RequestHead& request, SteadyTime now) {
  auto it = request.find(std::string(kDeadlineHeader));
  if (it == request.end()) return std::nullopt;
  auto budget = parse_deadline_header(std::string_view(it->value().data(), it->value().size()));
  if (!budget) return std::nullopt;
  return Deadline::after(now, *budget);
}

Awaitable<http::Response> call_service(ServiceClient& client, std::string service, std::string path) {
  co_return co_await client.call(std::move(service), http::Verb::get, std::move(path));
}

Awaitable<CallResult> ServiceClient::run(std::shared_ptr<ServiceState> state, http::Verb method, std::string target,
                                         const CallOptions& options) {
  auto& impl = *impl_;
  const auto& cfg = state->config;
  const auto& time = impl.deps.time;
  CallResult result;
  // NOLINTNEXTLINE(performance-unnecessary-value-param): moved into the error
  const auto fail = [&](CallErrorKind kind, std::string message, std::string instance = {}, int status = 0) {
    result.error.emplace(kind, std::move(message), state->name, std::move(instance), status, result.attempts);
  };

  // Admission: bulkhead, rate limiter, adaptive throttling, service breaker.
  if (cfg.max_concurrent_calls > 0 && !state->bulkhead.try_enter()) {
    fail(CallErrorKind::bulkhead_full,
         state->name + ": " + std::to_string(cfg.max_concurrent_calls) + " calls already in flight");
    co_return result;
  }
  struct BulkheadExit {
    ServiceState& s;
    bool entered;
    ~BulkheadExit() {
      if (entered) s.bulkhead.leave();
    }
  } bulkhead_exit{*state, cfg.max_concurrent_calls > 0};
  // The adaptive limit learns from every admitted call: its latency, and whether it was dropped.
  struct AdaptiveRelease {
    const TimeSource& time;
    AdaptiveLimiter* limiter = nullptr;
    int in_flight = 0;
    SteadyTime started;
    const CallResult* result = nullptr;
    ~AdaptiveRelease() {
      if (limiter == nullptr) return;
      const auto& e = result->error;
      const bool dropped = e && (e->kind == CallErrorKind::timeout || e->status == 429 || e->status == 503);
      limiter->release(time.steady_now() - started, in_flight, dropped);
    }
  } adaptive_release{time, nullptr, 0, time.steady_now(), nullptr};
  if (state->adaptive) {
    if (!state->adaptive->try_acquire(adaptive_release.in_flight)) {
      fail(CallErrorKind::bulkhead_full, state->name + ": adaptive concurrency limit (" +
                                             std::to_string(static_cast<int>(state->adaptive->limit())) + ") reached");
      co_return result;
    }
    adaptive_release.limiter = state->adaptive.get();
    adaptive_release.result = &result;
  }
  if (state->rate_limiter && !state->rate_limiter->try_acquire()) {
    fail(CallErrorKind::rate_limited, state->name + ": client-side rate limit reached");
    co_return result;
  }
  if (state->throttle && !state->throttle->allow()) {
    fail(CallErrorKind::rate_limited, state->name + ": rejected locally by adaptive throttling (backend overloaded)");
    co_return result;
  }
  auto service_permit = state->service_breaker.acquire();
  if (!service_permit) {
    fail(CallErrorKind::circuit_open, state->name + ": " + service_permit.error().message);
    co_return result;
  }

  const auto started = time.steady_now();
  auto deadline = Deadline::after(started, options.timeout.value_or(cfg.timeout));
  if (options.deadline) deadline = deadline.earliest(*options.deadline);
  const int max_attempts = std::max(1, options.max_attempts.value_or(cfg.retry.max_attempts));
  const bool may_retry = idempotent(method) || options.retry_non_idempotent.value_or(cfg.retry.retry_non_idempotent);
  const bool hedge = may_retry && options.hedge.value_or(cfg.hedging.enabled) &&
                     state->mode != ServiceState::Mode::gateway && !options.on_body && !options.streaming.active();
  Backoff backoff(cfg.retry.backoff, impl.deps.random);
  std::vector<std::string> tried;
  state->budget->call_started();
  impl.refresh_from_discovery(*state);
  impl.tick_balancer(*state);
  const std::string trace = impl.traceparent(options);
  http::Streaming streaming = options.streaming;
  if (options.on_body) {
    streaming.on_body = [sink = &options.on_body](std::string_view piece) { return feed_sink(sink, piece); };
  }

  // A retry holds a slot of the budget from its backoff to its end (Envoy counts retries in flight).
  struct RetrySlot {
    RetryBudget& budget;
    bool held = false;
    void release() {
      if (held) budget.retry_finished();
      held = false;
    }
    ~RetrySlot() { release(); }
  } retry_slot{*state->budget};
  bool transparent = false;  // the last attempt never left: its retry is gRPC's transparent retry
  for (int attempt = 1; attempt <= max_attempts; ++attempt) {
    retry_slot.release();
    if (attempt > 1) {
      if (!may_retry && !transparent) break;
      const auto delay = backoff.next();
      if (!deadline.allows_retry_after(delay, time.steady_now(), kMargin, kMinAttempt)) {
        if (!result.error || result.error->kind != CallErrorKind::http_status) {
          fail(CallErrorKind::timeout, state->name + ": the deadline leaves no room for another attempt",
               result.instance);
        }
        break;
      }
      if (!transparent) {
        if (!impl.take_retry_token(*state)) {
          fail(CallErrorKind::budget_exhausted, state->name + ": retry budget exhausted", result.instance);
          break;
        }
        retry_slot.held = true;
      }
      ++impl.retries;
      if (state->series.retries != nullptr) state->series.retries->inc();
      co_await impl.sleeper.sleep_for(delay);
    }
    const auto timeout = deadline.attempt_timeout(cfg.per_try_timeout, time.steady_now(), kMargin, kMinAttempt);
    if (!timeout) {
      fail(CallErrorKind::timeout, state->name + ": deadline exceeded", result.instance);
      break;
    }
    CallErrorKind why = CallErrorKind::no_instances;
    auto route = impl.choose_route(*state, target, options, tried, why);
    if (!route) {
      fail(why, state->name + (why == CallErrorKind::circuit_open ? ": every instance's breaker is open"
                                                                  : ": no instance can take traffic"));
      break;
    }
    auto request = impl.make_request(method, route->target, options, deadline, trace);
    Attempt done;
    if (hedge) {
      done = co_await impl.hedged_attempt(state, std::move(*route), request, *timeout, target, options, tried, result);
    } else {
      ++result.attempts;
      done = co_await impl.send_attempt(state, std::move(*route), std::move(request), *timeout, nullptr,
                                        options.transport, streaming.active() ? &streaming : nullptr);
    }
    result.instance = done.instance;
    transparent = done.not_sent;
    if (!done.answer) {
      const auto code = done.answer.error().code;
      fail(code == ErrorCode::timeout     ? CallErrorKind::timeout
           : code == ErrorCode::cancelled ? CallErrorKind::cancelled
                                          : CallErrorKind::connect,
           state->name + " (" + done.instance + "): " + done.answer.error().message, done.instance);
      if (!done.retryable) break;
      tried.push_back(done.instance);
      continue;
    }
    const int status = static_cast<int>(done.answer->result_int());
    if (status >= 400) {
      fail(CallErrorKind::http_status, state->name + " answered HTTP " + std::to_string(status), done.instance, status);
    } else {
      result.error.reset();
    }
    result.response = std::move(*done.answer);
    if (!done.retryable) break;
    if (attempt < max_attempts) result.response.reset();  // try again elsewhere
    tried.push_back(done.instance);
  }
  retry_slot.release();
  state->budget->call_finished();
  if (result.response && result.response->result_int() < 400) result.error.reset();
  // A 4xx is the caller's problem, not the service's: it neither trips the breaker nor counts as
  // a refusal for adaptive throttling (which only 429/503 and no answer at all do).
  const bool service_failed =
      result.error && !(result.error->kind == CallErrorKind::http_status && result.error->status < 500);
  state->service_breaker.record(*service_permit, !service_failed, time.steady_now() - started);
  if (state->throttle) {
    const bool refused = result.error && (result.error->kind != CallErrorKind::http_status ||
                                          result.error->status == 429 || result.error->status == 503);
    state->throttle->record(!refused);
  }
  if (result.error && result.response && result.error->kind != CallErrorKind::http_status) result.response.reset();
  co_return result;
}

Awaitable<void> ServiceClient::shutdown(std::chrono::milliseconds drain) {
  impl_->shutting_down = true;
  const auto& time = impl_->deps.time;
  const auto until = time.steady_now() + drain;
  while (impl_->in_flight.load() > 0 && time.steady_now() < until) {
    co_await impl_->sleeper.sleep_for(std::chrono::milliseconds(5));
  }
  impl_->http.close_idle();
}

ServiceClientStats ServiceClient::stats() const {
  ServiceClientStats s;
  s.total_calls = impl_->total;
  s.successful_calls = impl_->succeeded;
  s.failed_calls = impl_->failed;
  s.retries = impl_->retries;
  s.hedges = impl_->hedges;
  s.pool = impl_->http.stats();
  s.fallbacks = impl_->fallbacks;
  s.breaker_trips = impl_->trips;
  s.budget_exhausted = impl_->exhausted;
  s.in_flight = impl_->in_flight;
  std::lock_guard lock(impl_->kinds_mutex);
  s.failures_by_kind = impl_->kinds;
  return s;
}

}  // namespace svckit
