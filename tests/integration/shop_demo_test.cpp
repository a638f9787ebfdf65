// The demo of `scripts/run` as real processes: svckitd (registry + gateway), product-service ×3,
// user-service ×2, order-service. Orders go through the gateway; one product instance is killed
// (SIGKILL) while they flow, and no order fails.
#include <gtest/gtest.h>

#include <csignal>

#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

TEST(ShopDemo, KillingAProductInstanceWhileOrdersFlowFailsNoOrder) {
  TempDir dir;
  const auto gateway_file = dir.path() / "gateway.port";
  auto daemon = SvckitdProcess::start(
      dir.path(),
      {"--gateway-port", "0", "--set", "gateway.port_file=" + gateway_file.string(), "--sweep-interval", "200ms"});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(wait_until([&] { return read_file(gateway_file).find('\n') != std::string::npos; }, 10s));
  const int gateway = std::atoi(read_file(gateway_file).c_str());

  std::vector<ChildProcess> shop;
  for (const char* role : {"product", "product", "product", "user", "user", "order"}) {
    int port = 0;
    auto child = start_listening_binary({SHOP_SERVICE_BIN, "--role", role, "--registry", daemon->url(), "--ttl", "3s",
                                         "--check-every", "500ms", "--drain", "100ms"},
                                        dir.path(), port);
    ASSERT_TRUE(child.ok()) << child.error().message;
    shop.push_back(std::move(*child));
  }
  // Everyone is registered once each wrote its port; wait until the gateway routes an order.
  ASSERT_TRUE(wait_until([&] { return http_call(gateway, "GET", "/order-service/orders/0").status == 200; }, 10s));
  auto first = nlohmann::json::parse(http_call(gateway, "GET", "/order-service/orders/1?product=7&user=3").body);
  EXPECT_EQ(first["product"]["id"], "7");
  EXPECT_EQ(first["user"]["name"], "user 3");

  int failed = 0;
  for (int i = 0; i < 400; ++i) {
    if (i == 100) {  // a product instance dies mid-flow
      const int status = shop[0].stop(SIGKILL);
      ASSERT_TRUE(WIFSIGNALED(status)) << status;
    }
    const auto r = http_call(
        gateway, "GET", "/order-service/orders/" + std::to_string(i) + "?product=" + std::to_string(i) + "&user=1");
    if (r.status != 200) {
      ++failed;
      ADD_FAILURE() << "order " << i << ": " << r.status << " " << r.body;
    }
  }
  EXPECT_EQ(failed, 0);
  const auto metrics = daemon->call("GET", "/metrics").body;
  EXPECT_NE(metrics.find(R"(svckit_gateway_requests_total{service="order-service",code="200"})"), std::string::npos);
}

}  // namespace
}  // namespace svckit::testing
