// HealthMonitor in virtual time: the check loops wait on the injected Sleeper, so the times at
// which an instance turns healthy and unhealthy are exact, and minutes of checks take no real time
// (before: the loops slept on real Asio timers whatever the TimeSource).
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "svckit/health/health_monitor.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/virtual_time.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST(HealthMonitorVirtualTime, AnInstanceTurnsUnhealthyAtItsThirdFailedCheckToTheSecond) {
  asio::io_context io;
  testing::VirtualTime time(io);
  testing::FakeRandom random;
  const auto start = time.steady_now();
  int calls = 0;
  HealthCheckers::Builder builder;
  builder.add("scripted",
              make_custom_checker([&](const CheckTarget&, const HealthCheckSpec&) -> asio::awaitable<CheckResult> {
                ++calls;
                const bool up = time.steady_now() - start < 35s;  // the instance dies at 35 s
                co_return CheckResult{up, up ? "up" : "down", {}, {}};
              }));
  const auto checkers = std::move(builder).build();
  std::vector<std::pair<std::chrono::nanoseconds, HealthState>> changes;
  HealthMonitor monitor(
      io.get_executor(), checkers, time, random, {},
      [&](const HealthChange& c) { changes.emplace_back(time.steady_now() - start, c.to); }, {}, &time);
  ServiceInstance in;
  in.service = "orders";
  in.host = "127.0.0.1";
  in.port = 8080;
  in.normalize();
  HealthCheckSpec spec;
  spec.type = "scripted";
  spec.interval = 10s;
  spec.timeout = 1s;
  spec.unhealthy_threshold = 3;
  in.checks = {spec};
  ASSERT_TRUE(monitor.watch(in).ok());
  time.run_until(start + 2min + 5s);
  // Checks at 0, 10, 20, 30 pass; 40, 50, 60 fail: unhealthy at the third failure, at 60 s.
  const std::vector<std::pair<std::chrono::nanoseconds, HealthState>> expected{{0s, HealthState::healthy},
                                                                               {60s, HealthState::unhealthy}};
  EXPECT_EQ(changes, expected);
  EXPECT_EQ(calls, 13) << "one check every 10 s from 0 to 120 s";
  monitor.stop();
  time.run_until(start + 1h);
  EXPECT_EQ(calls, 13) << "a stopped monitor checks no more";
}

}  // namespace
}  // namespace svckit
