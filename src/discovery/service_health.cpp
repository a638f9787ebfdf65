#include "svckit/discovery/service_health.hpp"

#include <algorithm>

namespace svckit {

std::size_t ServiceHealthReport::healthy_count() const {
  return static_cast<std::size_t>(
      std::count_if(instances.begin(), instances.end(), [](const auto& i) { return i.healthy; }));
}

namespace {

Awaitable<InstanceHealthReport> probe_instance(http::Transport& transport, const TimeSource& time, ServiceInstance in,
                                               std::chrono::milliseconds timeout) {
  InstanceHealthReport out;
  out.source = "probe";
  const std::string path = in.health_check_path.empty() ? std::string("/health") : in.health_check_path;
  net::HostPort endpoint{in.host, static_cast<std::uint16_t>(in.port), in.scheme == "https"};
  http::Request request{http::Verb::get, path, 11};
  request.set(http::beast_http::field::host, in.host + ":" + std::to_string(in.port));
  request.set(http::beast_http::field::user_agent, "svckit-health-check");
  const auto start = time.steady_now();
  auto answer = co_await transport.send(endpoint, std::move(request), timeout);
  out.latency = std::chrono::duration_cast<std::chrono::microseconds>(time.steady_now() - start);
  if (answer) {
    out.http_status = static_cast<int>(answer->result_int());
    out.healthy = out.http_status >= 200 && out.http_status < 300;
    out.detail = "GET " + path + " " + std::to_string(out.http_status);
  } else {
    out.detail = "GET " + path + " failed: " + answer.error().message;
  }
  out.instance = std::move(in);
  co_return out;
}

}  // namespace

Awaitable<Result<ServiceHealthReport>> health_check_service(DiscoveryClient& discovery, const TimeSource& time,
                                                            HealthCheckRequest request) {
  if (auto v = validate_service_name(request.service); !v) co_return v.error();
  auto listed = co_await discovery.discover_async(request.service);
  if (!listed) co_return listed.error();
  ServiceHealthReport out;
  out.service = request.service;
  for (auto& in : *listed) {
    if (!request.id.empty() && in.id != request.id) continue;
    if (request.probe != nullptr) {
      auto probed = co_await probe_instance(*request.probe, time, std::move(in), request.timeout);
      out.instances.push_back(std::move(probed));
      continue;
    }
    InstanceHealthReport h;
    h.healthy = in.status == InstanceStatus::healthy;
    h.source = "registry";
    h.detail = std::string(to_string(in.status));
    h.instance = std::move(in);
    out.instances.push_back(std::move(h));
  }
  if (out.instances.empty()) {
    co_return make_error(
        ErrorCode::not_found,
        request.id.empty() ? "no instances of " + request.service : request.service + "/" + request.id + " not found",
        request.id.empty() ? "service" : "id");
  }
  co_return out;
}

}  // namespace svckit
