#include "daemon/gateway.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "daemon/ascii.hpp"
#include "daemon/gateway_access.hpp"
#include "daemon/gateway_internal.hpp"
#include "daemon/proxy_headers.hpp"
#include "svckit/core/log.hpp"
#include "svckit/http/client.hpp"

namespace svckit::daemon {

namespace asio = boost::asio;
namespace beast_http = http::beast_http;

/// One I/O thread: its io_context, listener and upstream pool.
struct Gateway::Worker {
  Worker(Gateway& gateway, const http::ServerOptions& server_options, const http::ClientOptions& pool_options)
      : server(io, server_options,
               http::StreamHandler([&gateway, this](http::ServerExchange& e) { return gateway.serve(*this, e); })),
        pool(io.get_executor(), pool_options) {}
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> work = asio::make_work_guard(io);
  http::HttpServer server;
  http::HttpClient pool;
  std::thread thread;
};

namespace {

ServiceClientOptions client_options(const GatewayOptions& o) {
  ServiceClientOptions c;
  c.defaults.timeout = o.timeout;
  c.defaults.per_try_timeout = std::min(o.per_try_timeout, o.timeout);
  c.defaults.retry.max_attempts = o.max_attempts;
  c.defaults.balancing.policy = o.policy;
  // Envoy's budget, not gRPC A6's: a proxy sees every client's failures, and a token bucket that
  // a few bad instances drain would refuse the retries that hide them.
  c.defaults.retry_budget_mode = ServiceConfig::RetryBudgetMode::concurrency;
  // 50%, not Envoy's 20%: when one of two instances dies, half the requests in flight fail at the
  // same instant (their connections are reset) and all of them deserve their one retry.
  c.defaults.retry_budget_percent = o.retry_budget_percent;
  c.pool.max_response_bytes = o.max_response_bytes;
  // As Envoy and HAProxy: an upstream connection stays pooled until idle_timeout, however many
  // there are (max_connections_per_endpoint bounds them). A cap on idle ones below the concurrency
  // closes connections that the next burst opens again: at 64 client connections over two
  // upstreams, 1 request in 38 paid for a new TCP connection with the default of 32.
  c.pool.max_idle_per_endpoint = c.pool.max_connections_per_endpoint;
  // An application's own 500 is an answer, passed on as it is: only gateway failures (connect
  // errors, timeouts, 502/503/504) count towards the breakers, so one client calling a path that
  // answers 500 cannot open a service's breaker for everyone.
  c.defaults.breaker_counts = ServiceConfig::BreakerCounts::gateway_failures;
  return c;
}

http::ServerOptions server_options(const GatewayOptions& o) {
  http::ServerOptions s;
  s.address = o.address;
  s.port = o.port;
  s.max_body_bytes = o.max_body_bytes;
  s.max_header_bytes = o.max_header_bytes;
  s.max_connections = o.max_connections;
  s.reuse_port = true;
  s.one_thread = true;  // each worker's io_context runs on its own single thread
  s.tls = o.tls;
  return s;
}

/// A failed call as the gateway answers it: 502 bad upstream answer or reset, 503 nothing to send
/// it to (no instance, breaker open, budget, limits), 504 deadline.
http::Response from_call_error(const ServiceCallError& e, const std::string& service) {
  switch (e.kind) {
    case CallErrorKind::timeout:
      return gateway_error(http::Status::gateway_timeout, "timeout", e.what(), service);
    case CallErrorKind::connect:
      return gateway_error(http::Status::bad_gateway, "bad_gateway", e.what(), service);
    case CallErrorKind::rate_limited:
      return gateway_error(http::Status::too_many_requests, "rate_limited", e.what(), service);
    case CallErrorKind::invalid_argument:
      return gateway_error(http::Status::bad_request, "invalid_argument", e.what(), service);
    case CallErrorKind::cancelled:
      return gateway_error(http::Status::service_unavailable, "shutting_down", e.what(), service);
    case CallErrorKind::http_status:  // only reached without a response to pass on
      return gateway_error(http::Status::bad_gateway, "bad_gateway", e.what(), service);
    case CallErrorKind::no_instances:
    case CallErrorKind::circuit_open:
    case CallErrorKind::budget_exhausted:
    case CallErrorKind::bulkhead_full:
      break;
  }
  return gateway_error(http::Status::service_unavailable, to_string(e.kind), e.what(), service);
}

std::atomic<std::uint64_t> next_gateway_id{1};

// The client's side of a relay failing (it hung up, or stopped reading) is not the upstream's
// fault: such errors are reported as `cancelled`, which the ServiceClient records as no verdict on
// the instance (no outlier strike, no breaker failure) and never retries.
Error client_gone(const Error& e) {
  return make_error(ErrorCode::cancelled, "the client went away: " + e.message, e.field);
}

/// What went wrong with a streamed request body, if it was the client's fault: past
/// max_body_bytes (413) or malformed chunked framing (400).
enum class BodyFault { none, too_large, malformed };

/// Reads a streamed request body for the upstream; a failure is the client's, never the instance's.
http::Awaitable<Result<std::string_view>> pull_body(http::ServerExchange& exchange, BodyFault& fault) {
  auto piece = co_await exchange.read_body();
  if (!piece) {
    if (piece.error().code == ErrorCode::payload_too_large) fault = BodyFault::too_large;
    if (piece.error().code == ErrorCode::invalid_argument) fault = BodyFault::malformed;
    co_return client_gone(piece.error());
  }
  co_return piece;
}

http::Awaitable<Result<void>> relay_head(http::ServerExchange& exchange, const http::Response& upstream,
                                         unsigned& status) {
  status = upstream.result_int();
  http::Response relayed(upstream.base());
  strip_hop_by_hop(relayed);
  auto written = co_await exchange.write_head(std::move(relayed));
  if (!written) co_return client_gone(written.error());
  co_return written;
}

http::Awaitable<Result<void>> relay_body(http::ServerExchange& exchange, std::string_view piece) {
  auto written = co_await exchange.write_body(piece);
  if (!written) co_return client_gone(written.error());
  co_return written;
}

}  // namespace

http::Response gateway_error(http::Status status, std::string_view code, const std::string& message,
                             const std::string& service) {
  const nlohmann::json body{{"error", {{"code", code}, {"message", message}, {"service", service}}}};
  auto response = http::json_response(status, body);
  if (status == http::Status::service_unavailable || status == http::Status::too_many_requests) {
    response.set(beast_http::field::retry_after, "1");
  }
  return response;
}

Result<std::unique_ptr<Gateway>> Gateway::create(asio::io_context& io, Registry& registry, MetricsRegistry& metrics,
                                                 const BalancerPlugins& balancers, Random& random,
                                                 const TimeSource& time, GatewayOptions options) {
  std::unique_ptr<Gateway> gateway(new Gateway(io, registry, metrics, random, time, std::move(options)));
  auto client = ServiceClient::create(client_options(gateway->options_),
                                      {io.get_executor(), &gateway->discovery_, balancers, random, time, &metrics,
                                       nullptr, nullptr, gateway->options_.tracer});
  if (!client) {
    auto e = client.error();
    const auto dot = e.field.find('.');  // "defaults.balancing.policy" -> "gateway.policy"
    if (dot != std::string::npos) e.field = "gateway." + e.field.substr(dot + 1);
    if (e.field == "gateway.balancing.policy") e.field = "gateway.policy";
    return e;
  }
  gateway->client_ = std::move(*client);
  return gateway;
}

Gateway::Gateway(asio::io_context& io, Registry& registry, MetricsRegistry& metrics, Random& random,
                 const TimeSource& time, GatewayOptions options)
    : id_(next_gateway_id.fetch_add(1)),
      options_(std::move(options)),
      time_(time),
      metrics_(metrics),
      discovery_strand_(asio::make_strand(io.get_executor())),
      discovery_(discovery_strand_, registry, random, DiscoveryOptions{}, &metrics),
      requests_(metrics.counter("svckit_gateway_requests_total", "Gateway requests by service and status code.",
                                {"service", "code"})),
      duration_(metrics.histogram("svckit_gateway_request_duration_seconds",
                                  "Gateway request latency, retries included.", {"service"})),
      tunnels_(
          metrics.counter("svckit_gateway_tunnels_total", "Upgraded (WebSocket) connections passed through.").get()),
      routes_(with_limiters(options_.routes, time)) {}

std::shared_ptr<const RouteTable> Gateway::with_limiters(RouteTable table, const TimeSource& time) {
  table.limiters.clear();
  table.guarded_services.clear();
  for (const auto& route : table.routes) {
    if (route.auth || route.limit.per_second > 0) table.guarded_services.push_back(route.service);
    const auto& limit = route.limit;
    table.limiters.push_back(
        limit.per_second > 0
            ? std::make_shared<PeerRateLimiter>(PeerRateLimits{limit.per_second, limit.burst, limit.max_clients}, time)
            : nullptr);
  }
  return std::make_shared<const RouteTable>(std::move(table));
}

Gateway::~Gateway() { stop_workers(); }

Result<void> Gateway::start() {
  discovery_.start();
  const unsigned threads = options_.threads != 0 ? options_.threads : std::max(1U, std::thread::hardware_concurrency());
  auto listen = server_options(options_);
  const auto pool = client_options(options_).pool;
  for (unsigned i = 0; i < threads; ++i) {
    // The first worker binds the port (maybe a free one); the others share it (SO_REUSEPORT).
    workers_.push_back(std::make_unique<Worker>(*this, listen, pool));
    if (auto r = workers_.back()->server.listen(); !r) return r;
    listen.port = workers_.back()->server.port();
  }
  port_ = listen.port;
  for (auto& worker : workers_) {
    worker->thread = std::thread([w = worker.get()] { w->io.run(); });
  }
  return {};
}

void Gateway::begin_shutdown() {
  shutting_down_ = true;
  for (auto& worker : workers_) worker->server.begin_shutdown();
  close_tunnels();
}

std::size_t Gateway::connections() const {
  std::size_t n = 0;
  for (const auto& worker : workers_) n += worker->server.connections();
  return n;
}

void Gateway::set_routes(RouteTable routes) {
  auto table = with_limiters(std::move(routes), time_);
  {
    std::lock_guard lock(routes_mutex_);
    routes_ = std::move(table);
  }
  routes_version_.fetch_add(1, std::memory_order_release);
}

std::shared_ptr<const RouteTable> Gateway::routes() {
  // Each thread keeps the table it last saw and only takes the lock when the version moved.
  struct Cached {
    std::uint64_t gateway = 0;
    std::uint64_t version = 0;
    std::shared_ptr<const RouteTable> table;
  };
  thread_local Cached cached;
  const auto version = routes_version_.load(std::memory_order_acquire);
  if (cached.gateway != id_ || cached.version != version || !cached.table) {
    std::lock_guard lock(routes_mutex_);
    cached = Cached{id_, version, routes_};
  }
  return cached.table;
}

http::Awaitable<void> Gateway::stop_following() {
  co_await asio::co_spawn(discovery_strand_, discovery_.shutdown(std::chrono::milliseconds(0)), asio::use_awaitable);
}

http::Awaitable<void> Gateway::shutdown() {
  co_await client_->shutdown(std::chrono::milliseconds(0));
  stop_workers();
}

std::optional<ServiceBalancingView> Gateway::balancing(const std::string& service) const {
  return client_->inspect(service);
}

void Gateway::stop_workers() {
  for (auto& worker : workers_) {
    worker->work.reset();
    worker->pool.close_idle();
  }
  for (auto& worker : workers_) {
    worker->io.stop();
    if (worker->thread.joinable()) worker->thread.join();
  }
}

namespace {

/// The gateway's access log line for one request (outside the coroutine: no brace-initialised
/// temporaries in a coroutine frame).
nlohmann::json access_line(SystemTime now, const std::string& remote, const http::RequestHead& head,
                           const std::string& service, unsigned status, const std::string& upstream, int attempts,
                           double seconds, const std::string& client, const std::string& route, std::uint64_t bytes) {
  const std::string_view target = head.target();
  nlohmann::json line{{"time", utc_timestamp(now)},
                      {"remote", remote},
                      {"method", std::string(head.method_string())},
                      {"path", std::string(target.substr(0, target.find('?')))},
                      {"service", service},
                      {"status", status},
                      {"upstream", upstream},
                      {"attempts", attempts},
                      {"duration_ms", std::round(seconds * 1e6) / 1e3}};
  if (!client.empty()) line["client"] = client;  // the authenticated caller: API key name, JWT sub
  if (!route.empty()) line["route"] = route;
  line["bytes"] = bytes;
  // W3C traceparent "00-<32 hex trace id>-<16 hex span id>-<flags>": its trace id.
  const std::string_view trace = head["traceparent"];
  if (trace.size() >= 55 && trace[2] == '-') line["trace_id"] = std::string(trace.substr(3, 32));
  return line;
}

}  // namespace

Gateway::Series& Gateway::series_for(const std::string& service, unsigned code) {
  // Family::handle() locks and builds label vectors; each I/O thread keeps the series it has used
  // and looks them up again once the registry removed series (a gone service's series expire, see
  // MetricExpiry). The cache is emptied then too, so names that stopped coming do not pile up. It
  // belongs to one gateway (by its process-unique id): a later gateway at the same address (tests)
  // must not find an earlier one's series. Looked up by service, then code: no key is built.
  struct Known {
    std::uint64_t gateway = 0;
    std::uint64_t generation = 0;
    std::size_t size = 0;
    std::unordered_map<std::string, std::vector<std::pair<unsigned, Series>>> by_service;
  };
  thread_local Known known;
  const auto generation = metrics_.generation();
  if (known.gateway != id_ || generation != known.generation ||
      known.size >= 4096) {  // bounded: names come from the network
    known.by_service.clear();
    known.gateway = id_;
    known.generation = generation;
    known.size = 0;
  }
  auto it = known.by_service.find(service);
  if (it == known.by_service.end()) it = known.by_service.try_emplace(service).first;
  for (auto& [known_code, series] : it->second) {
    if (known_code == code) return series;
  }
  ++known.size;
  Series made{requests_.handle({service, std::to_string(code)}), duration_.handle({service}), generation};
  return it->second.emplace_back(code, std::move(made)).second;
}

http::Awaitable<void> Gateway::serve(Worker& worker, http::ServerExchange& exchange) {
  const auto started = time_.steady_now();
  const auto& head = exchange.head();
  const std::string_view target = head.target();
  Outcome out;
  trace::Span span;  // the request's server span, when tracing
  const auto facts = scan_head(head);
  if (options_.tracer != nullptr) {
    options_.tracer->start_span(span, std::string(head.method_string()), trace::SpanKind::server,
                                trace::parse_trace_context(facts.traceparent, facts.tracestate));
    out.trace = span.context();
  }
  std::optional<http::Response> refusal;
  AccessGrant grant;
  const auto table = routes();
  const auto route = match_route(*table, facts.host, target);
  if (route && route->by_route) {
    const auto& r = table->routes[route->route_index];
    out.route = r.host + r.prefix;
  } else if (route) {
    out.route = "/{service}";
  }
  if (!route || route->service.empty()) {
    refusal = gateway_error(
        http::Status::not_found, "not_found",
        table->service_paths ? "no route matches; route requests as /{service}/{path}" : "no route matches", "");
  } else if (auto valid = route->by_route ? Result<void>{} : validate_service_name(route->service, "service");
             !valid) {  // a configured route's name was checked when the routes were loaded
    refusal = gateway_error(http::Status::bad_request, "invalid_argument", valid.error().message, route->service);
  } else if (head.method() == http::Verb::unknown) {
    refusal = gateway_error(http::Status::not_implemented, "not_implemented",
                            "method " + std::string(head.method_string()) + " is not supported", route->service);
  } else if (!route->by_route && std::find(table->guarded_services.begin(), table->guarded_services.end(),
                                           route->service) != table->guarded_services.end()) {
    // Guarded by a route's authentication or rate limit: the default form would go around it.
    refusal = gateway_error(http::Status::not_found, "not_found",
                            "no route matches; " + route->service + " is reached through its configured routes", "");
  } else if (route->by_route &&
             (refusal = check_access(table->routes[route->route_index], table->limiters[route->route_index].get(), head,
                                     exchange.context().remote_address, time_.system_now(), grant))) {
    // Refused: no credential, a bad one, or over the route's rate; nothing went upstream. A
    // configured route's service is a bounded label (a name from a path is not: see series_for).
    out.label = route->service;
  } else if (discovery_.instance_count(route->service) == 0) {
    refusal = gateway_error(http::Status::service_unavailable, "no_instances",
                            route->service + ": no instance is registered", route->service);
  }
  if (refusal) {
    out.status = refusal->result_int();
    out.bytes = refusal->body().size();
    (void)co_await exchange.respond(std::move(*refusal));
  } else {
    out.label = route->service;
    out.identity = grant.identity;
    if (wants_upgrade(head)) {
      co_await tunnel(exchange, *route, grant, out);
    } else {
      co_await proxy(worker, exchange, facts, *route, grant, out);
    }
  }
  const auto elapsed = std::chrono::duration<double>(time_.steady_now() - started);
  if (span.recording()) {
    span.set_name(std::string(head.method_string()) + " " + (out.route.empty() ? std::string("unmatched") : out.route));
    span.set_attribute("http.request.method", head.method_string());
    span.set_attribute("url.path", target.substr(0, target.find('?')));
    if (!out.route.empty()) span.set_attribute("http.route", out.route);
    span.set_attribute("http.response.status_code", static_cast<std::int64_t>(out.status));
    span.set_attribute("client.address", exchange.context().remote_address);
    span.set_attribute("svckit.service", out.label);
    if (!out.instance.empty()) span.set_attribute("svckit.instance", out.instance);
    if (out.attempts > 1) span.set_attribute("svckit.attempts", static_cast<std::int64_t>(out.attempts));
    if (out.status >= 500) span.set_status(trace::StatusCode::error, "HTTP " + std::to_string(out.status));
  }
  span.end();
  auto& series = series_for(out.label, out.status);
  series.requests->inc();
  series.duration->observe(elapsed.count());
  if (options_.access_log) {
    // With a trace: its ids, which JSON logs lift to top-level "trace_id" / "span_id".
    const std::string ids =
        out.trace.valid() ? " trace_id=" + out.trace.trace_id_hex() + " span_id=" + out.trace.span_id_hex() : "";
    logs::info(
        "gateway",
        "event=access remote={} method={} target=\"{}\" service={} status={} instance={} attempts={} ms={:.3f}{}",
        exchange.context().remote_address, std::string(head.method_string()), std::string(target), out.label,
        out.status, out.instance, out.attempts, elapsed.count() * 1000, ids);
  }
  if (options_.access_log_lines != nullptr) {
    auto line = access_line(time_.system_now(), exchange.context().remote_address, head, out.label, out.status,
                            out.instance, out.attempts, elapsed.count(), out.identity, out.route, out.bytes);
    if (out.trace.valid()) line["trace_id"] = out.trace.trace_id_hex();
    options_.access_log_lines->write(line);
  }
}

http::Awaitable<void> Gateway::proxy(Worker& worker, http::ServerExchange& exchange, const HeadFacts& facts,
                                     const RouteMatch& route, const AccessGrant& grant, Outcome& out) {
  const auto started = time_.steady_now();
  const auto& head = exchange.head();
  CallOptions call;
  call.transport = &worker.pool;
  const auto& peer = exchange.context().remote_address;
  call.fields = upstream_fields(
      head, Forwarding{peer, route.stripped_prefix, false, trusted_peer(peer), options_.tls != nullptr});
  // Credentials stay here once verified, and a client never sets a header the gateway vouches for.
  apply_grant(call.fields, grant);
  if (out.trace.valid()) call.trace_parent = out.trace;  // the call: a child (the context, not its text)
  call.content_type = facts.content_type;
  call.deadline = incoming_deadline(facts.deadline, started);
  call.streaming.buffer_up_to = options_.buffer_response_bytes;
  const auto length = exchange.content_length();
  BodyFault fault = BodyFault::none;  // a streamed body went past max_body_bytes or was malformed
  const bool has_body = exchange.chunked() || (length && *length > 0);
  if (has_body && length && *length <= options_.buffer_request_bytes) {
    // Small: read first, so a failed attempt can be sent again elsewhere.
    for (;;) {
      auto piece = co_await exchange.read_body();
      if (!piece) {
        const bool too_large = piece.error().code == ErrorCode::payload_too_large;
        out.status = too_large ? 413 : 400;
        (void)co_await exchange.respond(
            gateway_error(too_large ? http::Status::payload_too_large : http::Status::bad_request,
                          too_large ? "payload_too_large" : "invalid_argument", piece.error().message, route.service));
        co_return;
      }
      if (piece->empty()) break;
      call.body.append(*piece);
    }
  } else if (has_body) {
    if (length) call.fields.set(beast_http::field::content_length, std::to_string(*length));
    call.streaming.request_body = [&exchange, &fault] { return pull_body(exchange, fault); };
  }
  call.streaming.on_head = [&exchange, &out](const http::Response& upstream_head) {
    return relay_head(exchange, upstream_head, out.status);
  };
  call.streaming.on_body = [&exchange, &out](std::string_view piece) {
    out.bytes += piece.size();
    return relay_body(exchange, piece);
  };

  auto result = co_await client_->try_call(route.service, head.method(), route.path, std::move(call));
  out.attempts = result.attempts;
  out.instance = result.instance;
  if (exchange.head_sent()) {  // streamed: the status is on the wire already
    if (result.ok() && co_await exchange.finish()) co_return;
    // Cut mid-body: the client sees the connection close before the end (a proxy cannot do better).
    logs::warn("gateway", "event=gateway_stream_cut service={} instance={} error=\"{}\"", route.service, out.instance,
               result.error ? result.error->what() : "writing to the client failed");
    co_return;
  }
  http::Response response;
  if (fault == BodyFault::too_large) {
    response = gateway_error(http::Status::payload_too_large, "payload_too_large",
                             "request body is larger than " + std::to_string(options_.max_body_bytes) + " bytes",
                             route.service);
  } else if (fault == BodyFault::malformed) {
    response = gateway_error(http::Status::bad_request, "invalid_argument",
                             result.error ? result.error->what() : "malformed request body", route.service);
  } else if (result.response) {  // a good answer, or the upstream's own error answer: passed on
    response = std::move(*result.response);
    strip_hop_by_hop(response);
  } else {
    response = from_call_error(*result.error, route.service);
  }
  out.status = response.result_int();
  out.bytes = response.body().size();
  (void)co_await exchange.respond(std::move(response));
}

}  // namespace svckit::daemon
