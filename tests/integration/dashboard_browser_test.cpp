// svckitd's dashboard (/ui/) in headless Chromium, driven by tests/npm/dashboard_test.js with
// playwright-core: the demo shop's services listed, an instance registered over HTTP appearing and a
// killed one going unhealthy without a reload, an order's trace as a waterfall across three services,
// a config rollback after confirming, no console
// errors, a phone-sized viewport. A failure leaves a screenshot and the page's HTML in
// <build>/test-artefacts.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

TEST(DashboardBrowser, AUserSeesTheRegistryLiveAndRollsBackAConfigVersion) {
  ASSERT_TRUE(std::filesystem::exists(std::filesystem::path(SVCKIT_NPM_DIR) / "node_modules" / "playwright-core"))
      << "playwright-core is missing: run scripts/setup";
  ASSERT_TRUE(std::filesystem::exists("/usr/bin/chromium")) << "Debian's chromium is missing: run scripts/setup";
  TempDir dir;
  const auto port_file = dir.path() / "gateway.port";
  auto daemon =
      SvckitdProcess::start(dir.path(), {"--gateway-port", "0", "--set", "gateway.port_file=" + port_file.string()});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(wait_until([&] { return read_file(port_file).find('\n') != std::string::npos; }, 10s));
  const int gateway = std::atoi(read_file(port_file).c_str());
  const std::string traces = "http://127.0.0.1:" + std::to_string(daemon->port) + "/v1/traces";
  std::vector<ChildProcess> shop;
  int order_port = 0;
  for (const char* role : {"product", "product", "user", "order"}) {
    int port = 0;
    auto child = start_listening_binary({SHOP_SERVICE_BIN, "--role", role, "--registry", daemon->url(), "--ttl", "30s",
                                         "--check-every", "300ms", "--traces", traces},
                                        dir.path(), port);
    ASSERT_TRUE(child.ok()) << child.error().message;
    shop.push_back(std::move(*child));
    order_port = port;  // the last one
  }
  const auto artefacts = std::filesystem::path(SVCKIT_ARTEFACT_DIR) / "dashboard";
  const auto out = dir.path() / "node.log";
  auto node = ChildProcess::spawn(
      {"node", std::string(SVCKIT_NPM_DIR) + "/dashboard_test.js", std::to_string(daemon->port), artefacts.string(),
       std::to_string(shop[0].pid()), std::to_string(order_port), std::to_string(gateway)},
      out);
  ASSERT_TRUE(node) << node.error().message;
  const int status = node->wait_exit(120s);
  const auto text = read_file(out);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << text << "\n(screenshot and HTML of a failure: " << artefacts.string() << ")";
  const auto seen = nlohmann::json::parse(text.substr(0, text.find('\n')), nullptr, false);
  ASSERT_TRUE(seen.is_object()) << text;
  EXPECT_EQ(seen.value("product_instances", 0), 2) << text;
  EXPECT_EQ(seen.value("rolled_back_limit", 0), 10) << text;
  EXPECT_NE(seen.value("ejection_shown", "").find("consecutive 5xx"), std::string::npos) << text;
  EXPECT_NE(seen.value("dialog_text", "").find("version 1"), std::string::npos) << text;
  EXPECT_EQ(seen.value("trace_services", nlohmann::json::array()),
            nlohmann::json::array({"order-service", "product-service", "user-service"}))
      << text;
}

}  // namespace
}  // namespace svckit::testing

namespace svckit::testing {
namespace {

TEST(DashboardBrowser, WithAclsTheTokenFieldUnlocksWhatTheTokenMayRead) {
  TempDir dir;
  const std::string root = "dashboard-root-secret-0123456789";
  auto daemon =
      SvckitdProcess::start(dir.path(), {"--set", "acl.enabled=true", "--set", "acl.bootstrap_token=" + root});
  ASSERT_NE(daemon, nullptr);
  ASSERT_EQ(
      http_call(daemon->port, "POST", "/v1/instances", instance_body("web", 9001), {"X-Svckit-Token: " + root}).status,
      200);
  const auto artefacts = std::filesystem::path(SVCKIT_ARTEFACT_DIR) / "dashboard-acl";
  const auto out = dir.path() / "node.log";
  auto node = ChildProcess::spawn({"node", std::string(SVCKIT_NPM_DIR) + "/dashboard_acl_test.js",
                                   std::to_string(daemon->port), artefacts.string(), root},
                                  out);
  ASSERT_TRUE(node) << node.error().message;
  const int status = node->wait_exit(std::chrono::seconds(90));
  const auto text = read_file(out);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
  const auto seen = nlohmann::json::parse(text.substr(0, text.find('\n')), nullptr, false);
  ASSERT_TRUE(seen.is_object()) << text;
  EXPECT_EQ(seen.value("rows_without_token", -1), 0) << text;
  EXPECT_TRUE(seen.value("kept_after_reload", false)) << text;
  EXPECT_TRUE(seen.value("locked_again", false)) << text;
}

}  // namespace
}  // namespace svckit::testing
