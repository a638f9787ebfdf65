#include "svckit/core/prometheus_text.hpp"

#include <gtest/gtest.h>

#include <cmath>

#include "svckit/core/metrics.hpp"

namespace svckit {
namespace {

TEST(PrometheusText, ReadsWhatTheRegistryWritesLabelsEscapesAndHistograms) {
  MetricsRegistry metrics;
  metrics.counter("calls_total", "Calls.", {"service", "result"}).with({"a \"quoted\" \\ name\n", "ok"}).inc(3);
  auto& h = metrics.histogram("latency_seconds", "Latency.", {"service"}, {0.1, 0.2, 0.4});
  for (double v : {0.05, 0.15, 0.15, 0.3}) h.with({"api"}).observe(v);
  auto samples = parse_prometheus_text(metrics.render_prometheus());
  ASSERT_TRUE(samples) << samples.error().message;
  const auto calls =
      std::find_if(samples->begin(), samples->end(), [](const auto& s) { return s.name == "calls_total"; });
  ASSERT_NE(calls, samples->end());
  EXPECT_EQ(calls->label("service"), "a \"quoted\" \\ name\n");
  EXPECT_EQ(calls->label("result"), "ok");
  EXPECT_EQ(calls->label("absent"), "");
  EXPECT_EQ(calls->value, 3);
  const auto buckets = buckets_of(*samples, "latency_seconds", {{"service", "api"}});
  ASSERT_EQ(buckets.size(), 4U);  // 0.1, 0.2, 0.4, +Inf
  EXPECT_EQ(buckets[0], (std::pair<double, double>{0.1, 1}));
  EXPECT_TRUE(std::isinf(buckets[3].first));
  EXPECT_EQ(buckets[3].second, 4);
  // Rank 2 of 4 falls in (0.1, 0.2], which holds observations 2..3: halfway through it.
  EXPECT_DOUBLE_EQ(*histogram_quantile(0.5, buckets), 0.15);
  EXPECT_DOUBLE_EQ(*histogram_quantile(1.0, buckets), 0.4);
  EXPECT_TRUE(buckets_of(*samples, "latency_seconds", {{"service", "other"}}).empty());
}

TEST(PrometheusText, TimestampsSpecialValuesCommentsAndCrlf) {
  auto samples = parse_prometheus_text(
      "# HELP x Help text.\r\n# TYPE x gauge\r\n\r\nx 1 1700000000000\r\ny{a=\"1\",} +Inf\ny -Inf\nz NaN\n  w 2e3  \n");
  ASSERT_TRUE(samples) << samples.error().message;
  ASSERT_EQ(samples->size(), 5U);
  EXPECT_EQ((*samples)[0].value, 1);
  EXPECT_TRUE(std::isinf((*samples)[1].value));
  EXPECT_EQ((*samples)[1].label("a"), "1");
  EXPECT_LT((*samples)[2].value, 0);
  EXPECT_TRUE(std::isnan((*samples)[3].value));
  EXPECT_EQ((*samples)[4].value, 2000);
}

TEST(PrometheusText, BadLinesAreNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {"ok 1\n{a=\"1\"} 2\n", "line 2"},  // no name
      {"x{a=1} 2\n", "line 1"},           // unquoted value
      {"x{a=\"1\" 2\n", "line 1"},        // no closing brace
      {"x{a=\"1} 2\n", "line 1"},         // no closing quote
      {"x{a=\"\\t\"} 2\n", "line 1"},     // unknown escape
      {"a 1\nb 2\nx 12abc\n", "line 3"},  // not a number
      {"x\n", "line 1"},                  // no value
      {"x 1 2 3\n", "line 1"},            // trailing token
      {"x 1 soon\n", "line 1"},           // bad timestamp
      {"x{9a=\"1\"} 2\n", "line 1"},      // bad label name
  };
  for (const auto& [text, field] : cases) {
    auto r = parse_prometheus_text(text);
    ASSERT_FALSE(r) << text;
    EXPECT_EQ(r.error().field, field) << text;
    EXPECT_EQ(r.error().code, ErrorCode::invalid_argument);
  }
  auto capped = parse_prometheus_text("a 1\nb 2\nc 3\n", 2);
  ASSERT_FALSE(capped);
  EXPECT_EQ(capped.error().field, "line 3");
}

TEST(PrometheusText, QuantilesOfEmptyAndInfOnlyHistograms) {
  EXPECT_FALSE(histogram_quantile(0.5, {}));
  EXPECT_FALSE(histogram_quantile(0.5, {{0.1, 0}, {INFINITY, 0}}));
  EXPECT_FALSE(histogram_quantile(1.5, {{0.1, 1}}));
  // Everything above the highest bound: the highest finite bound, as PromQL answers.
  EXPECT_DOUBLE_EQ(*histogram_quantile(0.99, {{0.1, 0}, {0.5, 0}, {INFINITY, 10}}), 0.5);
}

}  // namespace
}  // namespace svckit
