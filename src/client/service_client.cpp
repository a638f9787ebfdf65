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

#include "client/service_client_impl.hpp"
#include "client/service_state.hpp"
#include "core/per_thread_cache.hpp"
#include "svckit/core/log.hpp"
#include "svckit/resilience/deadline.hpp"

#include <strings.h>
#include <nlohmann/json.hpp>

namespace svckit {

namespace asio = boost::asio;

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
    auto url = net::parse_backend_url(options.gateway_url, 80);
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

// NOLINTNEXTLINE(performance-unnecessary-value-param): both are moved in
ServiceClient::Impl::Impl(ServiceClientOptions o, Deps d)
    : options(std::move(o)),
      deps(std::move(d)),
      families(deps.metrics),
      owned_http(deps.transport != nullptr ? nullptr : std::make_unique<http::HttpClient>(deps.executor, options.pool)),
      http(deps.transport != nullptr ? *deps.transport : *owned_http),
      sleeper(deps.sleeper != nullptr ? *deps.sleeper : real_sleeper) {}

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
  // The call path takes no client-wide lock: each thread remembers the states it looked up, until
  // update_service_config replaces one (states_generation).
  thread_local detail::PerThreadCache<ServiceState> known;
  const auto generation = impl_->states_generation.load(std::memory_order_acquire);
  if (auto state = known.find(impl_->id, generation, service)) return state;
  auto state = state_for_locked(service);
  known.remember(service, state);
  return state;
}

std::shared_ptr<ServiceClient::ServiceState> ServiceClient::state_for_locked(const std::string& service) {
  std::lock_guard lock(impl_->mutex);
  auto& slot = impl_->services[service];
  if (slot) return slot;
  auto it = impl_->options.services.find(service);
  const ServiceConfig& config = it != impl_->options.services.end() ? it->second : impl_->options.defaults;
  auto on_trip = [impl = impl_.get(), service](const BreakerTransition& t) {
    if (t.to == BreakerState::open) ++impl->trips;
    if (impl->families.breaker != nullptr) {
      impl->families.breaker->with({service}).set(static_cast<double>(static_cast<int>(t.to)));
      impl->families.transitions->with({service, std::string(to_string(t.to))}).inc();
    }
    logs::warn("client", "event=breaker_transition service={} from={} to={} reason=\"{}\"", service, to_string(t.from),
               to_string(t.to), t.reason);
  };
  auto state = std::make_shared<ServiceState>(service, config, impl_->deps.time, on_trip);
  impl_->series_of(*state);
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
    auto url = net::parse_backend_url(impl_->options.gateway_url, 80);  // validated at create()
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
      auto url = net::parse_backend_url(u, 80);
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
  impl_->states_generation.fetch_add(1, std::memory_order_release);  // and no thread keeps the old one
  return {};
}

namespace {

bool idempotent(http::Verb v) {
  return v == http::Verb::get || v == http::Verb::head || v == http::Verb::put || v == http::Verb::delete_ ||
         v == http::Verb::options || v == http::Verb::trace;
}

/// A call's own retry strategy, checked as a service's is (errors name "retry.<field>").
Result<void> validate_call_retry(const CallOptions& options) {
  if (!options.retry) return {};
  if (options.retry->max_attempts < 1 || options.retry->max_attempts > 10) {
    return make_error(ErrorCode::invalid_argument, "retry.max_attempts must be in 1..10", "retry.max_attempts");
  }
  if (auto r = validate(options.retry->backoff); !r) {
    return make_error(ErrorCode::invalid_argument, "retry.backoff." + r.error().field + ": " + r.error().message,
                      "retry.backoff." + r.error().field);
  }
  return {};
}

std::string build_target(const std::string& path, const std::multimap<std::string, std::string>& params) {
  std::string target = path.empty() || path.front() != '/' ? "/" + path : path;
  char sep = target.find('?') == std::string::npos ? '?' : '&';
  for (const auto& [k, v] : params) {
    target += sep;
    target += net::url_encode(k) + "=" + net::url_encode(v);
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
  } else if (auto retry = validate_call_retry(options); !retry) {
    result.error.emplace(CallErrorKind::invalid_argument, retry.error().message, service);
  } else if (impl.shutting_down) {
    result.error.emplace(CallErrorKind::cancelled, "the client is shutting down", service);
  } else {
    impl.in_flight.fetch_add(1);
    auto state = state_for(service);
    const auto series_ptr = impl.series_of(*state);
    const ClientSeries& series = *series_ptr;
    if (series.in_flight) series.in_flight->add(1);
    const auto started = impl.deps.time.steady_now();
    result = co_await run(state, method, build_target(path, options.params), options);
    const auto finished = impl.deps.time.steady_now();
    if (series.duration) {
      series.duration->observe(std::chrono::duration<double>(finished - started).count());
      series.in_flight->add(-1);
    }
    impl.in_flight.fetch_sub(1);
    if (!result.ok() && result.error && (options.fallback || options.async_fallback)) {
      std::optional<http::Response> answer;
      if (options.fallback) answer = options.fallback(*result.error);
      if (!answer && options.async_fallback) {
        ServiceCallError why = *result.error;
        answer = co_await options.async_fallback(std::move(why));
      }
      if (answer) {
        ++impl.fallbacks;
        if (series.fallbacks) series.fallbacks->inc();
        result.response = std::move(*answer);
        result.error.reset();
      }
    }
    if (impl.families.calls != nullptr) {
      if (result.ok()) {  // NOLINT(bugprone-branch-clone): different series
        series.ok->inc();
      } else {
        impl.families.calls->with({service, std::string(to_string(result.error->kind))}).inc();
      }
      impl.publish_pool(finished);
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
  auto it = request.find(kDeadlineHeader);
  if (it == request.end()) return std::nullopt;
  return incoming_deadline(std::string_view(it->value().data(), it->value().size()), now);
}

std::optional<Deadline> incoming_deadline(std::string_view header_value, SteadyTime now) {
  // No header (the usual case) is no deadline, without building parse_deadline_header's error.
  if (header_value.empty()) return std::nullopt;
  auto budget = parse_deadline_header(header_value);
  if (!budget) return std::nullopt;
  return Deadline::after(now, *budget);
}

Awaitable<http::Response> call_service(ServiceClient& client, std::string service, std::string path) {
  co_return co_await client.call(std::move(service), http::Verb::get, std::move(path));
}

Awaitable<CallResult> ServiceClient::run(std::shared_ptr<ServiceState> state, http::Verb method, std::string target,
                                         CallOptions& options) {
  auto& impl = *impl_;
  const auto& cfg = state->config;
  const auto& time = impl.deps.time;
  CallResult result;
  // NOLINTNEXTLINE(performance-unnecessary-value-param): moved into the error
  const auto fail = [&](CallErrorKind kind, std::string message, std::string instance = {}, int status = 0) {
    result.error.emplace(kind, std::move(message), state->name, std::move(instance), status, result.attempts);
  };
  // When a retry is cut short, the error still says what failed: "...; attempt 2 failed: <why>".
  const auto cause = [&]() -> std::string {
    if (!result.error) return {};
    std::string why = result.error->what();
    if (why.starts_with(state->name + ": ")) why.erase(0, state->name.size() + 2);
    return "; attempt " + std::to_string(result.attempts) + " failed: " + why;
  };
  const auto status_so_far = [&] { return result.error ? result.error->status : 0; };

  CallAdmission admission(*state, time, options.circuit_breaker.value_or(true));
  if (auto refused = admission.enter()) {
    fail(refused->kind, std::move(refused->message));
    co_return result;
  }

  const auto started = time.steady_now();
  auto deadline = Deadline::after(started, options.timeout.value_or(cfg.timeout));
  if (options.deadline) deadline = deadline.earliest(*options.deadline);
  const RetryPolicy& retry = options.retry ? *options.retry : cfg.retry;
  const int max_attempts = std::max(1, options.max_attempts.value_or(retry.max_attempts));
  const bool may_retry = idempotent(method) || options.retry_non_idempotent.value_or(retry.retry_non_idempotent);
  const bool hedge = may_retry && options.hedge.value_or(cfg.hedging.enabled) &&
                     state->mode != ServiceState::Mode::gateway && !options.on_body && !options.streaming.active();
  Backoff backoff(retry.backoff, impl.deps.random);
  std::vector<std::string> tried;
  state->budget->call_started();
  impl.refresh_from_discovery(*state);
  impl.tick_balancer(*state);
  // With a tracer the call is a span (its attempts its children); without, the caller's
  // traceparent (or a new one) goes out as is.
  trace::Span call_span;
  trace::SpanContext::TraceparentText trace_text;
  std::string_view trace;
  if (impl.deps.tracer != nullptr) {
    std::optional<trace::SpanContext> parent = options.trace_parent;
    if (!parent) {
      if (const auto given = Impl::caller_traceparent(options)) {
        parent = trace::parse_trace_context(*given, Impl::caller_header(options, "tracestate").value_or(""));
      }
    }
    // Named once it is known to record: an unsampled call (most, at a low ratio) builds no text.
    impl.deps.tracer->start_span(call_span, std::string(), trace::SpanKind::internal, parent);
    if (call_span.recording()) {
      call_span.set_name("call " + state->name);
      call_span.set_attribute("svckit.service", state->name);
      call_span.set_attribute("http.request.method", http::beast_http::to_string(method));
    }
    trace_text = call_span.context().traceparent_text();
    trace = std::string_view(trace_text.data(), trace_text.size());
  } else if (options.trace_parent && options.trace_parent->valid()) {
    trace_text = options.trace_parent->traceparent_text();
    trace = std::string_view(trace_text.data(), trace_text.size());
  } else {
    trace = impl.traceparent(options, trace_text);
  }
  // Every attempt sends it, aimed anew. With a tracer each attempt writes its own span's
  // traceparent (send_attempt), so none is written here only to be replaced.
  http::Request request = impl.make_request(method, options, impl.deps.tracer != nullptr ? std::string_view() : trace);
  Impl::add_service_headers(request, cfg);
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
          fail(CallErrorKind::timeout, state->name + ": the deadline leaves no room for another attempt" + cause(),
               result.instance, status_so_far());
        }
        break;
      }
      if (!transparent) {
        if (!impl.take_retry_token(*state)) {
          fail(CallErrorKind::budget_exhausted, state->name + ": retry budget exhausted" + cause(), result.instance,
               status_so_far());
          break;
        }
        retry_slot.held = true;
      }
      ++impl.retries;
      if (auto series = impl.series_of(*state); series->retries) series->retries->inc();
      co_await impl.sleeper.sleep_for(delay);
    }
    const auto now = time.steady_now();  // the attempt's one clock read before it is sent
    const auto timeout = deadline.attempt_timeout(cfg.per_try_timeout, now, kMargin, kMinAttempt);
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
    Impl::aim(request, route->target, deadline.remaining(now));
    route->trace_parent = call_span.context();
    route->resend = attempt - 1;
    result.response.reset();  // the answer of the attempt before, kept until another one is made
    Attempt done;
    if (hedge) {
      done = co_await impl.hedged_attempt(state, std::move(*route), request, *timeout, target, options, tried, result);
    } else {
      ++result.attempts;
      done = co_await impl.send_attempt(state, *route, request, *timeout, nullptr, options.transport,
                                        streaming.active() ? &streaming : nullptr);
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
    tried.push_back(done.instance);
  }
  retry_slot.release();
  state->budget->call_finished();
  if (result.response && result.response->result_int() < 400) result.error.reset();
  admission.finish(result);
  if (result.error && result.response && result.error->kind != CallErrorKind::http_status) result.response.reset();
  if (call_span.recording()) {
    call_span.set_attribute("svckit.attempts", static_cast<std::int64_t>(result.attempts));
    if (result.response) {
      call_span.set_attribute("http.response.status_code", static_cast<std::int64_t>(result.response->result_int()));
    }
    if (result.error) {
      call_span.set_attribute("error.type", to_string(result.error->kind));
      call_span.set_status(trace::StatusCode::error, result.error->what());
    }
  }
  call_span.end();
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
  {
    std::lock_guard lock(impl_->mutex);
    for (const auto& [name, state] : impl_->services) {
      if (!state) continue;
      std::lock_guard state_lock(state->mutex);
      s.instance_breakers += state->instance_breakers.size();
    }
  }
  std::lock_guard lock(impl_->kinds_mutex);
  s.failures_by_kind = impl_->kinds;
  return s;
}

}  // namespace svckit
