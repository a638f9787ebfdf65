#include <gtest/gtest.h>

#include <map>

#include "daemon/config.hpp"

namespace svckit::daemon {
namespace {

using namespace std::chrono_literals;

TEST(SvckitdConfig, YamlThenEnvThenFlagsOverride) {
  SvckitdConfig c;
  ASSERT_TRUE(apply_yaml(c, R"(
listen: 0.0.0.0:9000
threads: 4
sweep_interval: 250ms
watch:
  max_wait: 2m
limits:
  max_watchers: 50
)",
                         "svckitd.yaml")
                  .ok());
  EXPECT_EQ(c.address, "0.0.0.0");
  EXPECT_EQ(c.port, 9000);
  EXPECT_EQ(c.threads, 4u);
  EXPECT_EQ(c.sweep_interval, 250ms);
  EXPECT_EQ(c.max_wait, 2min);
  EXPECT_EQ(c.max_watchers, 50u);

  std::map<std::string, std::string> env{{"SVCKITD_THREADS", "8"}, {"SVCKITD_LIMITS_MAX_WATCHERS", "7"}};
  ASSERT_TRUE(apply_env(c, [&](const char* n) {
                auto it = env.find(n);
                return it == env.end() ? nullptr : it->second.c_str();
              }).ok());
  EXPECT_EQ(c.threads, 8u);
  EXPECT_EQ(c.max_watchers, 7u);

  ASSERT_TRUE(apply_setting(c, "port", "0", "command line").ok());
  EXPECT_EQ(c.port, 0);
}

TEST(SvckitdConfig, ErrorsNameTheKeyAndLeaveConfigUnchanged) {
  SvckitdConfig c;
  const auto before_threads = c.threads;
  auto r = apply_yaml(c, "threads: 3\nlimits:\n  max_watchers: lots\n", "f.yaml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "limits.max_watchers");
  EXPECT_NE(r.error().message.find("f.yaml"), std::string::npos);
  EXPECT_EQ(c.threads, before_threads) << "no half-applied change";

  EXPECT_EQ(apply_yaml(c, "colour: red\n", "f").error().field, "colour");
  EXPECT_EQ(apply_yaml(c, "listen: [1, 2]\n", "f").error().field, "listen");
  EXPECT_EQ(apply_yaml(c, "a: b: c\n", "f").error().field, "config");
  EXPECT_EQ(apply_setting(c, "port", "70000", "flag").error().field, "port");
  EXPECT_EQ(apply_setting(c, "sweep_interval", "1ms", "flag").error().field, "sweep_interval");
  EXPECT_EQ(apply_setting(c, "log_level", "loud", "flag").error().field, "log_level");
  EXPECT_EQ(apply_setting(c, "listen", "nocolon", "flag").error().field, "listen");
  EXPECT_EQ(apply_setting(c, "dns.port", "70000", "flag").error().field, "dns.port");
  EXPECT_EQ(apply_setting(c, "dns.domain", "bad domain", "flag").error().field, "dns.domain");
  EXPECT_EQ(apply_setting(c, "dns.ttl", "-1s", "flag").error().field, "dns.ttl");
  EXPECT_EQ(apply_setting(c, "dns.negative_ttl", "30d", "flag").error().field, "dns.negative_ttl");

  std::map<std::string, std::string> env{{"SVCKITD_PORT", "-1"}};
  auto e = apply_env(c, [&](const char* n) {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  });
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().message.find("SVCKITD_PORT"), std::string::npos);

  c.default_wait = 10min;
  EXPECT_EQ(validate(c).error().field, "watch.default_wait");

  SvckitdConfig grpc_tls;
  ASSERT_TRUE(apply_setting(grpc_tls, "health.grpc_tls.cert_file", "/etc/hosts", "flag").ok());
  EXPECT_EQ(validate(grpc_tls).error().field, "health.grpc_tls.key_file") << "a certificate needs its key";
  grpc_tls = SvckitdConfig{};
  ASSERT_TRUE(apply_setting(grpc_tls, "health.grpc_tls.ca_file", "/no/such/ca.pem", "flag").ok());
  EXPECT_EQ(validate(grpc_tls).error().field, "health.grpc_tls.ca_file") << "an unreadable file, at start";
}

TEST(SvckitdConfig, EveryKeyHasAnEnvironmentName) {
  EXPECT_EQ(env_name("limits.max_watchers"), "SVCKITD_LIMITS_MAX_WATCHERS");
  for (const auto& key : setting_keys()) EXPECT_EQ(env_name(key).rfind("SVCKITD_", 0), 0u);
}

}  // namespace
}  // namespace svckit::daemon
