// svckit call: one call through discovery with ServiceClient (balancing, retries, breakers), its
// attempts printed from the client's own attempt spans.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/beast/http/verb.hpp>
#include <cctype>
#include <fstream>
#include <iostream>
#include <iterator>
#include <mutex>
#include <sstream>

#include "cli/command_runner.hpp"
#include "cli/debug_commands.hpp"
#include "cli/output.hpp"
#include "svckit/balance/load_balancer.hpp"
#include "svckit/client/service_client.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/discovery/discovery_client.hpp"

namespace svckit::cli {

namespace {

namespace asio = boost::asio;
using nlohmann::json;

/// Keeps the spans the client ends (one per call, one per attempt); thread-safe.
class SpanRecorder final : public trace::SpanSink {
 public:
  void on_end(trace::SpanData span) override {
    std::lock_guard lock(mutex_);
    spans_.push_back(std::move(span));
  }
  std::vector<trace::SpanData> attempts() const {
    std::lock_guard lock(mutex_);
    std::vector<trace::SpanData> out;
    for (const auto& s : spans_) {
      if (s.kind == trace::SpanKind::client) out.push_back(s);
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.start_unix_ns < b.start_unix_ns; });
    return out;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<trace::SpanData> spans_;
};

std::string attribute(const trace::SpanData& span, std::string_view key) {
  for (const auto& a : span.attributes) {
    if (a.key != key) continue;
    if (const auto* s = std::get_if<std::string_view>(&a.value)) return std::string(*s);
    if (const auto* i = std::get_if<std::int64_t>(&a.value)) return std::to_string(*i);
    if (const auto* b = std::get_if<bool>(&a.value)) return *b ? "true" : "false";
  }
  return {};
}

std::string millis(std::int64_t ns) {
  std::ostringstream out;
  out.precision(ns < 10'000'000 ? 2 : 1);
  out << std::fixed << static_cast<double>(ns) / 1e6 << " ms";
  return out.str();
}

json attempt_json(const trace::SpanData& span, int n) {
  json out{{"attempt", n},
           {"instance", attribute(span, "svckit.instance")},
           {"address", attribute(span, "server.address") + ":" + attribute(span, "server.port")},
           {"duration_ms", static_cast<double>(span.end_unix_ns - span.start_unix_ns) / 1e6}};
  if (const auto status = attribute(span, "http.response.status_code"); !status.empty())
    out["status"] = std::stoi(status);
  if (const auto error = attribute(span, "error.type"); !error.empty()) out["error"] = error;
  if (!span.status_message.empty()) out["message"] = span.status_message;
  if (attribute(span, "svckit.hedge") == "true") out["hedge"] = true;
  return out;
}

std::string attempt_line(const trace::SpanData& span, int n, const std::string& method, const std::string& path) {
  std::string line = "* attempt " + std::to_string(n) + (attribute(span, "svckit.hedge") == "true" ? " (hedge)" : "") +
                     ": " + method + " " + attribute(span, "server.address") + ":" + attribute(span, "server.port") +
                     path + " (instance " + attribute(span, "svckit.instance") + ") -> ";
  const auto status = attribute(span, "http.response.status_code");
  const auto error = attribute(span, "error.type");
  if (!status.empty()) {
    line += status;
  } else {
    line += error.empty() ? std::string("no answer") : error;
  }
  if (!span.status_message.empty() && status.empty()) line += " (" + span.status_message + ")";
  return line + " in " + millis(span.end_unix_ns - span.start_unix_ns);
}

Result<std::string> read_body(const std::string& data) {
  if (!data.starts_with('@')) return data;
  const auto path = data.substr(1);
  if (path == "-") return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  std::ifstream in(path, std::ios::binary);
  if (!in) return invalid("cannot read " + path, "data");
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// Everything the call needs, checked before any I/O.
struct PreparedCall {
  http::Verb verb = http::Verb::get;
  std::chrono::milliseconds timeout{10'000};
  CallOptions options;
};

Result<PreparedCall> prepare(const CallCommand& c) {
  PreparedCall out;
  std::string method = c.method;
  for (auto& ch : method) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  out.verb = http::beast_http::string_to_verb(method);
  if (out.verb == http::Verb::unknown) return invalid("unknown HTTP method '" + c.method + "'", "method");
  if (c.path.empty() || c.path.front() != '/')
    return invalid("the path must start with '/', got '" + c.path + "'", "path");
  auto timeout = parse_duration(c.timeout, "timeout");
  if (!timeout) return timeout.error();
  if (timeout->count() <= 0) return invalid("timeout must be above 0", "timeout");
  out.timeout = *timeout;
  if (c.attempts < 0 || c.attempts > 10) return invalid("attempts must be 1..10 (0: the default)", "attempts");
  auto body = read_body(c.data);
  if (!body) return body.error();
  out.options.body = std::move(*body);
  for (const auto& h : c.headers) {
    const auto colon = h.find(':');
    if (colon == std::string::npos || colon == 0)
      return invalid("a header is 'Name: value', got '" + h + "'", "header");
    std::string value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.erase(0, 1);
    std::string name = h.substr(0, colon);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    if (name == "content-type") {
      out.options.content_type = value;
    } else {
      out.options.headers.emplace_back(h.substr(0, colon), std::move(value));
    }
  }
  out.options.timeout = *timeout;
  if (c.attempts > 0) out.options.max_attempts = c.attempts;
  if (c.idempotent) out.options.retry_non_idempotent = true;
  return out;
}

int exit_code_for_call(const CallResult& result) {
  if (result.ok()) return 0;
  if (result.response) return 6;  // the service answered with an error status
  if (!result.error) return 1;
  switch (result.error->kind) {
    case CallErrorKind::no_instances:
      return 3;
    case CallErrorKind::invalid_argument:
      return 2;
    case CallErrorKind::timeout:
    case CallErrorKind::connect:
    case CallErrorKind::circuit_open:
    case CallErrorKind::budget_exhausted:
    case CallErrorKind::bulkhead_full:
    case CallErrorKind::rate_limited:
      return 4;
    default:
      return 1;
  }
}

void print_result(const CommonOptions& common, const CallCommand& c, const CallResult& result,
                  const std::vector<trace::SpanData>& attempts, const std::string& method) {
  if (common.json) {
    json out{{"service", c.service}, {"attempts", json::array()}};
    int n = 0;
    for (const auto& a : attempts) out["attempts"].push_back(attempt_json(a, ++n));
    if (!result.instance.empty()) out["instance"] = result.instance;
    if (result.response) {
      out["status"] = result.response->result_int();
      json headers = json::object();
      for (const auto& f : result.response->base()) headers[std::string(f.name_string())] = std::string(f.value());
      out["headers"] = std::move(headers);
      auto parsed = parse_json(result.response->body());
      out["body"] = parsed ? std::move(*parsed) : json(result.response->body());
    }
    if (result.error) out["error"] = {{"kind", to_string(result.error->kind)}, {"message", result.error->what()}};
    std::cout << out.dump() << "\n";
    return;
  }
  if (!c.quiet) {
    int n = 0;
    for (const auto& a : attempts) std::cerr << attempt_line(a, ++n, method, c.path) << "\n";
  }
  if (result.response) {
    if (c.include) {
      std::cout << "HTTP/1.1 " << result.response->result_int() << " " << result.response->reason() << "\r\n";
      for (const auto& f : result.response->base()) std::cout << f.name_string() << ": " << f.value() << "\r\n";
      std::cout << "\r\n";
    }
    const auto& body = result.response->body();
    std::cout << body;
    if (!body.empty() && body.back() != '\n' && ::isatty(STDOUT_FILENO) == 1) std::cout << "\n";
  }
  if (result.error && !result.response) {
    std::cerr << "svckit: " << c.service << ": " << to_string(result.error->kind) << ": " << result.error->what()
              << "\n";
  } else if (result.error) {
    std::cerr << "svckit: " << c.service << " answered " << result.response->result_int() << "\n";
  }
}

}  // namespace

int run_call(const CommonOptions& common, const CallCommand& c) {
  auto prepared = prepare(c);
  if (!prepared) return report(prepared.error());
  if (auto v = validate_service_name(c.service); !v) return report(v.error());

  asio::io_context io;
  RealTimeSource time;
  RealRandom random;
  auto registry = open_registry(common.registry, io.get_executor(), time, random);
  if (!registry) return report(registry.error());
  DiscoveryClient discovery(io.get_executor(), **registry, random);
  BalancerPlugins::Builder policies;
  register_builtin_balancers(policies);
  const auto balancers = std::move(policies).build();
  SpanRecorder recorder;
  trace::Tracer tracer(time, random, trace::TracerOptions{1.0}, &recorder);
  ServiceClientOptions options;
  options.defaults.timeout = prepared->timeout;
  options.defaults.per_try_timeout = std::min(options.defaults.per_try_timeout, prepared->timeout);
  ServiceClient::Deps deps{io.get_executor(), &discovery, balancers, random, time};
  deps.tracer = &tracer;
  auto client = ServiceClient::create(options, deps);
  if (!client) return report(client.error());

  std::string method(http::beast_http::to_string(prepared->verb));
  return run_to_exit(io, [&]() -> http::Awaitable<int> {
    int code = 1;
    discovery.start();
    const bool synced = co_await discovery.wait_synced(prepared->timeout);
    if (!synced) {
      code = report(make_error(ErrorCode::unavailable, "the registry did not answer within " + c.timeout, "registry"));
    } else {
      auto result = co_await (*client)->try_call(c.service, prepared->verb, c.path, std::move(prepared->options));
      print_result(common, c, result, recorder.attempts(), method);
      code = exit_code_for_call(result);
    }
    co_await (*client)->shutdown(std::chrono::milliseconds(0));
    co_await discovery.shutdown(std::chrono::milliseconds(0));
    co_return code;
  }());
}

}  // namespace svckit::cli
