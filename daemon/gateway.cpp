#include "daemon/gateway.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>
#include <unordered_map>

#include <strings.h>

namespace svckit::daemon {

namespace asio = boost::asio;
namespace beast_http = http::beast_http;

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
  return c;
}

http::ServerOptions server_options(const GatewayOptions& o) {
  http::ServerOptions s;
  s.address = o.address;
  s.port = o.port;
  s.max_body_bytes = o.max_body_bytes;
  s.max_header_bytes = o.max_header_bytes;
  s.max_connections = o.max_connections;
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

/// RFC 9110 7.6.1: hop-by-hop fields, plus any the Connection header names.
bool hop_by_hop(std::string_view name, std::string_view connection_header) {
  for (const char* h : {"connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
                        "te", "trailer", "transfer-encoding", "upgrade"}) {
    if (iequals(name, h)) return true;
  }
  std::size_t start = 0;
  while (start < connection_header.size()) {
    auto comma = connection_header.find(',', start);
    if (comma == std::string_view::npos) comma = connection_header.size();
    auto token = connection_header.substr(start, comma - start);
    while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
    while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
    if (!token.empty() && iequals(name, token)) return true;
    start = comma + 1;
  }
  return false;
}

std::string_view view(boost::beast::string_view s) { return {s.data(), s.size()}; }

http::Response gateway_error(http::Status status, std::string_view code, const std::string& message,
                             const std::string& service) {
  const nlohmann::json body{{"error", {{"code", code}, {"message", message}, {"service", service}}}};
  auto response = http::json_response(status, body);
  if (status == http::Status::service_unavailable || status == http::Status::too_many_requests) {
    response.set(beast_http::field::retry_after, "1");
  }
  return response;
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

}  // namespace

Result<std::unique_ptr<Gateway>> Gateway::create(asio::io_context& io, Registry& registry, MetricsRegistry& metrics,
                                                 const BalancerPlugins& balancers, Random& random,
                                                 const TimeSource& time, GatewayOptions options) {
  std::unique_ptr<Gateway> gateway(new Gateway(io, registry, metrics, random, time, std::move(options)));
  auto client = ServiceClient::create(client_options(gateway->options_),
                                      {io.get_executor(), &gateway->discovery_, balancers, random, time, &metrics});
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

namespace {
std::atomic<std::uint64_t> next_gateway_id{1};
}  // namespace

Gateway::Gateway(asio::io_context& io, Registry& registry, MetricsRegistry& metrics, Random& random,
                 const TimeSource& time, GatewayOptions options)
    : id_(next_gateway_id.fetch_add(1)),
      options_(std::move(options)),
      time_(time),
      metrics_(metrics),
      discovery_strand_(asio::make_strand(io.get_executor())),
      discovery_(discovery_strand_, registry, random, DiscoveryOptions{}, &metrics),
      server_(io, server_options(options_),
              http::ContextHandler([this](http::Request& request, const http::RequestContext& context) {
                return handle(request, context);
              })),
      requests_(metrics.counter("svckit_gateway_requests_total", "Gateway requests by service and status code.",
                                {"service", "code"})),
      duration_(metrics.histogram("svckit_gateway_request_duration_seconds",
                                  "Gateway request latency, retries included.", {"service"})) {}

Gateway::~Gateway() = default;

Result<void> Gateway::start() {
  discovery_.start();
  return server_.listen();
}

http::Awaitable<void> Gateway::stop_following() {
  co_await asio::co_spawn(discovery_strand_, discovery_.shutdown(std::chrono::milliseconds(0)), asio::use_awaitable);
}

http::Awaitable<void> Gateway::shutdown() { co_await client_->shutdown(std::chrono::milliseconds(0)); }

Gateway::Series& Gateway::series_for(const std::string& service, unsigned code) {
  // Family::with() locks and builds label vectors; each I/O thread keeps the series it has used.
  // Series live as long as the registry, and labels are bounded (known services, real codes). The
  // key starts with this gateway's process-unique id: a later gateway at the same address (tests)
  // must not find an earlier one's series.
  thread_local std::unordered_map<std::string, Series> cache;
  std::string key = std::to_string(id_) + '/' + service + '/' + std::to_string(code);
  auto it = cache.find(key);
  if (it == cache.end()) {
    Series made{&requests_.with({service, std::to_string(code)}), &duration_.with({service})};
    it = cache.emplace(std::move(key), made).first;
  }
  return it->second;
}

http::Awaitable<http::Response> Gateway::handle(http::Request& request, const http::RequestContext& context) {
  const auto started = time_.steady_now();
  // /{service}/{rest...}: the service is the first segment; the rest (with the query) goes upstream.
  const std::string_view target = view(request.target());
  std::string service;
  std::string rest = "/";
  if (target.size() > 1 && target.front() == '/') {
    const auto end = target.find_first_of("/?", 1);
    service = std::string(target.substr(1, end == std::string_view::npos ? std::string_view::npos : end - 1));
    if (end != std::string_view::npos)
      rest = target[end] == '?' ? "/" + std::string(target.substr(end)) : std::string(target.substr(end));
  }
  http::Response response;
  std::string instance;
  int attempts = 0;
  std::string label = "_unknown";  // metrics name only services the registry knows (bounded labels)
  if (service.empty()) {
    response = gateway_error(http::Status::not_found, "not_found", "route requests as /{service}/{path}", "");
  } else if (auto valid = validate_service_name(service, "service"); !valid) {
    response = gateway_error(http::Status::bad_request, "invalid_argument", valid.error().message, service);
  } else if (request.method() == http::Verb::unknown) {
    response = gateway_error(http::Status::not_implemented, "not_implemented",
                             "method " + std::string(request.method_string()) + " is not supported", service);
  } else if (discovery_.instance_count(service) == 0) {
    response = gateway_error(http::Status::service_unavailable, "no_instances", service + ": no instance is registered",
                             service);
  } else {
    label = service;
    CallOptions call;
    std::string connection;  // every Connection field, joined: each may name more hop-by-hop fields
    for (auto [it, end] = request.equal_range(beast_http::field::connection); it != end; ++it) {
      connection += std::string(view(it->value())) + ",";
    }
    std::string forwarded_for;
    for (const auto& field : request) {
      const std::string_view name = view(field.name_string());
      const auto id = field.name();
      if (hop_by_hop(name, connection) || id == beast_http::field::host || id == beast_http::field::content_length ||
          id == beast_http::field::content_type || iequals(name, kDeadlineHeader)) {
        continue;
      }
      if (iequals(name, "x-forwarded-for")) {
        forwarded_for = std::string(view(field.value())) + ", ";
        continue;
      }
      call.headers.emplace_back(std::string(name), std::string(view(field.value())));
    }
    call.headers.emplace_back("X-Forwarded-For", forwarded_for + context.remote_address);
    call.headers.emplace_back("X-Forwarded-Proto", "http");
    if (const auto host = view(request[beast_http::field::host]); !host.empty()) {
      call.headers.emplace_back("X-Forwarded-Host", std::string(host));
    }
    call.content_type = std::string(view(request[beast_http::field::content_type]));
    call.body = std::move(request.body());
    call.deadline = incoming_deadline(request, started);
    auto result = co_await client_->try_call(service, request.method(), rest, std::move(call));
    attempts = result.attempts;
    instance = result.instance;
    if (result.response) {  // a good answer, or the upstream's own error answer: passed on
      response = std::move(*result.response);
      std::string upstream_connection;
      for (auto [it, end] = response.equal_range(beast_http::field::connection); it != end; ++it) {
        upstream_connection += std::string(view(it->value())) + ",";
      }
      for (auto it = response.begin(); it != response.end();) {
        it = hop_by_hop(view(it->name_string()), upstream_connection) ? response.erase(it) : std::next(it);
      }
    } else {
      response = from_call_error(*result.error, service);
    }
  }
  const auto elapsed = std::chrono::duration<double>(time_.steady_now() - started);
  auto& series = series_for(label, response.result_int());
  series.requests->inc();
  series.duration->observe(elapsed.count());
  if (options_.access_log) {
    spdlog::info(
        "event=access remote={} method={} target=\"{}\" service={} status={} instance={} attempts={} ms={:.3f}",
        context.remote_address, std::string(request.method_string()), std::string(target), label, response.result_int(),
        instance, attempts, elapsed.count() * 1000);
  }
  co_return response;
}

}  // namespace svckit::daemon
