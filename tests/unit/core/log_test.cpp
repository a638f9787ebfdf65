#include "svckit/core/log.hpp"

#include <gtest/gtest.h>

#include <spdlog/sinks/ostream_sink.h>
#include <nlohmann/json.hpp>
#include <sstream>

#include "svckit/app/json_logs.hpp"
#include "svckit/http/server.hpp"
#include "svckit/testing/http_call.hpp"
#include "svckit/testing/io_thread.hpp"

namespace svckit {
namespace {

/// The default logger replaced by one writing JSON lines into `out` for one test, then restored.
struct CapturedLogs {
  CapturedLogs() : previous(spdlog::default_logger()) {
    auto logger = std::make_shared<spdlog::logger>("", std::make_shared<spdlog::sinks::ostream_sink_mt>(out));
    logger->set_formatter(make_json_log_formatter("test"));
    logger->set_level(spdlog::level::info);
    spdlog::set_default_logger(logger);
  }
  ~CapturedLogs() {
    spdlog::drop("gateway");
    spdlog::drop("health");
    spdlog::set_default_logger(previous);
    (void)logs::set_levels("info");  // and every thread forgets the dropped components' levels
  }
  std::vector<nlohmann::json> lines() const {
    std::vector<nlohmann::json> parsed;
    std::istringstream in(out.str());
    for (std::string line; std::getline(in, line);) parsed.push_back(nlohmann::json::parse(line));
    return parsed;
  }
  std::ostringstream out;
  std::shared_ptr<spdlog::logger> previous;
};

TEST(ComponentLogs, EachComponentLogsAtItsOwnLevelUnderItsName) {
  CapturedLogs logs_out;
  ASSERT_TRUE(logs::set_levels("warn,gateway=debug,health=off"));
  logs::debug("gateway", "event=route_added prefix={}", "/orders");
  logs::info("discovery", "event=watch_connected index={}", 7);  // no level of its own: warn
  logs::warn("discovery", "event=watch_failed");
  logs::error("health", "event=check_crashed");  // off
  const auto lines = logs_out.lines();
  ASSERT_EQ(lines.size(), 2U) << logs_out.out.str();
  EXPECT_EQ(lines[0]["component"], "gateway");
  EXPECT_EQ(lines[0]["level"], "debug");
  EXPECT_EQ(lines[0]["fields"]["prefix"], "/orders");
  EXPECT_EQ(lines[1]["component"], "discovery");
  EXPECT_EQ(lines[1]["level"], "warning");
  EXPECT_TRUE(logs::enabled("gateway", spdlog::level::debug));
  EXPECT_FALSE(logs::enabled("discovery", spdlog::level::info));
  EXPECT_EQ(spdlog::get("gateway")->level(), spdlog::level::debug) << "levels live in spdlog's registry";
  spdlog::get("gateway")->set_level(spdlog::level::err);
  EXPECT_FALSE(logs::enabled("gateway", spdlog::level::debug)) << "a level changed through spdlog counts at once";
}

TEST(ComponentLogs, ABadSpecNamesThePartAndChangesNothing) {
  CapturedLogs logs_out;
  for (const char* bad : {"", "loud", "info,gateway=loud", "info,=debug", "info,Gateway=debug", "info,warn"}) {
    auto r = logs::set_levels(bad, "log_level");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().field, "log_level");
  }
  EXPECT_EQ(spdlog::get("gateway"), nullptr) << "nothing was applied";
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::info);
  EXPECT_TRUE(logs::set_levels("gateway=trace")) << "a component alone keeps the default level";
  EXPECT_EQ(spdlog::default_logger()->level(), spdlog::level::info);
}

TEST(ComponentLogs, AHandlerThatThrowsIsLoggedWithTheRequestsTraceIds) {
  CapturedLogs logs_out;
  testing::IoThread io;
  http::ServerOptions options;
  http::HttpServer server(io.io(), options, [](http::Request&) -> http::Awaitable<http::Response> {
    throw std::runtime_error("boom");
    co_return http::Response{};
  });
  ASSERT_TRUE(server.listen());
  const auto answer = testing::http_call(server.port(), "GET", "/orders/7", "",
                                         {"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"});
  EXPECT_EQ(answer.status, 500);
  server.begin_shutdown();
  io.stop();
  const auto lines = logs_out.lines();
  ASSERT_EQ(lines.size(), 1U) << logs_out.out.str();
  EXPECT_EQ(lines[0]["component"], "http");
  EXPECT_EQ(lines[0]["fields"]["event"], "handler_threw");
  EXPECT_EQ(lines[0]["fields"]["error"], "boom");
  EXPECT_EQ(lines[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(lines[0]["span_id"], "00f067aa0ba902b7");
}

}  // namespace
}  // namespace svckit
