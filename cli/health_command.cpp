// svckit health: a service's instances as the registry lists them, with svckitd's checks of each
// (state, last result) — or, with --probe, a GET of each instance's health path from here.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/io_context.hpp>
#include <iostream>
#include <sstream>

#include "cli/command_runner.hpp"
#include "cli/daemon_request.hpp"
#include "cli/debug_commands.hpp"
#include "cli/output.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/discovery/service_health.hpp"
#include "svckit/http/client.hpp"

namespace svckit::cli {

namespace {

namespace asio = boost::asio;
using nlohmann::json;

/// One instance's line: what the registry says, what svckitd's checks say, what a probe saw.
struct HealthRow {
  ServiceInstance instance;
  std::string checked_state;  // svckitd's state from its checks; "" when it runs none
  std::string last_check;     // the last result: "ok 1.2 ms" / "failed: timed out after 300ms"
  std::string probe;          // --probe: "200 in 1.3 ms" / "connect: refused"
  bool probe_ok = false;
  bool healthy() const {
    if (!probe.empty()) return probe_ok;
    if (!checked_state.empty()) return checked_state == "healthy";
    return instance.status == InstanceStatus::healthy;
  }
};

/// svckitd's /v1/health/{service} laid over the registry's instances.
void apply_checks(const json& answer, std::vector<HealthRow>& rows) {
  if (!answer.is_object() || !answer.contains("instances") || !answer["instances"].is_array()) return;
  for (const auto& in : answer["instances"]) {
    const auto id = in.value("id", std::string());
    for (auto& row : rows) {
      if (row.instance.id != id) continue;
      row.checked_state = in.value("state", std::string());
      std::string last;
      for (const auto& check : in.value("checks", json::array())) {
        const auto history = check.value("history", json::array());
        if (history.empty()) continue;
        const auto& h = history.back();
        last += (last.empty() ? "" : "; ") + check.value("type", std::string("check")) + " " +
                (h.value("ok", false) ? "ok" : "failed: " + h.value("message", std::string())) + " " +
                fixed(h.value("latency_ms", 0.0), 1) + " ms";
      }
      row.last_check = last;
    }
  }
}

/// The library's health_check_service() probes each instance; its answers go into the rows.
http::Awaitable<void> probe_all(std::vector<HealthRow>& rows, Registry& registry, const HealthCommand& c,
                                std::chrono::milliseconds timeout, asio::any_io_executor executor) {
  RealTimeSource time;
  RealRandom random;
  DiscoveryClient discovery(executor, registry, random);  // never started: it asks the registry
  http::HttpClient client(executor, http::ClientOptions{});
  HealthCheckRequest request(c.service, c.id, &client);
  request.timeout = timeout;
  auto probed = co_await health_check_service(discovery, time, std::move(request));
  client.close_idle();
  if (!probed) co_return;
  for (auto& row : rows) {
    for (const auto& p : probed->instances) {
      if (p.instance.id != row.instance.id) continue;
      row.probe_ok = p.healthy;
      row.probe = p.http_status != 0
                      ? p.detail + " in " + fixed(static_cast<double>(p.latency.count()) / 1000.0, 1) + " ms"
                      : p.detail;
    }
  }
}

void print(const CommonOptions& common, const HealthCommand& c, const std::vector<HealthRow>& rows) {
  const auto healthy = std::count_if(rows.begin(), rows.end(), [](const auto& r) { return r.healthy(); });
  if (common.json) {
    json out{{"service", c.service}, {"healthy", healthy}, {"instances", json::array()}};
    for (const auto& r : rows) {
      json item{{"id", r.instance.id},
                {"address", r.instance.base_url()},
                {"status", to_string(r.instance.status)},
                {"healthy", r.healthy()}};
      if (!r.checked_state.empty()) item["checks"] = {{"state", r.checked_state}, {"last", r.last_check}};
      if (!r.probe.empty()) item["probe"] = {{"ok", r.probe_ok}, {"result", r.probe}};
      out["instances"].push_back(std::move(item));
    }
    std::cout << out.dump() << "\n";
    return;
  }
  std::cout << c.service << ": " << healthy << " of " << rows.size() << " instances healthy\n";
  std::vector<std::vector<std::string>> table{{"ID", "ADDRESS", "REGISTRY", "CHECKS", "LAST CHECK"}};
  if (c.probe) table.front().emplace_back("PROBE");
  for (const auto& r : rows) {
    table.push_back({r.instance.id, r.instance.base_url(), std::string(to_string(r.instance.status)),
                     r.checked_state.empty() ? "-" : r.checked_state, r.last_check.empty() ? "-" : r.last_check});
    if (c.probe) table.back().push_back(r.probe);
  }
  print_table(std::cout, table);
}

}  // namespace

int run_health(const CommonOptions& common, const HealthCommand& c) {
  if (auto v = validate_service_name(c.service); !v) return report(v.error());
  auto timeout = parse_duration(c.timeout, "timeout");
  if (!timeout) return report(timeout.error());
  asio::io_context io;
  RealTimeSource time;
  RealRandom random;
  auto registry = open_registry(common.registry, io.get_executor(), time, random);
  if (!registry) return report(registry.error());

  return run_to_exit(io, [&]() -> http::Awaitable<int> {
    InstanceFilter all;
    auto listed = co_await (*registry)->list(c.service, std::move(all));
    if (!listed) co_return report(listed.error());
    std::vector<HealthRow> rows;
    for (auto& in : *listed) {
      if (c.id.empty() || in.id == c.id) rows.push_back(HealthRow{std::move(in), {}, {}, {}, false});
    }
    if (rows.empty()) {
      co_return report(make_error(ErrorCode::not_found,
                                  c.id.empty() ? "no instances of " + c.service : c.service + "/" + c.id + " not found",
                                  c.id.empty() ? "service" : "id"));
    }
    if (common.registry.starts_with("svckitd://")) {  // svckitd runs checks: show them
      std::string target = "/v1/health/" + c.service;
      std::string no_body;
      std::string command = "health";
      auto executor = io.get_executor();
      auto checks = co_await daemon_request(common.registry, http::Verb::get, std::move(target), std::move(no_body),
                                            std::move(command), executor);
      if (checks) apply_checks(*checks, rows);
    }
    if (c.probe) co_await probe_all(rows, **registry, c, *timeout, io.get_executor());
    print(common, c, rows);
    const bool any = std::any_of(rows.begin(), rows.end(), [](const auto& r) { return r.healthy(); });
    co_return any ? 0 : 1;
  }());
}

}  // namespace svckit::cli
