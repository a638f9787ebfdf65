// ServiceClient's route choice and single attempt: discovery feeding, the balancer's tick, the
// trace header, the retry token, where an attempt goes, the request it sends and what it came to.
#include <utility>

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "client/service_client_impl.hpp"

#include <charconv>

#include <strings.h>
#include "svckit/core/log.hpp"

namespace svckit {

namespace client_detail {

Awaitable<Result<void>> feed_sink(const http::BodySink* sink, std::string_view piece) { co_return (*sink)(piece); }

}  // namespace client_detail

void ServiceClient::Impl::refresh_from_discovery(ServiceClient::ServiceState& state) {
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

void ServiceClient::Impl::tick_balancer(ServiceClient::ServiceState& state) {
  if (!state.balancer) return;
  const auto now = deps.time.steady_now().time_since_epoch().count();
  auto due = state.next_tick_ns.load(std::memory_order_relaxed);
  if (now < due) return;
  const auto next = now + std::chrono::duration_cast<std::chrono::steady_clock::duration>(kTickEvery).count();
  if (state.next_tick_ns.compare_exchange_strong(due, next)) state.balancer->tick();
}

std::optional<std::string_view> ServiceClient::Impl::caller_header(const CallOptions& options, std::string_view name) {
  if (const auto given = options.fields[boost::beast::string_view(name.data(), name.size())]; !given.empty()) {
    return std::string_view(given.data(), given.size());
  }
  for (const auto& [header, value] : options.headers) {
    if (header.size() == name.size() && strncasecmp(header.c_str(), name.data(), name.size()) == 0) return value;
  }
  return std::nullopt;
}

std::string_view ServiceClient::Impl::traceparent(const CallOptions& options,
                                                  trace::SpanContext::TraceparentText& out) {
  if (auto given = caller_traceparent(options)) return *given;
  // "00-<32 hex trace id>-<16 hex span id>-01", written by hand into one buffer (snprintf, and
  // then appending character by character, showed in profiles).
  out[0] = out[1] = '0';
  out[2] = '-';
  trace::write_hex16(trace::write_hex16(out.data() + 3, deps.random.next_u64()), deps.random.next_u64());
  out[35] = '-';
  trace::write_hex16(out.data() + 36, deps.random.next_u64() | 1);
  out[52] = '-';
  out[53] = '0';
  out[54] = '1';
  return std::string_view(out.data(), out.size());
}

bool ServiceClient::Impl::take_retry_token(ServiceClient::ServiceState& state) {
  if (state.budget->try_start_retry()) return true;
  ++exhausted;
  if (auto series = series_of(state); series->budget_exhausted) series->budget_exhausted->inc();
  return false;
}

std::optional<Route> ServiceClient::Impl::choose_route(ServiceClient::ServiceState& state, const std::string& target,
                                                       const CallOptions& options, std::vector<std::string>& tried,
                                                       CallErrorKind& why) {
  Route route;
  if (options.retry) route.retry_on = &options.retry->retry_on_statuses;
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
    std::shared_ptr<CircuitBreaker> breaker;
    CircuitBreaker::Permit permit_taken;
    if (options.circuit_breaker.value_or(true)) {
      breaker = state.instance_breaker(picked->instance->id, deps.time);
      auto permit = breaker->acquire();
      if (!permit) {
        skip.push_back(picked->instance->id);
        continue;
      }
      permit_taken = *permit;
    }
    route.endpoint = net::HostPort{picked->instance->host, static_cast<std::uint16_t>(picked->instance->port),
                                   picked->instance->scheme == "https"};
    route.target = target;
    route.instance = picked->instance->id;
    route.pick = std::move(*picked);
    route.breaker = std::move(breaker);
    route.permit = permit_taken;
    return route;
  }
  return std::nullopt;
}

void ServiceClient::Impl::add_service_headers(http::Request& request, const ServiceConfig& config) {
  for (const auto& [name, value] : config.headers) {
    if (request.find(name) == request.end()) request.set(name, value);
  }
  if (!config.api_key.empty() && request.find(config.api_key_header) == request.end()) {
    const bool bearer = ::strcasecmp(config.api_key_header.c_str(), "authorization") == 0;
    request.set(config.api_key_header, bearer ? "Bearer " + config.api_key : config.api_key);
  }
}

http::Request ServiceClient::Impl::make_request(http::Verb method, CallOptions& options, std::string_view trace) {
  http::Request request{method, "/", 11, std::string{}, std::move(options.fields)};
  for (const auto& [name, value] : options.headers) request.insert(name, value);  // repeated fields stay
  if (!trace.empty()) request.set("traceparent", trace);
  if (!options.content_type.empty()) request.set(http::beast_http::field::content_type, options.content_type);
  if (!options.body.empty()) {
    request.set(http::beast_http::field::content_type,
                options.content_type.empty() ? "application/json" : options.content_type);
    request.body() = std::move(options.body);
  }
  return request;
}

void ServiceClient::Impl::aim(http::Request& request, const std::string& target, std::chrono::milliseconds remaining) {
  if (request.target() != target) request.target(target);
  request.set(kDeadlineHeader, std::to_string(remaining.count()));
}

Awaitable<Attempt> ServiceClient::Impl::send_attempt(std::shared_ptr<ServiceClient::ServiceState> state_ptr,
                                                     Route& route, http::Request& request,
                                                     std::chrono::milliseconds timeout,
                                                     std::shared_ptr<CancelToken> cancel, http::Transport* via,
                                                     const http::Streaming* streaming) {
  http::Transport& transport = via != nullptr ? *via : http;
  auto& state = *state_ptr;
  const auto& cfg = state.config;
  Attempt out;
  trace::Span span;  // this attempt's, a child of the call's: the request carries its context
  // A gRPC call (GrpcTransport: the target is "/package.Service/Method") is named and described
  // with OpenTelemetry's RPC conventions instead of HTTP's.
  const bool grpc = std::string_view(request[http::beast_http::field::content_type]).starts_with("application/grpc");
  if (deps.tracer != nullptr && route.trace_parent.valid()) {
    const std::string_view rpc_method = std::string_view(route.target).substr(route.target.starts_with('/') ? 1 : 0);
    deps.tracer->start_span(span, grpc ? std::string(rpc_method) : std::string(request.method_string()),
                            trace::SpanKind::client, route.trace_parent);
    const auto text = span.context().traceparent_text();
    request.set("traceparent", std::string_view(text.data(), text.size()));
    if (span.recording()) {
      if (grpc) {
        const auto slash = rpc_method.find('/');
        span.set_attribute("rpc.system", "grpc");
        span.set_attribute("rpc.service", rpc_method.substr(0, slash));
        if (slash != std::string_view::npos) span.set_attribute("rpc.method", rpc_method.substr(slash + 1));
      } else {
        span.set_attribute("http.request.method", request.method_string());
        span.set_attribute("url.path", std::string_view(route.target).substr(0, route.target.find('?')));
      }
      span.set_attribute("server.address", route.endpoint.host);
      span.set_attribute("server.port", static_cast<std::int64_t>(route.endpoint.port));
      span.set_attribute("svckit.service", state.name);
      span.set_attribute("svckit.instance", route.instance);
      if (route.resend > 0) span.set_attribute("http.request.resend_count", static_cast<std::int64_t>(route.resend));
      if (route.hedge) span.set_attribute("svckit.hedge", true);
    }
  }
  out.instance = std::move(route.instance);  // route.instance is not read again
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
    out.answer = co_await transport.send_in_place(route.endpoint, request, timeout, std::move(cancel), &counted);
  } else {
    out.answer = co_await transport.send_in_place(route.endpoint, request, timeout, std::move(cancel), nullptr);
  }
  out.latency = deps.time.steady_now() - sent_at;
  if (route.pick.load) route.pick.load->active.fetch_sub(1, std::memory_order_relaxed);
  const bool cancelled = !out.answer && out.answer.error().code == ErrorCode::cancelled;
  out.not_sent = !out.answer && !cancelled && out.answer.error().field == http::kNotSent;
  const int status = out.answer ? static_cast<int>(out.answer->result_int()) : 0;
  out.retryable = !out.answer
                      ? !cancelled && !streamed && out.answer.error().code != ErrorCode::payload_too_large
                      : (route.retry_on != nullptr ? *route.retry_on : cfg.retry.retry_on_statuses).count(status) > 0;
  if (span.recording()) {
    if (out.answer && grpc) {
      // The gRPC status the transport carried over; a client span is an error for any but OK.
      const std::string_view code = (*out.answer)["grpc-status"];
      int number = 0;
      std::from_chars(code.data(), code.data() + code.size(), number);
      span.set_attribute("rpc.grpc.status_code", static_cast<std::int64_t>(number));
      if (number != 0) span.set_status(trace::StatusCode::error, std::string((*out.answer)["grpc-message"]));
    } else if (out.answer) {
      span.set_attribute("http.response.status_code", static_cast<std::int64_t>(status));
      if (status >= 500) span.set_status(trace::StatusCode::error, "HTTP " + std::to_string(status));
    } else {
      span.set_attribute("error.type",
                         cancelled ? std::string("cancelled") : std::string(to_string(out.answer.error().code)));
      span.set_status(trace::StatusCode::error, out.answer.error().message);
    }
  }
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
  if (logs::enabled("client", spdlog::level::debug)) {
    // The attempt's trace ids (JSON logs lift them to the top of the line).
    const auto ids = trace::parse_traceparent(request["traceparent"]);
    logs::debug("client", "event=attempt service={} instance={} status={} latency_us={} trace_id={} span_id={}",
                state.name, out.instance, status,
                std::chrono::duration_cast<std::chrono::microseconds>(out.latency).count(),
                ids ? ids->trace_id_hex() : "-", ids ? ids->span_id_hex() : "-");
  }
  co_return out;
}

}  // namespace svckit
