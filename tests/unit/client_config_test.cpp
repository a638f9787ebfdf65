// ServiceClient configuration: YAML, then the environment variables services already use, merged per service;
// errors name the source and key and apply nothing.
#include "svckit/client/client_config.hpp"

#include <gtest/gtest.h>

namespace svckit {
namespace {

using namespace std::chrono_literals;

TEST(ClientConfig, YamlThenEnvironmentWithPerServiceOverridesOnTopOfDefaults) {
  ClientConfigLoader loader;
  ASSERT_TRUE(loader
                  .add_yaml(R"(
defaults:
  timeout: 5s
  retry: {max_attempts: 2, backoff: decorrelated_jitter, statuses: [503]}
  circuit_breaker: {window: time_based, size: 30, open_wait: 10s}
services:
  user-service:
    urls: [http://10.0.0.1:8001, http://10.0.0.2:8001]
    policy: ring_hash
)",
                            "client.yaml")
                  .ok());
  ASSERT_TRUE(loader
                  .add_env({{"DEFAULT_TIMEOUT", "30"},
                            {"DEFAULT_RETRY_TIMES", "4"},
                            {"DEFAULT_RETRY_DELAY", "250ms"},
                            {"CB_FAILURE_THRESHOLD", "5"},
                            {"CB_RECOVERY_TIMEOUT", "60"},
                            {"MODEL_SERVICE_URL", "http://127.0.0.1:9000"},
                            {"MODEL_SERVICE_TIMEOUT", "120s"},
                            {"DATABASE_URL", "postgres://db/orders"},
                            {"PIP_DEFAULT_TIMEOUT", "not a service"},
                            {"JAVA_SERVICE_TIMEOUT", "45"},
                            {"GATEWAY_URL", "http://gw:8080"}})
                  .ok());
  auto built = loader.build();
  ASSERT_TRUE(built.ok()) << built.error().describe();
  const auto& o = *built;
  EXPECT_EQ(o.gateway_url, "http://gw:8080");
  EXPECT_EQ(o.defaults.timeout, 30s) << "environment over YAML";
  EXPECT_EQ(o.defaults.retry.max_attempts, 5) << "4 retries after the first attempt";
  EXPECT_EQ(o.defaults.retry.backoff.kind, BackoffKind::decorrelated_jitter);
  EXPECT_EQ(o.defaults.retry.backoff.base, 250ms);
  EXPECT_EQ(o.defaults.retry.retry_on_statuses, std::set<int>{503});
  EXPECT_EQ(o.defaults.service_breaker.window, CircuitBreakerOptions::Window::count_based);
  EXPECT_EQ(o.defaults.service_breaker.sliding_window_size, 5u);
  EXPECT_EQ(o.defaults.service_breaker.failure_rate_threshold, 100);
  EXPECT_EQ(o.defaults.service_breaker.wait_duration_in_open_state, 60s);

  ASSERT_EQ(o.services.size(), 3u) << "DATABASE_URL and PIP_DEFAULT_TIMEOUT are not services";
  EXPECT_EQ(o.services.at("java-service").timeout, 45s) << "a service found only through discovery gets its timeout";
  EXPECT_TRUE(o.services.at("java-service").static_urls.empty());
  const auto& user = o.services.at("user-service");
  EXPECT_EQ(user.static_urls.size(), 2u);
  EXPECT_EQ(user.balancing.policy, "ring_hash");
  EXPECT_EQ(user.timeout, 30s) << "the final default reaches services that do not set their own";
  const auto& model = o.services.at("model-service");
  EXPECT_EQ(model.static_urls, std::vector<std::string>{"http://127.0.0.1:9000"});
  EXPECT_EQ(model.timeout, 120s);
}

TEST(ClientConfig, ServiceUrlsComeFromEitherSpellingAndUrlWinsOverBaseUrl) {
  struct Case {
    std::vector<std::pair<std::string, std::string>> env;
    std::string service;
    std::vector<std::string> urls;  // empty: the service is not configured with URLs
  };
  const std::vector<Case> cases{
      {{{"JAVA_SERVICE_BASE_URL", "http://java:8080"}}, "java-service", {"http://java:8080"}},
      {{{"JAVA_SERVICE_URL", "http://java:8080"}}, "java-service", {"http://java:8080"}},
      {{{"JAVA_SERVICE_BASE_URL", "http://old:1"}, {"JAVA_SERVICE_URL", "http://new:2"}},
       "java-service",
       {"http://new:2"}},
      {{{"JAVA_SERVICE_URL", "http://new:2"}, {"JAVA_SERVICE_BASE_URL", "http://old:1"}},
       "java-service",
       {"http://new:2"}},
      {{{"USER_SERVICE_BASE_URL", "http://a:1,http://b:2"}}, "user-service", {"http://a:1", "http://b:2"}},
      {{{"DATABASE_BASE_URL", "postgres://db"}}, "database", {}},
  };
  for (const auto& c : cases) {
    ClientConfigLoader loader;
    ASSERT_TRUE(loader.add_env(c.env)) << c.env.front().first;
    auto built = loader.build();
    ASSERT_TRUE(built) << built.error().describe();
    const auto it = built->services.find(c.service);
    if (c.urls.empty()) {
      EXPECT_EQ(it, built->services.end()) << c.env.front().first << " is not a service's URL";
    } else {
      ASSERT_NE(it, built->services.end()) << c.env.front().first;
      EXPECT_EQ(it->second.static_urls, c.urls) << c.env.front().first;
    }
  }
}

TEST(ClientConfig, ErrorsNameSourceAndKeyAndApplyNothing) {
  ClientConfigLoader loader;
  auto r = loader.add_env({{"DEFAULT_RETRY_TIMES", "many"}});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "environment DEFAULT_RETRY_TIMES");
  r = loader.add_yaml("services:\n  orders:\n    timeout: soon\n", "client.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "client.yaml: services.orders.timeout");
  r = loader.add_yaml("defaults:\n  colour: red\n", "client.yaml");
  EXPECT_EQ(r.error().field, "client.yaml: defaults.colour");
  r = loader.add_yaml("defaults: [1, 2\n", "client.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("YAML error at line"), std::string::npos);
  r = loader.add_yaml("defaults:\n  retry: {max_attempts: 3}\n  circuit_breaker: {failure_rate: 0}\n", "c.yaml");
  ASSERT_TRUE(r.ok()) << "values parse; the range is checked when the options are built";
  auto built = loader.build();
  ASSERT_FALSE(built.ok());
  EXPECT_EQ(built.error().field, "defaults.service_breaker.failure_rate_threshold");
}

TEST(ClientConfig, DefaultHeadersAndApiKeysFromYamlAndTheEnvironment) {
  ClientConfigLoader loader;
  ASSERT_TRUE(loader
                  .add_yaml(R"(
defaults:
  headers: {X-Client: shop}
services:
  payment-service:
    urls: [http://10.0.0.9:7000]
    api_key_header: Authorization
    headers: {X-Tenant: acme}
)",
                            "client.yaml")
                  .ok());
  // PAYMENT_SERVICE_API_KEY configures a configured service; OPENAI_API_KEY belongs to someone else.
  ASSERT_TRUE(loader.add_env({{"PAYMENT_SERVICE_API_KEY", "pk-1"}, {"OPENAI_API_KEY", "sk-not-ours"}}).ok());
  auto built = loader.build();
  ASSERT_TRUE(built.ok()) << built.error().describe();
  const auto& pay = built->services.at("payment-service");
  EXPECT_EQ(pay.api_key, "pk-1");
  EXPECT_EQ(pay.api_key_header, "Authorization");
  EXPECT_EQ(pay.headers, (std::vector<std::pair<std::string, std::string>>{{"X-Client", "shop"}, {"X-Tenant", "acme"}}))
      << "the defaults' headers, then the service's own";
  EXPECT_EQ(built->defaults.headers, (std::vector<std::pair<std::string, std::string>>{{"X-Client", "shop"}}));
  EXPECT_EQ(built->services.count("openai"), 0U);
  EXPECT_TRUE(built->defaults.api_key.empty());

  ClientConfigLoader bad;
  auto refused = bad.add_yaml("services:\n  p:\n    urls: [http://h:1]\n    api_key_header: \"Bad Name\"\n", "c.yaml");
  EXPECT_FALSE(refused.ok() && bad.build().ok()) << "an invalid header name is refused";
}

TEST(ClientConfig, RetryBudgetModeAndHedgingFromYaml) {
  ClientConfigLoader loader;
  ASSERT_TRUE(loader
                  .add_yaml(R"(
defaults:
  retry_budget: {max_tokens: 20, token_ratio: 0.5}
  hedging: {enabled: true, delay: 30ms}
services:
  search:
    retry_budget: {mode: concurrency, percent: 10, min_concurrency: 5}
)",
                            "client.yaml")
                  .ok());
  auto built = loader.build();
  ASSERT_TRUE(built.ok()) << built.error().describe();
  EXPECT_EQ(built->defaults.retry_budget_mode, ServiceConfig::RetryBudgetMode::token_bucket);
  EXPECT_EQ(built->defaults.retry_budget_max_tokens, 20);
  EXPECT_EQ(built->defaults.retry_budget_token_ratio, 0.5);
  EXPECT_TRUE(built->defaults.hedging.enabled);
  EXPECT_EQ(built->defaults.hedging.delay, 30ms);
  const auto& search = built->services.at("search");
  EXPECT_EQ(search.retry_budget_mode, ServiceConfig::RetryBudgetMode::concurrency);
  EXPECT_EQ(search.retry_budget_percent, 10);
  EXPECT_EQ(search.retry_budget_min_concurrency, 5u);
  EXPECT_TRUE(search.hedging.enabled) << "per-service settings sit on top of the defaults";

  ClientConfigLoader bad;
  auto r = bad.add_yaml("defaults:\n  retry_budget: {mode: unlimited}\n", "client.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "client.yaml: defaults.retry_budget.mode");
  ASSERT_TRUE(bad.add_yaml("defaults:\n  retry_budget: {percent: 150}\n", "client.yaml").ok());
  auto invalid = bad.build();
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.error().field, "defaults.retry_budget_percent");
}

}  // namespace
}  // namespace svckit
