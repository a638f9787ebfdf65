// The guides' programs, run as a newcomer runs them: the C++ service of docs/guide-cpp-service.md
// and the standard-library Python service of docs/guide-any-language.md, against a real svckitd
// with its gateway. Each registers, is checked, is called by name, and leaves on SIGTERM in order.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class Guides : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto gateway_file = dir.path() / "gateway.port";
    daemon = SvckitdProcess::start(dir.path(),
                                   {"--gateway-port", "0", "--set", "gateway.port_file=" + gateway_file.string()});
    ASSERT_NE(daemon, nullptr);
    ASSERT_TRUE(wait_until([&] { return read_file(gateway_file).find('\n') != std::string::npos; }, 10s));
    gateway = std::atoi(read_file(gateway_file).c_str());
  }
  /// Starts a service that writes its port to a file once registered; returns the port.
  int start(ChildProcess& into, std::vector<std::string> argv, const std::string& name) {
    const auto port_file = dir.path() / (name + ".port");
    argv.insert(argv.end(), {"--port-file", port_file.string()});
    auto child = ChildProcess::spawn(argv, dir.path() / (name + ".log"));
    EXPECT_TRUE(child) << child.error().message;
    if (!child) return 0;
    into = std::move(*child);
    EXPECT_TRUE(wait_until([&] { return !read_file(port_file).empty(); }, 20s))
        << read_file(dir.path() / (name + ".log"));
    return std::atoi(read_file(port_file).c_str());
  }
  json instances(const std::string& service) const {
    return daemon->json("GET", "/v1/services/" + service + "/instances")["instances"];
  }
  bool healthy(const std::string& service) const {
    const auto list = instances(service);
    return list.size() == 1 && list[0]["status"] == "healthy";
  }

  TempDir dir;
  std::unique_ptr<SvckitdProcess> daemon;
  int gateway = 0;
};

TEST_F(Guides, TheCppServiceRegistersIsCheckedCallsItsPeerByNameAndLeavesInOrder) {
  const std::string registry = daemon->url();
  ChildProcess inventory_process, orders_process;
  ASSERT_GT(start(inventory_process, {GUIDE_SERVICE_BIN, "--name", "inventory", "--registry", registry}, "inventory"),
            0);
  const int orders = start(
      orders_process, {GUIDE_SERVICE_BIN, "--name", "orders", "--peer", "inventory", "--registry", registry}, "orders");
  ASSERT_GT(orders, 0);
  EXPECT_FALSE(instances("inventory")[0]["checks"].empty()) << "registered with its health check";
  ASSERT_TRUE(wait_until([&] { return healthy("inventory") && healthy("orders"); }, 20s)) << "svckitd's check passed";

  json order;
  ASSERT_TRUE(wait_until(
      [&] {
        order = json::parse(http_call(orders, "GET", "/orders/42").body, nullptr, false);
        return order.is_object() && order["stock"].is_object() && order["stock"]["count"] == 7;
      },
      20s))
      << order.dump();
  EXPECT_EQ(order["stock"]["from"], "inventory");
  // Through the gateway, with a deadline: the same answer.
  const auto via_gateway = http_call(gateway, "GET", "/orders/orders/43", {}, {"X-Svckit-Deadline-Ms: 3000"});
  EXPECT_EQ(via_gateway.status, 200) << via_gateway.body;

  // SIGTERM: maintenance, drain, deregister, exit 0.
  const int inventory_exit = inventory_process.stop(SIGTERM, 20s);
  EXPECT_TRUE(WIFEXITED(inventory_exit) && WEXITSTATUS(inventory_exit) == 0) << read_file(dir.path() / "inventory.log");
  EXPECT_TRUE(instances("inventory").empty()) << "deregistered before it exited";
  // The peer is gone: the fallback answers, naming why.
  ASSERT_TRUE(wait_until(
      [&] {
        order = json::parse(http_call(orders, "GET", "/orders/42").body, nullptr, false);
        return order.is_object() && order["stock"].is_object() && order["stock"].contains("degraded");
      },
      20s))
      << order.dump();
  EXPECT_TRUE(order["stock"]["count"].is_null());
  const int orders_exit = orders_process.stop(SIGTERM, 20s);
  EXPECT_TRUE(WIFEXITED(orders_exit) && WEXITSTATUS(orders_exit) == 0) << read_file(dir.path() / "orders.log");
  EXPECT_TRUE(instances("orders").empty());
}

TEST_F(Guides, ThePythonServiceRegistersHeartbeatsComesBackAfterBeingForgottenAndDeregistersOnSigterm) {
  const std::string python = "/usr/bin/python3";
  const std::string script = std::string(SVCKIT_EXAMPLES_DIR) + "/python/any_language_service.py";
  const std::string svckitd = "http://127.0.0.1:" + std::to_string(daemon->port);
  const std::string gateway_url = "http://127.0.0.1:" + std::to_string(gateway);
  ChildProcess quotes_process, portfolio_process;
  const int quotes = start(
      quotes_process, {python, script, "--name", "quotes", "--svckitd", svckitd, "--gateway", gateway_url}, "quotes");
  ASSERT_GT(quotes, 0);
  const int portfolio =
      start(portfolio_process,
            {python, script, "--name", "portfolio", "--svckitd", svckitd, "--gateway", gateway_url, "--peer", "quotes"},
            "portfolio");
  ASSERT_GT(portfolio, 0);
  ASSERT_TRUE(wait_until([&] { return healthy("quotes") && healthy("portfolio"); }, 20s));
  EXPECT_EQ(instances("quotes")[0]["metadata"]["runtime"], "python");

  // portfolio calls quotes by name through the gateway.
  json answer;
  ASSERT_TRUE(wait_until(
      [&] {
        answer = json::parse(http_call(portfolio, "GET", "/portfolio", {}, {"X-Svckit-Deadline-Ms: 3000"}).body,
                             nullptr, false);
        return answer.is_object() && answer.contains("holdings");
      },
      20s))
      << answer.dump();
  EXPECT_EQ(answer["holdings"][0]["from"], "quotes");

  // svckitd forgets it (as after a restart without a snapshot): the next heartbeat registers again.
  const auto id = instances("quotes")[0]["id"].get<std::string>();
  ASSERT_EQ(daemon->call("DELETE", "/v1/services/quotes/instances/" + id).status, 200);
  ASSERT_TRUE(wait_until([&] { return instances("quotes").size() == 1; }, 20s)) << read_file(dir.path() / "quotes.log");
  EXPECT_EQ(instances("quotes")[0]["id"], id) << "same identity";

  const int exit = quotes_process.stop(SIGTERM, 20s);
  EXPECT_TRUE(WIFEXITED(exit) && WEXITSTATUS(exit) == 0) << read_file(dir.path() / "quotes.log");
  EXPECT_TRUE(instances("quotes").empty());
  EXPECT_NE(read_file(dir.path() / "quotes.log").find("deregistered, bye"), std::string::npos);
  const int portfolio_exit = portfolio_process.stop(SIGTERM, 20s);
  EXPECT_TRUE(WIFEXITED(portfolio_exit) && WEXITSTATUS(portfolio_exit) == 0);
}

}  // namespace
}  // namespace svckit::testing
