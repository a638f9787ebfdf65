// ACL rules (Consul's resolution order), the token store (hashed secrets, persistence, bootstrap
// once, revocation) and the request side (which header carries the token).
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "daemon/acl_api.hpp"
#include "daemon/acl_guard.hpp"
#include "daemon/acl_rules.hpp"
#include "daemon/acl_tokens.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit::daemon {
namespace {

using nlohmann::json;

AclRules rules(const std::string& text) {
  auto parsed = AclRules::parse(json::parse(text));
  EXPECT_TRUE(parsed) << parsed.error().describe();
  return parsed ? *parsed : AclRules{};
}

TEST(AclRules, ExactBeatsPrefixAndTheLongestPrefixWins) {
  const auto r = rules(R"({"service_prefix": {"": "read", "billing-": {"policy": "write"}, "billing-audit": "deny"},
                           "service": {"billing-": "deny"}})");
  EXPECT_EQ(r.service("web"), Access::read);
  EXPECT_EQ(r.service("billing-api"), Access::write);
  EXPECT_EQ(r.service("billing-audit-log"), Access::deny);
  EXPECT_EQ(r.service("billing-"), Access::deny) << "the exact rule wins over the prefix";
  EXPECT_EQ(r.operator_access(), Access::deny);
  EXPECT_EQ(r.acl(), Access::deny);
}

TEST(AclRules, NoRuleMeansDeny) {
  const auto r = rules(R"({"service_prefix": {"web": "write"}})");
  EXPECT_EQ(r.service("api"), Access::deny);
  EXPECT_EQ(r.key("anything"), Access::deny);
  EXPECT_FALSE(r.services_under("", Access::read));
}

TEST(AclRules, AllUnderAPrefixNeedsEveryRuleBelowItToAgree) {
  const auto r =
      rules(R"({"key_prefix": {"": "read", "app": "write", "app.secrets": "deny"}, "key": {"app.mode": "read"}})");
  EXPECT_TRUE(r.keys_under("app.db", Access::write));
  EXPECT_FALSE(r.keys_under("app", Access::write)) << "app.secrets and app.mode grant less";
  EXPECT_FALSE(r.keys_under("", Access::read)) << "app.secrets is denied";
  EXPECT_TRUE(r.keys_under("other", Access::read));
  EXPECT_FALSE(r.keys_under("other", Access::write));
  EXPECT_TRUE(AclRules::management().keys_under("", Access::write));
  EXPECT_TRUE(AclRules::management().services_under("", Access::write));
}

TEST(AclRules, BadDocumentsAreRefusedNamingTheField) {
  struct Case {
    const char* text;
    const char* field;
  };
  for (const auto& c :
       {Case{R"([])", "rules"}, Case{R"({"services": {}})", "rules.services"},
        Case{R"({"service": {"web": "admin"}})", "rules.service.web"},
        Case{R"({"service": {"web": {"policy": "read", "x": 1}}})", "rules.service.web"},
        Case{R"({"operator": "list"})", "rules.operator"}, Case{R"({"key_prefix": "read"})", "rules.key_prefix"}}) {
    auto parsed = AclRules::parse(json::parse(c.text));
    ASSERT_FALSE(parsed) << c.text;
    EXPECT_EQ(parsed.error().field, c.field) << c.text;
  }
  json many = json::object();
  for (int i = 0; i < 1001; ++i) many["service"]["s" + std::to_string(i)] = "read";
  EXPECT_FALSE(AclRules::parse(many));
  EXPECT_TRUE(AclRules::parse(json::parse(R"({"node_prefix": {"": "read"}, "agent": {"x": "read"}})")))
      << "Consul's node and agent rules are accepted (svckitd is its only node)";
}

TEST(AclRules, CanonicalJsonParsesBackToTheSameRules) {
  const auto r =
      rules(R"({"service_prefix": {"": "read"}, "key": {"a.b": "write"}, "operator": "read", "acl": "write"})");
  const auto again = AclRules::parse(r.to_json());
  ASSERT_TRUE(again);
  EXPECT_EQ(again->to_json(), r.to_json());
  EXPECT_EQ(again->key("a.b"), Access::write);
  EXPECT_EQ(again->acl(), Access::write);
}

class AclStore : public ::testing::Test {
 protected:
  std::string read(const std::filesystem::path& f) {
    std::ifstream in(f);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }
  testing::TempDir dir;
  testing::SimulatedClock clock;
  std::filesystem::path file = dir.path() / "acl.json";
};

TEST_F(AclStore, SecretsResolveToTheirTokenAndAreStoredOnlyAsDigests) {
  AclTokenStore store(file, clock);
  ASSERT_TRUE(store.load());
  ASSERT_TRUE(*store.bootstrap("bootstrap-secret-0123456789"));
  auto made = store.create("reader", rules(R"({"service_prefix": {"": "read"}})"));
  ASSERT_TRUE(made) << made.error().describe();
  EXPECT_EQ(made->secret.size(), 36u) << "a UUID";
  auto who = store.resolve(made->secret);
  ASSERT_NE(who, nullptr);
  EXPECT_EQ(who->accessor, made->token.accessor);
  EXPECT_EQ(who->rules->service("x"), Access::read);
  EXPECT_EQ(store.resolve("not-a-token-at-all"), nullptr);
  EXPECT_EQ(store.resolve(""), nullptr);
  const auto text = read(file);
  EXPECT_EQ(text.find(made->secret), std::string::npos) << "the secret never reaches the disk";
  EXPECT_EQ(text.find("bootstrap-secret-0123456789"), std::string::npos);
  EXPECT_NE(text.find(AclTokenStore::digest(made->secret)), std::string::npos);
}

TEST_F(AclStore, TokensSurviveARestartAndTheBootstrapHappensOnce) {
  std::string accessor;
  std::string secret;
  {
    AclTokenStore store(file, clock);
    ASSERT_TRUE(store.load());
    ASSERT_TRUE(*store.bootstrap("bootstrap-secret-0123456789"));
    auto other_manager = store.create("ops", AclRules::management());
    ASSERT_TRUE(other_manager);
    secret = other_manager->secret;
    const auto boot = store.resolve("bootstrap-secret-0123456789");
    ASSERT_NE(boot, nullptr);
    accessor = boot->accessor;
    ASSERT_TRUE(store.revoke(accessor));
  }
  AclTokenStore again(file, clock);
  ASSERT_TRUE(again.load());
  EXPECT_TRUE(again.bootstrapped());
  EXPECT_FALSE(*again.bootstrap("bootstrap-secret-0123456789")) << "a revoked bootstrap token does not come back";
  EXPECT_EQ(again.resolve("bootstrap-secret-0123456789"), nullptr);
  ASSERT_NE(again.resolve(secret), nullptr);
  EXPECT_EQ(again.resolve(secret)->rules->acl(), Access::write);
  EXPECT_EQ(again.size(), 1u);
}

TEST_F(AclStore, TheLastManagerCannotBeRevokedAndUnknownAccessorsAreNotFound) {
  AclTokenStore store({}, clock);
  ASSERT_TRUE(*store.bootstrap("bootstrap-secret-0123456789"));
  const auto boot = store.resolve("bootstrap-secret-0123456789");
  auto last = store.revoke(boot->accessor);
  ASSERT_FALSE(last);
  EXPECT_EQ(last.error().code, ErrorCode::invalid_argument);
  EXPECT_NE(store.resolve("bootstrap-secret-0123456789"), nullptr);
  auto unknown = store.revoke("no-such-accessor");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, ErrorCode::not_found);
}

TEST_F(AclStore, RevokingEndsTheTokensWaitsAtOnce) {
  AclTokenStore store({}, clock);
  ASSERT_TRUE(*store.bootstrap("bootstrap-secret-0123456789"));
  auto made = store.create("reader", rules(R"({"service_prefix": {"": "read"}})"));
  ASSERT_TRUE(made);
  const auto who = store.resolve(made->secret);
  auto waiting = std::make_shared<CancelToken>();
  who->revocation->attach(waiting);
  EXPECT_FALSE(waiting->cancelled());
  ASSERT_TRUE(store.revoke(made->token.accessor));
  EXPECT_TRUE(waiting->cancelled());
  EXPECT_TRUE(who->revocation->revoked());
  EXPECT_EQ(store.resolve(made->secret), nullptr);
  auto late = std::make_shared<CancelToken>();
  who->revocation->attach(late);
  EXPECT_TRUE(late->cancelled()) << "a wait that starts after the revocation ends at once";
}

TEST_F(AclStore, AChangeThatCannotBeStoredIsNotMade) {
  AclTokenStore store(dir.path() / "missing-folder" / "acl.json", clock);
  auto made = store.bootstrap("bootstrap-secret-0123456789");
  ASSERT_FALSE(made);
  EXPECT_EQ(made.error().code, ErrorCode::unavailable);
  EXPECT_EQ(store.size(), 0u);
  EXPECT_FALSE(store.bootstrapped());
  EXPECT_EQ(store.resolve("bootstrap-secret-0123456789"), nullptr);
}

TEST_F(AclStore, SecretsOfTheWrongSizeOrInUseAreRefused) {
  AclTokenStore store({}, clock);
  ASSERT_TRUE(*store.bootstrap("bootstrap-secret-0123456789"));
  EXPECT_EQ(store.create("short", AclRules{}, "short").error().field, "SecretID");
  EXPECT_EQ(store.create("dup", AclRules{}, "bootstrap-secret-0123456789").error().field, "SecretID");
  EXPECT_EQ(store.create(std::string(2000, 'd'), AclRules{}).error().field, "Description");
}

TEST(AclApiBody, ConsulShapedCreateBodiesParse) {
  auto plain =
      AclApi::parse_create(json::parse(R"({"Description": "web", "ServiceIdentities": [{"ServiceName": "web"}]})"));
  ASSERT_TRUE(plain) << plain.error().describe();
  EXPECT_EQ(plain->rules.service("web"), Access::write);
  EXPECT_EQ(plain->rules.service("db"), Access::read) << "a service identity reads every service";
  auto as_string = AclApi::parse_create(json::parse(R"({"Rules": "{\"key_prefix\": {\"app.\": \"read\"}}"})"));
  ASSERT_TRUE(as_string) << as_string.error().describe();
  EXPECT_EQ(as_string->rules.key("app.x"), Access::read);
  EXPECT_EQ(AclApi::parse_create(json::parse(R"({"Policies": [{"Name": "x"}]})")).error().field, "Policies");
  EXPECT_EQ(AclApi::parse_create(json::parse(R"({"Rules": "service \"web\" { policy = \"read\" }"})")).error().field,
            "Rules")
      << "HCL is refused with a clear error, not misread";
  EXPECT_EQ(AclApi::parse_create(json::parse(R"({"Rules": {"service": {"web": "root"}}})")).error().field,
            "Rules.service.web");
}

TEST(AclRequest, TheSecretComesFromAnyOfTheFourPlaces) {
  const auto with = [](const char* name, const char* value, const char* target = "/v1/services") {
    http::Request r{http::Verb::get, target, 11};
    if (name != nullptr) r.set(name, value);
    return AclGuard::presented_secret(r);
  };
  EXPECT_EQ(with("Authorization", "Bearer s3cret"), "s3cret");
  EXPECT_EQ(with("Authorization", "bearer  s3cret"), "s3cret");
  EXPECT_EQ(with("Authorization", "Basic abc"), "") << "not a bearer token";
  EXPECT_EQ(with("X-Svckit-Token", "s3cret"), "s3cret");
  EXPECT_EQ(with("X-Consul-Token", "s3cret"), "s3cret");
  EXPECT_EQ(with(nullptr, nullptr, "/v1/catalog/services?token=s3cret"), "s3cret");
  EXPECT_EQ(with(nullptr, nullptr, "/v1/catalog/services?index=3"), "");
}

}  // namespace
}  // namespace svckit::daemon
