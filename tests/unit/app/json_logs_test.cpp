#include "svckit/app/json_logs.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include <spdlog/logger.h>
#include <spdlog/sinks/ostream_sink.h>

namespace svckit {
namespace {

TEST(JsonLogs, KeyValuePairsBecomeFieldsQuotedValuesIncluded) {
  const auto fields = log_fields(R"(event=routes_reload_failed why="file changed" error="bad \"x\"" plain words n=3)");
  ASSERT_EQ(fields.size(), 4U);
  EXPECT_EQ(fields[0], (std::pair<std::string, std::string>{"event", "routes_reload_failed"}));
  EXPECT_EQ(fields[1], (std::pair<std::string, std::string>{"why", "file changed"}));
  EXPECT_EQ(fields[2], (std::pair<std::string, std::string>{"error", "bad \"x\""}));
  EXPECT_EQ(fields[3], (std::pair<std::string, std::string>{"n", "3"}));
  EXPECT_TRUE(log_fields("no pairs here = at all").empty());
  EXPECT_EQ(log_fields(R"(k="unterminated)").at(0).second, "unterminated");
  EXPECT_EQ(log_fields("k=").at(0).second, "");
}

TEST(JsonLogs, EachLineIsOneJsonObjectWithTimeLevelComponentMessageAndFields) {
  std::ostringstream out;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  spdlog::logger unnamed("", sink);
  unnamed.set_formatter(make_json_log_formatter("order-service"));
  unnamed.warn("event=breaker_open service={} reason=\"{}\"", "users", "5 failures \xff");  // invalid UTF-8 too
  spdlog::logger named("gateway", sink);
  named.set_formatter(make_json_log_formatter("order-service"));
  named.info("started");
  named.info("event=access status=200 trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7");
  std::istringstream lines(out.str());
  std::string line;
  std::vector<nlohmann::json> parsed;
  while (std::getline(lines, line)) parsed.push_back(nlohmann::json::parse(line));
  ASSERT_EQ(parsed.size(), 3U);
  EXPECT_EQ(parsed[0]["level"], "warning");
  EXPECT_EQ(parsed[0]["component"], "order-service");
  EXPECT_EQ(parsed[0]["fields"]["event"], "breaker_open");
  EXPECT_EQ(parsed[0]["fields"]["service"], "users");
  EXPECT_EQ(parsed[0]["time"].get<std::string>().size(), 24U);  // 2026-12-06T12:00:00.123Z
  EXPECT_EQ(parsed[0]["time"].get<std::string>().back(), 'Z');
  EXPECT_EQ(parsed[1]["component"], "gateway");
  EXPECT_EQ(parsed[1]["message"], "started");
  EXPECT_FALSE(parsed[1].contains("fields"));
  EXPECT_FALSE(parsed[0].contains("trace_id"));
  EXPECT_EQ(parsed[2]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736") << "lifted for log pipelines";
  EXPECT_EQ(parsed[2]["span_id"], "00f067aa0ba902b7");
  EXPECT_EQ(parsed[2]["fields"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
}

}  // namespace
}  // namespace svckit
