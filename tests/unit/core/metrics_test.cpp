#include <gtest/gtest.h>

#include "daemon/metric_expiry.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/testing/metric_value.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit {
namespace {

TEST(Metrics, RendersPrometheusText) {
  MetricsRegistry metrics;
  auto& requests = metrics.counter("svckit_http_requests_total", "HTTP requests.", {"route", "code"});
  requests.with({"/v1/instances", "200"}).inc(3);
  requests.with({"/v1/instances", "400"}).inc();
  metrics.gauge("svckit_instances_active", "Active instances.", {"service"}).with({"a\"b"}).set(2);
  auto& latency = metrics.histogram("svckit_latency_seconds", "Latency.", {}, {0.01, 0.1});
  latency.get().observe(0.005);
  latency.get().observe(0.05);
  latency.get().observe(5);
  const auto text = metrics.render_prometheus();
  EXPECT_NE(text.find("# TYPE svckit_http_requests_total counter\n"), std::string::npos);
  EXPECT_NE(text.find("svckit_http_requests_total{route=\"/v1/instances\",code=\"200\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("svckit_instances_active{service=\"a\\\"b\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("svckit_latency_seconds_bucket{le=\"0.01\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("svckit_latency_seconds_bucket{le=\"0.1\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("svckit_latency_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("svckit_latency_seconds_count 3\n"), std::string::npos);
}

TEST(Metrics, SameNameReturnsSameFamily) {
  MetricsRegistry metrics;
  auto& a = metrics.counter("x_total", "x");
  auto& b = metrics.counter("x_total", "x");
  EXPECT_EQ(&a, &b);
  a.get().inc();
  EXPECT_EQ(b.get().value(), 1u);
}

TEST(Metrics, AFullFamilySendsNewLabelSetsToOneOverflowSeries) {
  MetricsRegistry metrics(MetricsOptions{3});
  auto& requests = metrics.counter("req_total", "r", {"service", "code"});
  for (int i = 0; i < 50; ++i) requests.with({"s" + std::to_string(i), "200"}).inc();
  requests.with({"s0", "200"}).inc();  // an existing series still counts on its own
  EXPECT_EQ(requests.series_count(), 4u);
  const auto text = metrics.render_prometheus();
  EXPECT_NE(text.find("req_total{service=\"s0\",code=\"200\"} 2\n"), std::string::npos) << text;
  EXPECT_NE(text.find("req_total{service=\"_overflow\",code=\"_overflow\"} 47\n"), std::string::npos) << text;
  EXPECT_EQ(text.find("s49"), std::string::npos);
  // The overflow series is one more label value: its activity is seen and it can be removed.
  EXPECT_EQ(metrics.label_activity("service").at(kOverflowLabelValue), 47.0);
  EXPECT_EQ(metrics.remove_series("service", {kOverflowLabelValue}), 1u);
  EXPECT_EQ(metrics.render_prometheus().find("_overflow"), std::string::npos);
  // A family without labels has one series whatever the limit.
  metrics.counter("plain_total", "p").get().inc();
  EXPECT_NE(metrics.render_prometheus().find("plain_total 1\n"), std::string::npos);
}

TEST(Metrics, RemoveSeriesDropsEveryFamilysSeriesOfThoseValuesAndMovesTheGeneration) {
  MetricsRegistry metrics;
  auto& calls = metrics.counter("calls_total", "c", {"service", "result"});
  auto& latency = metrics.histogram("latency_seconds", "l", {"service"});
  auto& routes = metrics.counter("route_total", "r", {"route"});
  calls.with({"a", "ok"}).inc();
  calls.with({"b", "ok"}).inc();
  latency.with({"a"}).observe(0.1);
  routes.with({"a"}).inc();  // another label that happens to read "a": kept
  const auto held = calls.handle({"a", "ok"});
  const auto before = metrics.generation();
  EXPECT_EQ(metrics.remove_series("service", {"a", "zzz"}), 2u);
  EXPECT_NE(metrics.generation(), before);
  const auto text = metrics.render_prometheus();
  EXPECT_EQ(text.find("service=\"a\""), std::string::npos) << text;
  EXPECT_NE(text.find("calls_total{service=\"b\",result=\"ok\"} 1"), std::string::npos);
  EXPECT_NE(text.find("route_total{route=\"a\"} 1"), std::string::npos);
  held->inc();  // a handle outlives removal (the update is no longer exported)
  EXPECT_EQ(held->value(), 2u);
  EXPECT_EQ(calls.with({"a", "ok"}).value(), 0u);  // a new series starts from zero
  // Nothing removed: the generation stays.
  const auto now = metrics.generation();
  EXPECT_EQ(metrics.remove_series("service", {"nobody"}), 0u);
  EXPECT_EQ(metrics.generation(), now);
}

// Before: with() returned a bare reference and a removed series was freed by the next removal
// pass, so an update preempted between with() and inc() while two scrapes removed the service
// wrote to freed memory (ASan: heap-use-after-free).
TEST(Metrics, AnUpdateInFlightKeepsItsSeriesAliveThroughAnyNumberOfRemovals) {
  MetricsRegistry metrics;
  auto& gauge = metrics.gauge("instances", "i", {"service"});
  const auto in_flight = gauge.with({"churn"});  // what `gauge.with({...}).set(1)` holds meanwhile
  EXPECT_EQ(metrics.remove_series("service", {"churn"}), 1u);
  EXPECT_EQ(metrics.remove_series("service", {"other"}), 0u);  // once freed what the first removed
  EXPECT_EQ(metrics.remove_series("service", {"churn"}), 0u);
  in_flight.set(4);
  EXPECT_EQ(in_flight.value(), 4.0);
  EXPECT_EQ(in_flight.handle().use_count(), 1) << "the family let go; the update holds the last share";
  EXPECT_EQ(metrics.render_prometheus().find("churn"), std::string::npos);
}

TEST(Metrics, CollectorsRunAtEachRenderUntilTheirHandleGoes) {
  MetricsRegistry metrics;
  std::uint64_t kept_elsewhere = 0;
  std::uint64_t last_a = 0, last_b = 0;
  auto& total = metrics.counter("things_total", "Things.").get();
  int runs = 0;
  auto a = metrics.add_collector([&] {
    ++runs;
    advance_counter(total, kept_elsewhere, last_a);
  });
  {
    std::uint64_t other = 7;  // a second source adds to the same series
    auto b = metrics.add_collector([&] { advance_counter(total, other, last_b); });
    kept_elsewhere = 5;
    EXPECT_EQ(testing::metric_value(metrics.render_prometheus(), "things_total"), 12.0);
    other = 10;
    kept_elsewhere = 6;
    EXPECT_EQ(testing::metric_value(metrics.render_prometheus(), "things_total"), 16.0);
  }  // b removed: `other` may go
  kept_elsewhere = 9;
  EXPECT_EQ(testing::metric_value(metrics.render_prometheus(), "things_total"), 19.0);
  EXPECT_EQ(runs, 3);
  CollectorHandle moved = std::move(a);
  EXPECT_FALSE(a);  // NOLINT(bugprone-use-after-move): the moved-from handle owns nothing
  EXPECT_TRUE(moved);
  moved.reset();
  kept_elsewhere = 100;
  EXPECT_EQ(testing::metric_value(metrics.render_prometheus(), "things_total"), 19.0);
  EXPECT_EQ(runs, 3);
}

TEST(MetricExpiry, RemovesAGoneServicesSeriesOnlyAfterTheyStayedUnchangedForTheWholeWindow) {
  using namespace std::chrono_literals;
  MetricsRegistry metrics;
  testing::SimulatedClock clock;
  daemon::MetricExpiry expiry(metrics, clock, 5min);
  auto& calls = metrics.counter("calls_total", "c", {"service"});
  auto& hosts = metrics.gauge("hosts", "h", {"service"});
  calls.with({"live"}).inc();
  calls.with({"gone"}).inc();
  calls.with({"routed"}).inc();  // reached by URL: never registered, but busy
  calls.with({"_unknown"}).inc();
  hosts.with({"gone"}).set(3);
  const LabelValues live{"live"};
  EXPECT_TRUE(expiry.sweep(live).empty());
  clock.advance(4min);
  calls.with({"routed"}).inc();
  EXPECT_TRUE(expiry.sweep(live).empty());
  clock.advance(2min);  // "gone" unchanged for 6 min; "routed" changed 2 min ago
  EXPECT_EQ(expiry.sweep(live), std::vector<std::string>{"gone"});
  const auto text = metrics.render_prometheus();
  EXPECT_EQ(text.find("\"gone\""), std::string::npos) << text;
  EXPECT_NE(text.find("calls_total{service=\"live\"} 1"), std::string::npos);
  EXPECT_NE(text.find("calls_total{service=\"routed\"} 2"), std::string::npos);
  EXPECT_NE(text.find("calls_total{service=\"_unknown\"} 1"), std::string::npos);
  clock.advance(2min);  // "routed" unchanged for 4 min
  EXPECT_TRUE(expiry.sweep(live).empty());
  clock.advance(1min);  // 5 min; "live" is registered: kept however idle
  EXPECT_EQ(expiry.sweep(live), std::vector<std::string>{"routed"});
  clock.advance(1h);
  EXPECT_TRUE(expiry.sweep(live).empty());
  EXPECT_NE(metrics.render_prometheus().find("calls_total{service=\"live\"} 1"), std::string::npos);
}

TEST(MetricExpiry, ZeroKeepsEverything) {
  MetricsRegistry metrics;
  testing::SimulatedClock clock;
  daemon::MetricExpiry expiry(metrics, clock, std::chrono::nanoseconds(0));
  metrics.counter("calls_total", "c", {"service"}).with({"gone"}).inc();
  EXPECT_TRUE(expiry.sweep({}).empty());
  clock.advance(std::chrono::hours(24));
  EXPECT_TRUE(expiry.sweep({}).empty());
  EXPECT_NE(metrics.render_prometheus().find("gone"), std::string::npos);
}

}  // namespace
}  // namespace svckit
