// Health checkers against real servers (an HTTP server, a hung listener, redis-server,
// PostgreSQL) and the HealthMonitor's loops, thresholds, callbacks and aggregation.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <mutex>
#include <nlohmann/json.hpp>

#include "svckit/health/health_monitor.hpp"
#include "svckit/http/server.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/servers.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

HealthCheckers builtin() {
  HealthCheckers::Builder b;
  register_builtin_health_checkers(b);
  return std::move(b).build();
}

/// A socket that listens but never accepts: connects succeed (the kernel queues them) and then
/// nothing answers — what a SIGSTOPped process looks like from outside.
struct HungListener {
  HungListener() {
    fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(fd, 16);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
  }
  ~HungListener() { ::close(fd); }
  int fd = -1;
  int port = 0;
};

class HealthCheckers_ : public ::testing::Test {
 protected:
  void SetUp() override {
    http::ServerOptions options;
    options.port = 0;
    server =
        std::make_unique<http::HttpServer>(io.io(), options, [](http::Request& r) -> http::Awaitable<http::Response> {
          const auto target = std::string(r.target());
          // Bodies in named variables: GCC 12 mishandles brace-init temporaries in coroutines.
          const nlohmann::json down{{"status", "DOWN"}};
          const nlohmann::json up{{"status", "UP"}, {"host", std::string(r[boost::beast::http::field::host])}};
          if (target == "/fail") co_return http::json_response(http::Status::service_unavailable, down);
          if (target == "/created") co_return http::json_response(http::Status::created, up);
          co_return http::json_response(http::Status::ok, up);
        });
    ASSERT_TRUE(server->listen().ok());
  }
  CheckResult check(const std::string& type, const HealthCheckSpec& spec, int port) {
    CheckTarget target;
    target.host = "127.0.0.1";
    target.port = port;
    auto checker = checkers.find(type);
    return io.run([&]() { return checker->check(target, spec); });
  }
  HealthCheckSpec spec(const std::string& type) {
    HealthCheckSpec s;
    s.type = type;
    s.interval = 1s;
    s.timeout = 300ms;
    return s;
  }

  HealthCheckers checkers = builtin();
  testing::IoThread io;
  std::unique_ptr<http::HttpServer> server;
};

TEST_F(HealthCheckers_, HttpChecksStatusBodyAndHost) {
  auto s = spec("http");
  auto r = check("http", s, server->port());
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.message, "HTTP 200");

  s.path = "/fail";
  r = check("http", s, server->port());
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.message, "HTTP 503 not expected");
  s.expected_statuses = {{503, 503}};
  EXPECT_TRUE(check("http", s, server->port()).ok);

  s = spec("http");
  s.path = "/created";
  s.expected_statuses = {{200, 200}};
  EXPECT_FALSE(check("http", s, server->port()).ok);

  s = spec("http");
  s.body_contains = "UP";
  EXPECT_TRUE(check("http", s, server->port()).ok);
  s.body_contains = "orders.internal";
  EXPECT_FALSE(check("http", s, server->port()).ok);
  s.host_header = "orders.internal";  // the handler echoes the Host header in the body
  EXPECT_TRUE(check("http", s, server->port()).ok);
}

TEST_F(HealthCheckers_, RefusedAndHungTargetsFailWithinTheTimeout) {
  const int closed = testing::free_port();
  for (const char* type : {"http", "tcp", "redis"}) {
    auto r = check(type, spec(type), closed);
    EXPECT_FALSE(r.ok) << type;
    EXPECT_NE(r.message.find("connect"), std::string::npos) << r.message;
  }
  HungListener hung;
  for (const char* type : {"http", "redis"}) {
    const auto started = std::chrono::steady_clock::now();
    auto r = check(type, spec(type), hung.port);
    const auto took = std::chrono::steady_clock::now() - started;
    EXPECT_FALSE(r.ok) << type;
    EXPECT_EQ(r.message, "timed out after 300ms") << type;
    EXPECT_GE(took, 300ms);
    EXPECT_LT(took, 2s) << "the deadline, not the kernel, ends a hung check";
  }
  EXPECT_TRUE(check("tcp", spec("tcp"), hung.port).ok) << "tcp only proves the port accepts";
  EXPECT_TRUE(check("tcp", spec("tcp"), server->port()).ok);
}

TEST_F(HealthCheckers_, RedisPingAgainstARealRedisServer) {
  testing::TempDir dir;
  int port = 0;
  auto redis = testing::start_redis(dir.path(), port);
  ASSERT_TRUE(redis.ok()) << redis.error().describe();
  auto r = check("redis", spec("redis"), port);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.message, "PONG");

  auto with_password = spec("redis");
  with_password.params["password"] = "secret";
  r = check("redis", with_password, port);
  EXPECT_FALSE(r.ok) << "no password is set on this server";
  EXPECT_NE(r.message.find("redis answered '-ERR"), std::string::npos) << r.message;

  ::kill(redis->pid(), SIGSTOP);
  r = check("redis", spec("redis"), port);
  EXPECT_EQ(r.message, "timed out after 300ms");
  ::kill(redis->pid(), SIGCONT);
  EXPECT_TRUE(check("redis", spec("redis"), port).ok);
}

TEST_F(HealthCheckers_, PostgresSelectOneThroughLibpq) {
  testing::TempDir dir;
  int port = 0;
  auto pg = testing::start_postgres(dir.path(), port);
  ASSERT_TRUE(pg.ok()) << pg.error().describe();
  auto s = spec("postgres");
  s.timeout = 1s;
  auto r = check("postgres", s, port);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(r.message, "SELECT 1");

  s.params["dbname"] = "no_such_db";
  r = check("postgres", s, port);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.message.find("no_such_db"), std::string::npos) << r.message;

  ::kill(pg->pid(), SIGSTOP);
  s.params.clear();
  r = check("postgres", s, port);
  EXPECT_EQ(r.message, "timed out after 1000ms");
  ::kill(pg->pid(), SIGCONT);
  EXPECT_TRUE(check("postgres", s, port).ok);
  pg->stop(SIGINT);
}

/// A custom checker whose answer the test flips.
struct Switch {
  std::atomic<bool> healthy{true};
  std::atomic<int> calls{0};
};

TEST(HealthMonitor, ThresholdsCallbacksHistoryAndAggregation) {
  testing::IoThread io;
  Switch sw;
  HealthCheckers::Builder b;
  b.add("switch",
        make_custom_checker([&sw](const CheckTarget&, const HealthCheckSpec&) -> asio::awaitable<CheckResult> {
          ++sw.calls;
          co_return CheckResult{sw.healthy.load(), sw.healthy ? "up" : "down", {}, {}};
        }));
  const auto checkers = std::move(b).build();
  RealTimeSource time;
  RealRandom random;
  std::mutex mutex;
  std::vector<HealthChange> changes;
  std::atomic<int> results{0};
  HealthMonitor monitor(
      io.executor(), checkers, time, random, HealthMonitorOptions{4},
      [&](const HealthChange& c) {
        std::lock_guard lock(mutex);
        changes.push_back(c);
      },
      [&](const std::string&, const std::string&, const CheckResult&) { ++results; });
  const auto change_count = [&] {
    std::lock_guard lock(mutex);
    return changes.size();
  };

  ServiceInstance a;
  a.service = "orders";
  a.host = "127.0.0.1";
  a.port = 1;
  a.normalize();
  HealthCheckSpec spec;
  spec.type = "switch";
  spec.interval = 10ms;
  spec.timeout = 10ms;
  spec.healthy_threshold = 2;
  spec.unhealthy_threshold = 3;
  a.checks = {spec};
  ServiceInstance b2 = a;
  b2.port = 2;
  b2.normalize();
  b2.id = "127.0.0.1:2";

  ASSERT_TRUE(monitor.watch(a).ok());
  ASSERT_TRUE(monitor.watch(b2).ok());
  ASSERT_TRUE(testing::wait_until([&] { return change_count() == 2; }, 5s));
  EXPECT_EQ(monitor.service("orders").status, ServiceHealthStatus::healthy);
  EXPECT_EQ(monitor.service("orders").healthy, 2u);

  const int before = sw.calls;
  ASSERT_TRUE(monitor.watch(a).ok());  // same checks: nothing restarts, state kept
  EXPECT_EQ(monitor.instance("orders", a.id)->state, HealthState::healthy);

  sw.healthy = false;
  ASSERT_TRUE(testing::wait_until([&] { return change_count() == 4; }, 5s));
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(changes[2].to, HealthState::unhealthy);
    EXPECT_EQ(changes[2].reason, "down");
  }
  auto health = monitor.instance("orders", a.id);
  ASSERT_TRUE(health.has_value());
  EXPECT_EQ(health->state, HealthState::unhealthy);
  EXPECT_GE(health->checks[0].consecutive_failures, 3);
  EXPECT_LE(health->checks[0].history.size(), 4u) << "history is bounded";
  EXPECT_EQ(monitor.service("orders").status, ServiceHealthStatus::unhealthy);
  EXPECT_GT(sw.calls, before);

  sw.healthy = true;
  ASSERT_TRUE(testing::wait_until([&] { return change_count() == 6; }, 5s));
  EXPECT_EQ(monitor.service("orders").status, ServiceHealthStatus::healthy);

  monitor.unwatch("orders", b2.id);
  EXPECT_EQ(monitor.instances("orders").size(), 1u);
  auto unknown = a;
  unknown.checks[0].type = "carrier-pigeon";
  auto bad = monitor.watch(unknown);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().field, "checks[0].type");
  EXPECT_EQ(monitor.instance("orders", a.id)->state, HealthState::healthy) << "a rejected watch changes nothing";

  monitor.stop();
  const int after_stop = results;
  // Loops end: at most the checks already in flight report nothing more.
  asio::steady_timer t(io.io(), 50ms);
  io.run([&]() -> asio::awaitable<void> { co_await t.async_wait(asio::use_awaitable); });
  EXPECT_LE(results - after_stop, 0);
}

}  // namespace
}  // namespace svckit
