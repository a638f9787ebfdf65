#include <gtest/gtest.h>

#include "daemon/config.hpp"
#include "daemon/gateway_routes.hpp"

namespace svckit::daemon {
namespace {

RouteTable table() {
  SvckitdConfig c;
  const auto applied = apply_yaml(c, R"(
gateway:
  routes:
    - host: api.example.com
      prefix: /v1/
      service: api-v1
    - host: "*.shop.test"
      service: shop
      strip_prefix: false
    - prefix: /orders
      service: order-service
)",
                                  "test.yaml");
  EXPECT_TRUE(applied) << applied.error().message;
  return RouteTable{c.gateway_routes, true, {}, {}};
}

TEST(GatewayRoutes, FirstMatchingRouteWinsByHostAndWholeSegmentPrefix) {
  const auto t = table();
  ASSERT_EQ(t.routes.size(), 3u);
  EXPECT_EQ(t.routes[0].prefix, "/v1") << "a trailing slash is dropped";

  auto m = match_route(t, "API.example.com:443", "/v1/users/7?x=1");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->service, "api-v1");
  EXPECT_EQ(m->path, "/users/7?x=1");
  EXPECT_TRUE(m->by_route);
  EXPECT_EQ(m->stripped_prefix, "/v1") << "sent upstream as X-Forwarded-Prefix";

  m = match_route(t, "api.example.com", "/v1?x=1");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->path, "/?x=1");

  m = match_route(t, "www.shop.test", "/cart");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->service, "shop");
  EXPECT_EQ(m->path, "/cart") << "strip_prefix: false keeps the path";
  EXPECT_EQ(m->stripped_prefix, "") << "nothing removed, no prefix";
  EXPECT_EQ(match_route(t, "shop.test", "/cart")->service, "cart") << "*.shop.test does not match shop.test itself";

  EXPECT_EQ(match_route(t, "other", "/orders/1")->path, "/1");
  EXPECT_EQ(match_route(t, "other", "/ordersx/1")->service, "ordersx") << "no partial-segment match";
  EXPECT_EQ(match_route(t, "other", "/v1/users")->service, "v1") << "host-bound route, other host";
}

TEST(GatewayRoutes, ServicePathsAreTheDefaultAndCanBeTurnedOff) {
  RouteTable t;
  auto m = match_route(t, "", "/payments/charge?id=3");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->service, "payments");
  EXPECT_EQ(m->path, "/charge?id=3");
  EXPECT_FALSE(m->by_route);
  EXPECT_EQ(m->stripped_prefix, "/payments");
  EXPECT_EQ(match_route(t, "", "/payments?id=3")->path, "/?id=3");
  EXPECT_FALSE(match_route(t, "", "/"));
  t.service_paths = false;
  EXPECT_FALSE(match_route(t, "", "/payments/charge"));
}

TEST(GatewayRoutes, BadRoutesNameTheEntryAndFieldAndChangeNothing) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"gateway:\n  routes: {a: b}\n", "gateway.routes"},
      {"gateway:\n  routes:\n    - prefix: /x\n", "gateway.routes[0].service"},
      {"gateway:\n  routes:\n    - service: a\n    - service: 'bad name'\n", "gateway.routes[1].service"},
      {"gateway:\n  routes:\n    - service: a\n      prefix: nope\n", "gateway.routes[0].prefix"},
      {"gateway:\n  routes:\n    - service: a\n      host: a.b:80\n", "gateway.routes[0].host"},
      {"gateway:\n  routes:\n    - service: a\n      strip_prefix: maybe\n", "gateway.routes[0].strip_prefix"},
      {"gateway:\n  routes:\n    - service: a\n      weight: 3\n", "gateway.routes[0].weight"},
      {"gateway:\n  routes:\n    - service: [a]\n", "gateway.routes[0].service"},
  };
  for (const auto& [yaml, field] : cases) {
    SvckitdConfig c;
    c.gateway_routes.push_back(GatewayRoute{"", "/", "kept", true, nullptr, {}});
    const auto applied = apply_yaml(c, yaml, "bad.yaml");
    ASSERT_FALSE(applied) << yaml;
    EXPECT_EQ(applied.error().field, field) << applied.error().message;
    EXPECT_NE(applied.error().message.find("bad.yaml"), std::string::npos) << applied.error().message;
    ASSERT_EQ(c.gateway_routes.size(), 1u);
    EXPECT_EQ(c.gateway_routes[0].service, "kept");
  }
}

}  // namespace
}  // namespace svckit::daemon
