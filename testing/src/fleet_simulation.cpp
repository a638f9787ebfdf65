#include "svckit/testing/fleet_simulation.hpp"

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cmath>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/virtual_time.hpp"

namespace svckit::testing {

namespace asio = boost::asio;
using std::chrono::milliseconds;

namespace {

constexpr milliseconds kDownGrace{5'000};
constexpr std::chrono::microseconds kRefusedAfter{200};  // a refused connect costs one round trip

bool in_window(milliseconds t, milliseconds from, milliseconds until) {
  return from.count() >= 0 && t >= from && (until.count() < 0 || t < until);
}

/// The simulated network and instances. Single-threaded (VirtualTime's thread).
class SimTransport final : public http::Transport {
 public:
  SimTransport(const FleetScenario& scenario, VirtualTime& time, Random& random)
      : scenario_(scenario), time_(time), random_(random), start_(time.steady_now()) {
    for (const auto& in : scenario.instances) reports_.push_back(SimInstanceReport{in.name});
  }

  // NOLINTNEXTLINE(performance-unnecessary-value-param): the interface's signature
  http::Awaitable<Result<http::Response>> send(net::HostPort endpoint, http::Request /*request*/, milliseconds timeout,
                                               std::shared_ptr<CancelToken> cancel) override {
    ++requests_;
    const auto i = index_of(endpoint.host);
    if (i >= scenario_.instances.size()) co_return make_error(ErrorCode::unavailable, "no such host");
    const auto& in = scenario_.instances[i];
    auto& report = reports_[i];
    ++report.requests;
    const auto t = std::chrono::duration_cast<milliseconds>(time_.steady_now() - start_);
    const bool dead = in_window(t, in.dies_at, in.recovers_at);
    const bool hung = in_window(t, in.hangs_at, in.recovers_at);
    const bool flapped = in.flap_period.count() > 0 && (t / in.flap_period) % 2 == 1;
    if (dead || hung) {
      ++report.while_down;
      const auto since = dead ? in.dies_at : in.hangs_at;
      if (t - since > kDownGrace) ++report.down_after_first_5s;
    }
    if (dead || flapped) {
      co_await time_.sleep_for(kRefusedAfter, cancel.get());
      ++report.failed;
      co_return make_error(ErrorCode::unavailable, "connection refused (" + in.name + ")", std::string(http::kNotSent));
    }
    if (hung) {
      if (!co_await time_.sleep_for(timeout, cancel.get())) co_return make_error(ErrorCode::cancelled, "cancelled");
      ++report.failed;
      co_return make_error(ErrorCode::timeout, "request timed out (" + in.name + ")");
    }
    double factor = in.slow_factor * (0.5 + 0.5 * -std::log(1.0 - random_.uniform01()));
    if (t < in.cold_for) factor *= in.cold_factor;
    const auto latency = std::chrono::duration_cast<std::chrono::nanoseconds>(in.latency * factor);
    if (latency > timeout) {
      if (!co_await time_.sleep_for(timeout, cancel.get())) co_return make_error(ErrorCode::cancelled, "cancelled");
      ++report.failed;
      co_return make_error(ErrorCode::timeout, "request timed out (" + in.name + ")");
    }
    if (!co_await time_.sleep_for(latency, cancel.get())) co_return make_error(ErrorCode::cancelled, "cancelled");
    if (in.error_rate > 0 && random_.uniform01() < in.error_rate) {
      ++report.failed;
      const nlohmann::json body{{"error", {{"code", "unavailable"}, {"message", "simulated overload"}}}};
      co_return http::json_response(http::Status::service_unavailable, body);
    }
    http::Response ok{http::Status::ok, 11};
    ok.body() = "ok";
    co_return ok;
  }

  http::ClientStats stats() const override {
    http::ClientStats s;
    s.requests = requests_;
    return s;
  }
  void close_idle() override {}
  const std::vector<SimInstanceReport>& reports() const { return reports_; }

 private:
  std::size_t index_of(const std::string& host) const {
    for (std::size_t i = 0; i < scenario_.instances.size(); ++i) {
      if (scenario_.instances[i].name == host) return i;
    }
    return scenario_.instances.size();
  }

  const FleetScenario& scenario_;
  VirtualTime& time_;
  Random& random_;
  SteadyTime start_;
  std::uint64_t requests_ = 0;
  std::vector<SimInstanceReport> reports_;
};

BalancerPlugins builtin_balancers() {
  BalancerPlugins::Builder builder;
  register_builtin_balancers(builder);
  return std::move(builder).build();
}

}  // namespace

FleetReport simulate_fleet(const FleetScenario& scenario) {
  asio::io_context io(1);
  VirtualTime time(io);
  FakeRandom client_random(scenario.seed);
  FakeRandom network_random(scenario.seed * 0x9e3779b97f4a7c15ULL + 7);
  SimTransport transport(scenario, time, network_random);
  const auto balancers = builtin_balancers();

  ServiceClientOptions options;
  ServiceConfig config = scenario.config;
  config.static_urls.clear();
  for (const auto& in : scenario.instances) config.static_urls.push_back("http://" + in.name + ":8080");
  options.services[scenario.name] = config;
  ServiceClient::Deps deps{io.get_executor(), nullptr, balancers, client_random, time, nullptr};
  deps.transport = &transport;
  deps.sleeper = &time;
  auto created = ServiceClient::create(options, deps);
  FleetReport report;
  report.scenario = scenario.name;
  if (!created) {
    report.failures_by_kind["invalid_config: " + created.error().describe()] = 1;
    return report;
  }
  auto& client = **created;

  std::vector<double> latencies_ms;
  const auto total_calls =
      static_cast<std::uint64_t>(scenario.calls_per_second * std::chrono::duration<double>(scenario.duration).count());
  const auto interval = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / scenario.calls_per_second));
  const auto one_call = [&]() -> asio::awaitable<void> {
    const auto started = time.steady_now();
    auto result = co_await client.try_call(scenario.name, http::Verb::get, "/work");
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(time.steady_now() - started).count());
    if (!result.ok()) {
      ++report.failed;
      ++report.failures_by_kind[std::string(to_string(result.error->kind))];
    }
  };
  const auto generator = [&]() -> asio::awaitable<void> {  // open loop: a call every `interval`
    for (std::uint64_t i = 0; i < total_calls; ++i) {
      asio::co_spawn(io, one_call(), asio::detached);
      co_await time.sleep_for(interval);
    }
  };
  asio::co_spawn(io, generator(), asio::detached);
  time.run_until(time.steady_now() + scenario.duration + std::chrono::minutes(10));

  const auto stats = client.stats();
  report.calls = total_calls;
  report.attempts = transport.stats().requests;
  report.retries = stats.retries;
  report.hedges = stats.hedges;
  report.budget_exhausted = stats.budget_exhausted;
  report.breaker_trips = stats.breaker_trips;
  report.retries_per_call =
      total_calls == 0 ? 0 : static_cast<double>(stats.retries) / static_cast<double>(total_calls);
  std::sort(latencies_ms.begin(), latencies_ms.end());
  const auto at = [&](double q) {
    if (latencies_ms.empty()) return 0.0;
    return latencies_ms[std::min(latencies_ms.size() - 1,
                                 static_cast<std::size_t>(q * static_cast<double>(latencies_ms.size())))];
  };
  report.p50_ms = at(0.50);
  report.p99_ms = at(0.99);
  report.max_ms = latencies_ms.empty() ? 0 : latencies_ms.back();
  report.instances = transport.reports();
  return report;
}

std::string FleetReport::to_text() const {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line,
                "scenario %s: %llu calls, %llu failed, %.3f retries/call, %llu hedges, %llu budget refusals, "
                "%llu breaker trips, latency p50 %.2f ms p99 %.2f ms max %.2f ms\n",
                scenario.c_str(), static_cast<unsigned long long>(calls), static_cast<unsigned long long>(failed),
                retries_per_call, static_cast<unsigned long long>(hedges),
                static_cast<unsigned long long>(budget_exhausted), static_cast<unsigned long long>(breaker_trips),
                p50_ms, p99_ms, max_ms);
  out += line;
  for (const auto& [kind, n] : failures_by_kind) {
    std::snprintf(line, sizeof line, "  failed %-18s %llu\n", kind.c_str(), static_cast<unsigned long long>(n));
    out += line;
  }
  out += "  instance      requests   share   failed  while-down  down>5s\n";
  std::uint64_t all = 0;
  for (const auto& i : instances) all += i.requests;
  for (const auto& i : instances) {
    std::snprintf(line, sizeof line, "  %-12s %9llu %6.1f%% %8llu %11llu %8llu\n", i.name.c_str(),
                  static_cast<unsigned long long>(i.requests),
                  all == 0 ? 0.0 : 100.0 * static_cast<double>(i.requests) / static_cast<double>(all),
                  static_cast<unsigned long long>(i.failed), static_cast<unsigned long long>(i.while_down),
                  static_cast<unsigned long long>(i.down_after_first_5s));
    out += line;
  }
  return out;
}

}  // namespace svckit::testing
