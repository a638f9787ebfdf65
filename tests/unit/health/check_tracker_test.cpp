// CheckTracker thresholds and history; HealthCheckSpec JSON and validation.
#include "svckit/health/check_tracker.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "svckit/core/health_check_spec.hpp"
#include "svckit/core/instance_json.hpp"

namespace svckit {
namespace {

CheckResult pass() { return CheckResult{true, "ok", {}, {}}; }
CheckResult fail() { return CheckResult{false, "boom", {}, {}}; }

TEST(CheckTracker, OnePassStartsHealthyThenThresholdsApply) {
  CheckTracker t(2, 3, 5);
  EXPECT_EQ(t.state(), HealthState::unknown);
  EXPECT_TRUE(t.record(pass()));
  EXPECT_EQ(t.state(), HealthState::healthy) << "start-up needs a single pass";
  EXPECT_FALSE(t.record(fail()));
  EXPECT_FALSE(t.record(fail()));
  EXPECT_EQ(t.state(), HealthState::healthy);
  EXPECT_TRUE(t.record(fail()));
  EXPECT_EQ(t.state(), HealthState::unhealthy) << "three consecutive failures";
  EXPECT_FALSE(t.record(pass()));
  EXPECT_FALSE(t.record(fail())) << "a failure resets the run of passes";
  EXPECT_FALSE(t.record(pass()));
  EXPECT_TRUE(t.record(pass()));
  EXPECT_EQ(t.state(), HealthState::healthy) << "two consecutive passes";
}

TEST(CheckTracker, FailingBeforeAnyPassIsUnhealthyAtOnce) {
  CheckTracker t(3, 5, 5);
  EXPECT_TRUE(t.record(fail()));
  EXPECT_EQ(t.state(), HealthState::unhealthy);
  EXPECT_TRUE(t.record(pass())) << "it never proved itself: the first pass is enough";
  EXPECT_EQ(t.state(), HealthState::healthy);
}

TEST(CheckTracker, HistoryIsBoundedNewestLast) {
  CheckTracker t(1, 1, 3);
  for (int i = 0; i < 5; ++i) t.record(CheckResult{true, std::to_string(i), {}, {}});
  ASSERT_EQ(t.history().size(), 3u);
  EXPECT_EQ(t.history().front().message, "2");
  EXPECT_EQ(t.history().back().message, "4");
}

TEST(HealthCheckSpecJson, RoundTripsAndRejectsBadFieldsByName) {
  auto parsed = health_check_from_json(nlohmann::json::parse(R"({
    "type": "http", "path": "/ready", "expected_statuses": [200, "204-206"], "body_contains": "UP",
    "interval": "250ms", "timeout": "100ms", "jitter": "50ms", "healthy_threshold": 1,
    "unhealthy_threshold": 2, "params": {"dbname": "x"}})"),
                                       "checks[0]");
  ASSERT_TRUE(parsed.ok()) << parsed.error().describe();
  EXPECT_TRUE(parsed->status_expected(205));
  EXPECT_FALSE(parsed->status_expected(201));
  EXPECT_TRUE(validate(*parsed, "checks[0]").ok());
  auto again = health_check_from_json(to_json(*parsed));
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *parsed);

  const std::pair<const char*, const char*> bad[] = {
      {R"({"interval": 5})", "checks[0].interval"},
      {R"({"interval": "soon"})", "checks[0].interval"},
      {R"({"expected_statuses": ["2xx"]})", "checks[0].expected_statuses[0]"},
      {R"({"expected_statuses": [99]})", "checks[0].expected_statuses[0]"},
      {R"({"healthy_threshold": 0})", "checks[0].healthy_threshold"},
      {R"({"colour": "red"})", "checks[0].colour"},
      {R"([1])", "checks[0]"},
  };
  for (const auto& [text, field] : bad) {
    auto r = health_check_from_json(nlohmann::json::parse(text), "checks[0]");
    ASSERT_FALSE(r.ok()) << text;
    EXPECT_EQ(r.error().field, field) << text;
  }
  // No timeout given: the default (2 s) shrinks to a shorter interval; a given one is kept, and
  // one longer than the interval is refused.
  auto short_interval = health_check_from_json(nlohmann::json::parse(R"({"interval": "1s"})"), "checks[0]");
  ASSERT_TRUE(short_interval.ok());
  EXPECT_EQ(short_interval->timeout, std::chrono::seconds(1));
  EXPECT_TRUE(validate(*short_interval, "checks[0]").ok());
  auto too_long = health_check_from_json(nlohmann::json::parse(R"({"interval": "1s", "timeout": "3s"})"), "checks[0]");
  ASSERT_TRUE(too_long.ok());
  EXPECT_EQ(validate(*too_long, "checks[0]").error().field, "checks[0].timeout");

  HealthCheckSpec s;
  s.timeout = std::chrono::seconds(20);  // longer than the interval
  EXPECT_EQ(validate(s, "checks[1]").error().field, "checks[1].timeout");
  s = {};
  s.target = "redis";
  EXPECT_EQ(validate(s, "checks[1]").error().field, "checks[1].target");
  s = {};
  s.type = "HTTP";
  EXPECT_EQ(validate(s, "checks[1]").error().field, "checks[1].type");
}

TEST(HealthCheckSpecJson, ChecksTravelWithTheInstanceRecord) {
  auto in = instance_from_json(nlohmann::json::parse(R"({"service": "orders", "host": "10.0.0.1", "port": 80,
      "checks": [{"type": "tcp", "interval": "1s", "timeout": "200ms"}]})"));
  ASSERT_TRUE(in.ok());
  ASSERT_EQ(in->checks.size(), 1u);
  EXPECT_EQ(in->checks[0].type, "tcp");
  EXPECT_TRUE(validate(*in).ok());
  std::string fast;
  append_json(fast, *in);
  EXPECT_EQ(nlohmann::json::parse(fast), to_json(*in)) << "the fast writer matches the DOM";

  auto bad = instance_from_json(nlohmann::json::parse(R"({"service": "orders", "host": "10.0.0.1", "port": 80,
      "checks": [{"type": "tcp"}, {"timeout": "1h"}]})"));
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(validate(*bad).error().field, "checks[1].timeout");
}

}  // namespace
}  // namespace svckit
