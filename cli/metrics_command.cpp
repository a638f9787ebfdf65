// svckit metrics: a /metrics page (svckitd's by default) read as Prometheus text and shown as two
// tables — the gateway's requests per service and the client's calls per service — with counts
// since the process started and p50/p99 from the latency histograms.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/io_context.hpp>
#include <cmath>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "cli/command_runner.hpp"
#include "cli/daemon_request.hpp"
#include "cli/debug_commands.hpp"
#include "cli/output.hpp"
#include "svckit/core/prometheus_text.hpp"
#include "svckit/http/client.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::cli {

namespace {

namespace asio = boost::asio;
using nlohmann::json;

/// A counter as a whole number; NaN, infinities and absurd values (a page that lies) as 0, never
/// an out-of-range conversion.
long long whole(double v) { return std::isfinite(v) && std::fabs(v) < 9e18 ? static_cast<long long>(v) : 0; }

std::string count_text(double v) { return std::to_string(whole(v)); }

json count(double v) { return whole(v); }

std::string seconds_as_ms(const std::optional<double>& seconds) { return seconds ? fixed(*seconds * 1000, 2) : "-"; }

json ms_json(const std::optional<double>& seconds) { return seconds ? json(*seconds * 1000) : json(nullptr); }

std::string_view breaker_name(double state) {
  if (!(state >= 0 && state <= 4)) return "?";
  switch (whole(state)) {
    case 0:
      return "closed";
    case 1:
      return "open";
    case 2:
      return "half_open";
    case 3:
      return "disabled";
    case 4:
      return "forced_open";
    default:
      return "?";
  }
}

struct GatewayRow {
  double requests = 0, c2xx = 0, c4xx = 0, c5xx = 0;
  std::optional<double> p50, p99;
};
struct ClientRow {
  double calls = 0, ok = 0, retries = 0, hedges = 0, fallbacks = 0, in_flight = 0;
  std::optional<double> breaker;
  std::optional<double> p50, p99;
};

struct Figures {
  std::map<std::string, GatewayRow> gateway;
  std::map<std::string, ClientRow> client;
};

Figures summarize(const std::vector<MetricSample>& samples, const std::string& only) {
  Figures f;
  std::set<std::string> gateway_services, client_services;
  for (const auto& s : samples) {
    const std::string service(s.label("service"));
    if (service.empty() || (!only.empty() && service != only)) continue;
    if (s.name == "svckit_gateway_requests_total") {
      auto& row = f.gateway[service];
      row.requests += s.value;
      const auto code = s.label("code");
      if (code.starts_with('2')) row.c2xx += s.value;
      if (code.starts_with('4')) row.c4xx += s.value;
      if (code.starts_with('5')) row.c5xx += s.value;
    } else if (s.name == "svckit_client_calls_total") {
      auto& row = f.client[service];
      row.calls += s.value;
      if (s.label("result") == "ok") row.ok += s.value;
    } else if (s.name == "svckit_client_retries_total") {
      f.client[service].retries += s.value;
    } else if (s.name == "svckit_client_hedges_total") {
      f.client[service].hedges += s.value;
    } else if (s.name == "svckit_client_fallbacks_total") {
      f.client[service].fallbacks += s.value;
    } else if (s.name == "svckit_client_in_flight") {
      f.client[service].in_flight += s.value;
    } else if (s.name == "svckit_client_breaker_state") {
      f.client[service].breaker = s.value;
    }
  }
  for (auto& [service, row] : f.gateway) {
    const auto buckets = buckets_of(samples, "svckit_gateway_request_duration_seconds", {{"service", service}});
    row.p50 = histogram_quantile(0.5, buckets);
    row.p99 = histogram_quantile(0.99, buckets);
  }
  for (auto& [service, row] : f.client) {
    const auto buckets = buckets_of(samples, "svckit_client_call_duration_seconds", {{"service", service}});
    row.p50 = histogram_quantile(0.5, buckets);
    row.p99 = histogram_quantile(0.99, buckets);
  }
  return f;
}

void print(const CommonOptions& common, const std::string& source, const Figures& f) {
  if (common.json) {
    json out{{"source", source}, {"gateway", json::object()}, {"client", json::object()}};
    for (const auto& [service, r] : f.gateway) {
      out["gateway"][service] = {{"requests", count(r.requests)}, {"2xx", count(r.c2xx)},
                                 {"4xx", count(r.c4xx)},          {"5xx", count(r.c5xx)},
                                 {"p50_ms", ms_json(r.p50)},      {"p99_ms", ms_json(r.p99)}};
    }
    for (const auto& [service, r] : f.client) {
      json item{{"calls", count(r.calls)},         {"ok", count(r.ok)},         {"failed", count(r.calls - r.ok)},
                {"retries", count(r.retries)},     {"hedges", count(r.hedges)}, {"fallbacks", count(r.fallbacks)},
                {"in_flight", count(r.in_flight)}, {"p50_ms", ms_json(r.p50)},  {"p99_ms", ms_json(r.p99)}};
      if (r.breaker) item["breaker"] = std::string(breaker_name(*r.breaker));
      out["client"][service] = std::move(item);
    }
    std::cout << out.dump() << "\n";
    return;
  }
  std::cout << "from " << source << " (counts since the process started)\n";
  if (f.gateway.empty() && f.client.empty()) {
    std::cout << "no gateway or client figures yet\n";
    return;
  }
  if (!f.gateway.empty()) {
    std::cout << "\ngateway\n";
    std::vector<std::vector<std::string>> table{
        {"SERVICE", "REQUESTS", "2XX", "4XX", "5XX", "5XX %", "P50 MS", "P99 MS"}};
    for (const auto& [service, r] : f.gateway) {
      table.push_back({service, count_text(r.requests), count_text(r.c2xx), count_text(r.c4xx), count_text(r.c5xx),
                       r.requests > 0 && std::isfinite(r.c5xx / r.requests) ? fixed(100 * r.c5xx / r.requests, 1) : "-",
                       seconds_as_ms(r.p50), seconds_as_ms(r.p99)});
    }
    print_table(std::cout, table);
  }
  if (!f.client.empty()) {
    std::cout << "\nclient\n";
    std::vector<std::vector<std::string>> table{{"SERVICE", "CALLS", "OK", "FAILED", "RETRIES", "HEDGES", "FALLBACKS",
                                                 "BREAKER", "IN FLIGHT", "P50 MS", "P99 MS"}};
    for (const auto& [service, r] : f.client) {
      table.push_back({service, count_text(r.calls), count_text(r.ok), count_text(r.calls - r.ok),
                       count_text(r.retries), count_text(r.hedges), count_text(r.fallbacks),
                       r.breaker ? std::string(breaker_name(*r.breaker)) : "-", count_text(r.in_flight),
                       seconds_as_ms(r.p50), seconds_as_ms(r.p99)});
    }
    print_table(std::cout, table);
  }
}

/// GET of a plain http(s)://host:port/path URL (a service's own /metrics).
http::Awaitable<Result<std::string>> fetch_url(std::string url, asio::any_io_executor executor) {
  const bool tls = url.starts_with("https://");
  if (!tls && !url.starts_with("http://")) {
    co_return make_error(ErrorCode::invalid_argument, "--url must be http://host:port/path or https://...", "url");
  }
  const auto rest = url.substr(tls ? 8 : 7);
  const auto slash = rest.find('/');
  std::string authority = "scheme://" + rest.substr(0, slash);
  auto parsed = net::parse_backend_url(authority, tls ? 443 : 80);
  if (!parsed || parsed->hosts.size() != 1)
    co_return make_error(ErrorCode::invalid_argument, "--url has no host:port", "url");
  auto endpoint = parsed->hosts.front();
  endpoint.tls = tls;
  http::Request request{http::Verb::get, slash == std::string::npos ? std::string("/") : rest.substr(slash), 11};
  request.set(http::beast_http::field::host, rest.substr(0, slash));
  http::HttpClient client(executor, http::ClientOptions{});
  auto answer = co_await client.send(endpoint, std::move(request), std::chrono::seconds(10));
  client.close_idle();
  if (!answer) co_return answer.error();
  if (answer->result_int() >= 300) co_return http::error_from_response(*answer);
  co_return std::move(answer->body());
}

}  // namespace

int run_metrics(const CommonOptions& common, const MetricsCommand& c) {
  if (!c.service.empty()) {
    if (auto v = validate_service_name(c.service); !v) return report(v.error());
  }
  asio::io_context io;
  const std::string source = c.url.empty() ? common.registry + " /metrics" : c.url;
  return run_to_exit(io, [&]() -> http::Awaitable<int> {
    Result<std::string> text = std::string();
    if (c.url.empty()) {
      std::string target = "/metrics";
      std::string command = "metrics";
      text = co_await daemon_text(common.registry, std::move(target), std::move(command), io.get_executor());
    } else {
      text = co_await fetch_url(c.url, io.get_executor());
    }
    if (!text) co_return report(text.error());
    auto samples = parse_prometheus_text(*text);
    if (!samples) co_return report(samples.error());
    print(common, source, summarize(*samples, c.service));
    co_return 0;
  }());
}

}  // namespace svckit::cli
