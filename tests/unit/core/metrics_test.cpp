#include <gtest/gtest.h>

#include "svckit/core/metrics.hpp"

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

}  // namespace
}  // namespace svckit
