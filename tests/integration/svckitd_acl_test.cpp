// svckitd with ACLs on, tried from outside: every endpoint against every kind of caller (no
// token, an unknown one, a revoked one, a read-only one, one that writes another prefix, a
// management token), with the registry, configuration and token state compared after every
// refused request; filtered lists and watches; revocation ending long polls; tokens surviving a
// restart; the audit log naming accessors, never secrets.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <future>

#include "cli_process.hpp"
#include "svckit/config/remote_config.hpp"
#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckitd_process.hpp"
#include "test_instance.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* kRoot = "root-secret-0123456789abcdef";

enum class Who { none, unknown, revoked, reader, other, root };
// read/write: of "web" services or "app" keys; by_id_*: of the "web" instance behind a Consul ID,
// which a caller that may not read "web" is told does not exist (404).
enum class Need { open, filtered, self, read, write, by_id_read, by_id_write };

const char* name(Who w) {
  switch (w) {
    case Who::none:
      return "no token";
    case Who::unknown:
      return "unknown token";
    case Who::revoked:
      return "revoked token";
    case Who::reader:
      return "read-only token";
    case Who::other:
      return "token for another prefix";
    case Who::root:
      return "management token";
  }
  return "?";
}

/// The documented status for a caller and what the endpoint needs.
int expected(Who who, Need need) {
  if (need == Need::open) return 200;
  if (who == Who::other && (need == Need::by_id_read || need == Need::by_id_write)) return 404;
  if (need == Need::by_id_read) need = Need::read;
  if (need == Need::by_id_write) need = Need::write;
  switch (who) {
    case Who::unknown:
    case Who::revoked:
      return 401;
    case Who::none:
      return need == Need::filtered ? 200 : 401;
    case Who::reader:
      return need == Need::write ? 403 : 200;
    case Who::other:
      return need == Need::filtered || need == Need::self ? 200 : 403;
    case Who::root:
      return 200;
  }
  return 0;
}

class SvckitdAcl : public ::testing::Test {
 protected:
  void SetUp() override { start(); }

  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--snapshot-file", (dir.path() / "registry.json").string(),
                                  "--set",           "acl.enabled=true",
                                  "--set",           std::string("acl.bootstrap_token=") + kRoot,
                                  "--set",           "audit.file=" + (dir.path() / "audit.log").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon = SvckitdProcess::start(dir.path(), args);
    ASSERT_NE(daemon, nullptr);
  }

  HttpAnswer as(const std::string& secret, const std::string& method, const std::string& target,
                const std::string& body = {}, std::chrono::milliseconds timeout = 10s) const {
    std::vector<std::string> headers;
    if (!secret.empty()) headers.push_back("X-Svckit-Token: " + secret);
    return http_call(daemon->port, method, target, body, headers, timeout);
  }

  /// A new token with `rules`; returns {accessor, secret}.
  std::pair<std::string, std::string> token(const std::string& rules) {
    const auto made = as(kRoot, "PUT", "/v1/acl/token", R"({"Description": "test", "Rules": )" + rules + "}");
    EXPECT_EQ(made.status, 200) << made.body;
    const auto j = json::parse(made.body, nullptr, false);
    return {j.value("AccessorID", ""), j.value("SecretID", "")};
  }

  /// Everything a refused request must leave as it was, read with the management token.
  std::string state() const {
    std::string out;
    for (const char* target : {"/v1/services", "/v1/services/web/instances", "/v1/services/other-api/instances",
                               "/v1/config", "/v1/config/history", "/v1/acl/tokens", "/v1/agent/checks"}) {
      const auto a = as(kRoot, "GET", target);
      out += std::string(target) + " " + std::to_string(a.status) + " " + a.body + "\n";
    }
    return out;
  }

  TempDir dir;
  std::unique_ptr<SvckitdProcess> daemon;
};

TEST_F(SvckitdAcl, EveryEndpointAnswersEveryKindOfCallerAsDocumentedAndRefusalsChangeNothing) {
  // The world: web-1 (native), cweb-1 (Consul, TTL check), other-api-1, config {app: {x: 1}}.
  ASSERT_EQ(as(kRoot, "POST", "/v1/instances", instance_body("web", 9001, R"(,"id":"web-1")")).status, 200);
  ASSERT_EQ(as(kRoot, "POST", "/v1/instances", instance_body("other-api", 9002, R"(,"id":"other-api-1")")).status, 200);
  ASSERT_EQ(as(kRoot, "PUT", "/v1/agent/service/register",
               R"({"Name": "web", "ID": "cweb-1", "Port": 9003, "Check": {"TTL": "300s"}})")
                .status,
            200);
  ASSERT_EQ(as(kRoot, "PUT", "/v1/config", R"({"app": {"x": 1}, "other": {"y": 2}})").status, 200);

  // An instance registered through Eureka's API: only with write on its service (204 is Eureka's success).
  const std::string eureka_body =
      R"({"instance": {"instanceId": "eweb-1", "app": "WEB", "ipAddr": "127.0.0.1", "port": {"$": 9007, "@enabled": "true"}}})";
  EXPECT_EQ(as("", "POST", "/eureka/apps/WEB", eureka_body).status, 401);
  ASSERT_EQ(as(kRoot, "POST", "/eureka/apps/WEB", eureka_body).status, 204);
  ASSERT_EQ(as(kRoot, "POST", "/nacos/v1/cs/configs?dataId=app.properties&content=1").status, 200);
  const auto reader =
      token(R"({"service_prefix": {"": "read"}, "key_prefix": {"": "read"}, "operator": "read", "acl": "read"})");
  const auto other = token(R"({"service_prefix": {"other-": "write"}, "key_prefix": {"other": "write"}})");
  const auto revoked = token(R"({"service_prefix": {"": "write"}})");
  const auto victim = token(R"({"service_prefix": {"": "read"}})");
  ASSERT_EQ(as(kRoot, "DELETE", "/v1/acl/token/" + revoked.first).status, 200);

  struct Endpoint {
    std::string method;
    std::string target;
    std::string body;
    Need need;
    std::string hidden;  // for filtered answers: a word a caller without read must not see
  };
  const std::vector<Endpoint> endpoints{
      {"POST", "/v1/instances", instance_body("web", 9004, R"(,"id":"web-2")"), Need::write, ""},
      // Nacos's config API (key nacos), before PUT /v1/config below replaces the document.
      {"GET", "/nacos/v1/cs/configs?dataId=app.properties", "", Need::read, ""},  // key nacos
      {"POST", "/nacos/v1/cs/configs/listener?Listening-Configs=app.properties%02DEFAULT_GROUP%02x%01", "", Need::read,
       ""},
      {"POST", "/nacos/v1/cs/configs?dataId=app.properties&content=2", "", Need::write, ""},
      {"GET", "/v1/services", "", Need::filtered, "web"},
      {"GET", "/v1/services/web/instances", "", Need::read, ""},
      {"GET", "/v1/services/web/instances/web-1", "", Need::read, ""},
      {"PUT", "/v1/services/web/instances/web-1/heartbeat", "", Need::write, ""},
      {"PUT", "/v1/services/web/instances/web-1/status", R"({"status": "healthy"})", Need::write, ""},
      {"GET", "/v1/watch?service=web", "", Need::read, ""},
      {"GET", "/v1/watch", "", Need::filtered, "web"},
      {"GET", "/healthz", "", Need::open, ""},
      {"GET", "/metrics", "", Need::read, ""},  // operator read
      {"GET", "/v1/health", "", Need::filtered, "web"},
      {"GET", "/v1/prometheus/sd", "", Need::filtered, "web"},
      {"GET", "/v1/health/web", "", Need::read, ""},
      {"GET", "/v1/config", "", Need::filtered, "app"},
      {"PUT", "/v1/config", R"({"app": {"x": 2}, "other": {"y": 2}})", Need::write, ""},
      {"GET", "/v1/config/keys/app.x", "", Need::read, ""},
      {"PUT", "/v1/config/keys/app.y", "3", Need::write, ""},
      {"DELETE", "/v1/config/keys/app.y", "", Need::write, ""},
      {"GET", "/v1/config/history", "", Need::read, ""},
      {"GET", "/v1/config/history/1", "", Need::read, ""},
      {"POST", "/v1/config/rollback/1", "", Need::write, ""},
      {"PUT", "/v1/agent/service/register", R"({"Name": "web", "ID": "cweb-2", "Port": 9005})", Need::write, ""},
      {"PUT", "/v1/agent/check/pass/service:cweb-1", "", Need::by_id_write, ""},
      {"PUT", "/v1/agent/check/warn/service:cweb-1", "", Need::by_id_write, ""},
      {"PUT", "/v1/agent/check/fail/service:cweb-1", "", Need::by_id_write, ""},
      {"PUT", "/v1/agent/check/update/service:cweb-1", R"({"Status": "passing"})", Need::by_id_write, ""},
      {"PUT", "/v1/agent/service/maintenance/cweb-1?enable=false", "", Need::by_id_write, ""},
      {"GET", "/v1/agent/services", "", Need::filtered, "web"},
      {"GET", "/v1/agent/service/cweb-1", "", Need::by_id_read, ""},
      {"GET", "/v1/agent/checks", "", Need::filtered, "web"},
      {"GET", "/v1/catalog/services", "", Need::filtered, "web"},
      {"GET", "/v1/catalog/service/web", "", Need::read, ""},
      {"GET", "/v1/health/service/web", "", Need::read, ""},
      {"GET", "/v1/status/leader", "", Need::open, ""},
      {"GET", "/v1/agent/self", "", Need::read, ""},  // operator read
      {"PUT", "/v1/acl/token", R"({"Description": "made in the matrix"})", Need::write, ""},
      {"GET", "/v1/acl/tokens", "", Need::read, ""},
      {"GET", "/v1/acl/token/self", "", Need::self, ""},
      {"GET", "/v1/acl/token/" + reader.first, "", Need::read, ""},
      {"DELETE", "/v1/acl/token/" + victim.first, "", Need::write, ""},
      // Eureka's REST API: the app's service decides, as for the native API.
      {"PUT", "/eureka/apps/WEB/web-1", "", Need::by_id_write, ""},
      {"GET", "/eureka/apps", "", Need::filtered, "web"},
      {"GET", "/eureka/apps/delta", "", Need::filtered, "web"},
      {"GET", "/eureka/apps/WEB", "", Need::read, ""},
      {"GET", "/eureka/apps/WEB/web-1", "", Need::by_id_read, ""},
      {"GET", "/eureka/instances/web-1", "", Need::by_id_read, ""},
      {"GET", "/eureka/vips/web", "", Need::filtered, "web"},
      {"PUT", "/eureka/apps/WEB/web-1/status?value=OUT_OF_SERVICE", "", Need::by_id_write, ""},
      {"DELETE", "/eureka/apps/WEB/web-1/status", "", Need::by_id_write, ""},
      {"PUT", "/eureka/apps/WEB/web-1/metadata?build=7", "", Need::by_id_write, ""},
      {"DELETE", "/eureka/apps/WEB/eweb-1", "", Need::by_id_write, ""},
      // Nacos's API: the service named in the parameters decides.
      {"GET", "/nacos/v1/ns/instance/list?serviceName=web", "", Need::read, ""},
      {"GET", "/nacos/v1/ns/service/list", "", Need::filtered, "web"},
      {"GET", "/nacos/v1/ns/operator/metrics", "", Need::read, ""},  // operator read
      {"PUT", "/nacos/v1/ns/instance/beat?serviceName=web&ip=127.0.0.1&port=9008", "", Need::write, ""},
      {"DELETE", "/v1/services/web/instances/web-2", "", Need::write, ""},
      {"PUT", "/v1/agent/service/deregister/cweb-2", "", Need::by_id_write, ""},
  };
  const std::vector<std::pair<Who, std::string>> callers{{Who::none, ""},
                                                         {Who::unknown, "no-such-token-0123456789"},
                                                         {Who::revoked, revoked.second},
                                                         {Who::reader, reader.second},
                                                         {Who::other, other.second}};
  for (const auto& e : endpoints) {
    for (const auto& [who, secret] : callers) {
      const auto before = state();
      const auto answer = as(secret, e.method, e.target, e.body);
      const int want = expected(who, e.need);
      EXPECT_EQ(answer.status, want) << e.method << " " << e.target << " as " << name(who) << ": " << answer.body;
      if (answer.status == 401) {
        EXPECT_NE(answer.header("WWW-Authenticate"), "") << e.target;
        EXPECT_EQ(json::parse(answer.body, nullptr, false)["error"]["code"], "unauthenticated") << e.target;
      }
      if (answer.status == 403) {
        EXPECT_EQ(json::parse(answer.body, nullptr, false)["error"]["code"], "permission_denied") << e.target;
      }
      if (want >= 400 || e.method == "GET") {
        EXPECT_EQ(state(), before) << e.method << " " << e.target << " as " << name(who) << " changed the state";
      }
      if (e.need == Need::filtered && (who == Who::none || who == Who::other)) {
        EXPECT_EQ(answer.body.find(e.hidden), std::string::npos)
            << e.target << " as " << name(who) << " shows what it may not read: " << answer.body;
      }
      if (e.need == Need::filtered && who == Who::reader &&
          as(kRoot, e.method, e.target).body.find(e.hidden) != std::string::npos) {
        EXPECT_NE(answer.body.find(e.hidden), std::string::npos) << e.target << " hides too much: " << answer.body;
      }
      for (const auto& s : {reader.second, other.second, revoked.second, std::string(kRoot)}) {
        if (e.target.find("/v1/acl/token") == 0 && e.method == "PUT") continue;
        EXPECT_EQ(answer.body.find(s), std::string::npos) << "a secret in the answer to " << e.target;
      }
    }
    // Then the management token, in order: each write succeeds.
    const auto answer = as(kRoot, e.method, e.target, e.body);
    EXPECT_EQ(answer.status, 200) << e.method << " " << e.target << " as the management token: " << answer.body;
  }

  EXPECT_EQ(as(reader.second, "POST", "/eureka/apps/WEB", eureka_body).status, 403);
  EXPECT_EQ(as(other.second, "POST", "/eureka/apps/WEB", eureka_body).status, 403);

  // The token of another prefix writes there, and only there.
  EXPECT_EQ(
      as(other.second, "POST", "/v1/instances", instance_body("other-api", 9006, R"(,"id":"other-api-2")")).status,
      200);
  EXPECT_EQ(as(other.second, "PUT", "/v1/config/keys/other.z", "5").status, 200);
  const auto visible = json::parse(as(other.second, "GET", "/v1/config").body, nullptr, false);
  EXPECT_EQ(visible, json::parse(R"({"other": {"y": 2, "z": 5}})")) << "only the keys it may read";

  // The audit log names tokens by accessor, never by secret.
  const auto audit = read_file(dir.path() / "audit.log");
  EXPECT_NE(audit.find(R"("token":"anonymous")"), std::string::npos);
  EXPECT_NE(audit.find(R"("token":"unknown")"), std::string::npos);
  EXPECT_NE(audit.find(R"("token":")" + other.first + "\""), std::string::npos);
  const auto log = read_file(dir.path() / "svckitd.log");
  for (const auto& s : {reader.second, other.second, revoked.second, std::string(kRoot)}) {
    EXPECT_EQ(audit.find(s), std::string::npos) << "a secret in the audit log";
    EXPECT_EQ(log.find(s), std::string::npos) << "a secret in svckitd's log";
  }
}

TEST_F(SvckitdAcl, RevokingATokenEndsItsLongPollsAtOnce) {
  ASSERT_EQ(as(kRoot, "POST", "/v1/instances", instance_body("web", 9001, R"(,"id":"web-1")")).status, 200);
  const auto reader = token(R"({"service_prefix": {"": "read"}, "key_prefix": {"": "read"}})");
  const auto index = as(kRoot, "GET", "/v1/services/web/instances").header("X-Svckit-Index");
  const auto version = as(kRoot, "GET", "/v1/config").header("X-Svckit-Config-Version");
  const std::string secret = reader.second;
  auto list = std::async(std::launch::async, [&] {
    return as(secret, "GET", "/v1/services/web/instances?index=" + index + "&wait=60s", "", 90s);
  });
  auto config = std::async(std::launch::async,
                           [&] { return as(secret, "GET", "/v1/config?index=" + version + "&wait=60s", "", 90s); });
  auto consul = std::async(std::launch::async, [&] {
    return as(secret, "GET", "/v1/catalog/services?index=" + index + "&wait=60s", "", 90s);
  });
  ASSERT_TRUE(wait_until(
      [&] { return as(kRoot, "GET", "/metrics").body.find("svckit_long_polls_active 3") != std::string::npos; }, 10s));
  const auto revoked_at = std::chrono::steady_clock::now();
  ASSERT_EQ(as(kRoot, "DELETE", "/v1/acl/token/" + reader.first).status, 200);
  for (auto* poll : {&list, &config, &consul}) {
    ASSERT_EQ(poll->wait_for(10s), std::future_status::ready);
    const auto answer = poll->get();
    EXPECT_EQ(answer.status, 401) << answer.body;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - revoked_at, 10s);
  EXPECT_EQ(as(secret, "GET", "/v1/services/web/instances").status, 401);
}

TEST_F(SvckitdAcl, AWatchSeesAndWakesOnlyForWhatItsTokenMayRead) {
  ASSERT_EQ(as(kRoot, "POST", "/v1/instances", instance_body("web", 9001, R"(,"id":"web-1")")).status, 200);
  const auto web_reader = token(R"({"service_prefix": {"web": "read"}, "key_prefix": {"app": "read"}})");
  const auto first = json::parse(as(web_reader.second, "GET", "/v1/watch").body, nullptr, false);
  ASSERT_TRUE(first["reset"].get<bool>());
  const auto index = std::to_string(first["index"].get<std::uint64_t>());
  const auto version = as(kRoot, "GET", "/v1/config").header("X-Svckit-Config-Version");
  const std::string secret = web_reader.second;
  auto watch = std::async(std::launch::async,
                          [&] { return as(secret, "GET", "/v1/watch?index=" + index + "&wait=60s", "", 90s); });
  auto config = std::async(std::launch::async,
                           [&] { return as(secret, "GET", "/v1/config?index=" + version + "&wait=60s", "", 90s); });
  ASSERT_TRUE(wait_until(
      [&] { return as(kRoot, "GET", "/metrics").body.find("svckit_long_polls_active 2") != std::string::npos; }, 10s));
  // Changes it may not read: the polls keep waiting.
  ASSERT_EQ(as(kRoot, "POST", "/v1/instances", instance_body("hidden", 9002, R"(,"id":"hidden-1")")).status, 200);
  ASSERT_EQ(as(kRoot, "PUT", "/v1/config/keys/secret.password", R"("hunter2")").status, 200);
  EXPECT_EQ(watch.wait_for(300ms), std::future_status::timeout) << "woke for a service it may not read";
  EXPECT_EQ(config.wait_for(0ms), std::future_status::timeout) << "woke for a key it may not read";
  // Changes it may read wake them, and show only those.
  ASSERT_EQ(as(kRoot, "POST", "/v1/instances", instance_body("web", 9003, R"(,"id":"web-2")")).status, 200);
  ASSERT_EQ(as(kRoot, "PUT", "/v1/config/keys/app.mode", R"("blue")").status, 200);
  ASSERT_EQ(watch.wait_for(10s), std::future_status::ready);
  const auto woke = watch.get();
  EXPECT_EQ(woke.status, 200);
  EXPECT_NE(woke.body.find("web-2"), std::string::npos) << woke.body;
  EXPECT_EQ(woke.body.find("hidden"), std::string::npos) << woke.body;
  ASSERT_EQ(config.wait_for(10s), std::future_status::ready);
  const auto doc = config.get();
  EXPECT_EQ(doc.status, 200);
  EXPECT_EQ(json::parse(doc.body, nullptr, false), json::parse(R"({"app": {"mode": "blue"}})")) << doc.body;
}

TEST_F(SvckitdAcl, TokensSurviveARestartAndTheRevokedBootstrapTokenStaysRevoked) {
  const auto ops = token(R"({"service_prefix": {"": "write"}, "acl": "write"})");
  const auto boot = json::parse(as(kRoot, "GET", "/v1/acl/token/self").body, nullptr, false);
  ASSERT_EQ(as(ops.second, "DELETE", "/v1/acl/token/" + boot["AccessorID"].get<std::string>()).status, 200);
  EXPECT_EQ(as(kRoot, "GET", "/v1/acl/tokens").status, 401);
  daemon.reset();
  start();  // the same bootstrap secret is configured again
  EXPECT_EQ(as(kRoot, "GET", "/v1/acl/tokens").status, 401) << "the bootstrap happens once";
  EXPECT_EQ(as(ops.second, "GET", "/v1/acl/tokens").status, 200);
  const auto acl_file = read_file(dir.path() / "registry.json.acl.json");
  EXPECT_EQ(acl_file.find(ops.second), std::string::npos) << "only digests on disk";
  EXPECT_NE(acl_file.find(ops.first), std::string::npos);
}

TEST_F(SvckitdAcl, SvckitsOwnClientsSendTheirTokens) {
  const auto web = token(R"({"service_prefix": {"web": "write"}, "key_prefix": {"app": "read"}})");
  const auto token_file = dir.path() / "web.token";
  std::ofstream(token_file) << web.second << "\n";
  IoThread io;
  RealTimeSource time;
  FakeRandom random;
  RegistryPlugins::Builder builder;
  register_builtin_plugins(builder);
  const auto plugins = std::move(builder).build();
  const auto base = "://127.0.0.1:" + std::to_string(daemon->port);
  // The token as each API's clients send it: a bearer token, Consul's header, Nacos's accessToken
  // (as is, or from a login with the secret as password), Eureka's basic auth.
  const auto secret = "?token_file=" + token_file.string();
  const auto login = "?user=web&password_file=" + token_file.string();
  const std::vector<std::pair<std::string, std::string>> clients = {
      {"svckitd" + base + secret, "svckitd" + base},
      {"consul" + base + secret, "consul" + base},
      {"nacos" + base + secret, "nacos" + base},
      {"nacos" + base + login, "nacos" + base},
      {"eureka" + base + "/eureka" + login, "eureka" + base}};
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const auto& [with_url, without_url] = clients[i];
    const auto scheme = with_url.substr(0, with_url.find(':'));
    auto with = plugins.create(with_url, RegistryDeps{io.executor(), time, random});
    ASSERT_TRUE(with) << with.error().describe();
    auto without = plugins.create(without_url, RegistryDeps{io.executor(), time, random});
    ASSERT_TRUE(without) << without.error().describe();
    auto instance = test_instance("web", static_cast<int>(9100 + i));
    instance.id = scheme + "-" + std::to_string(i);
    const auto stored = io.run(
        [&]() -> Awaitable<Result<ServiceInstance>> { co_return co_await (*with)->register_instance(instance); });
    EXPECT_TRUE(stored) << scheme << ": " << stored.error().describe();
    const auto refused = io.run(
        [&]() -> Awaitable<Result<ServiceInstance>> { co_return co_await (*without)->register_instance(instance); });
    ASSERT_FALSE(refused) << scheme;
    EXPECT_TRUE(refused.error().code == ErrorCode::unauthenticated ||
                refused.error().code == ErrorCode::permission_denied)
        << scheme << ": " << refused.error().describe();
  }
  auto missing = plugins.create("svckitd" + base + "?token_file=" + (dir.path() / "nope").string(),
                                RegistryDeps{io.executor(), time, random});
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().field, "token_file");

  // The remote config source: the document as the token may read it; nothing without a token.
  ASSERT_EQ(as(kRoot, "PUT", "/v1/config", R"({"app": {"mode": "blue"}, "secret": {"password": "x"}})").status, 200);
  auto config_with =
      config::connect_config_backend("svckitd" + base + "?token_file=" + token_file.string(), io.executor());
  ASSERT_TRUE(config_with) << config_with.error().describe();
  const auto read =
      io.run([&]() -> Awaitable<Result<config::RemoteContent>> { co_return co_await (*config_with)->read(); });
  ASSERT_TRUE(read) << read.error().describe();
  EXPECT_EQ(read->tree, json::parse(R"({"app": {"mode": "blue"}})"));
  auto config_without = config::connect_config_backend("svckitd" + base, io.executor());
  ASSERT_TRUE(config_without);
  const auto refused_read =
      io.run([&]() -> Awaitable<Result<config::RemoteContent>> { co_return co_await (*config_without)->read(); });
  ASSERT_TRUE(refused_read) << "anonymous reads are filtered, not refused: " << refused_read.error().describe();
  EXPECT_EQ(refused_read->tree, json::object());

  // The CLI: --token-file, and refused without.
  const auto cli_url = "svckitd" + base;
  const auto listed =
      run_cli(dir.path(), {"--registry", cli_url, "--token-file", token_file.string(), "instances", "web"});
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_NE(listed.output.find("svckitd-0"), std::string::npos) << listed.output;
  EXPECT_NE(listed.output.find("eureka-4"), std::string::npos)
      << "registered through the Eureka API: " << listed.output;
  const auto refused = run_cli(dir.path(), {"--registry", cli_url, "instances", "web"});
  EXPECT_EQ(refused.exit_code, 5) << refused.output;
  EXPECT_NE(refused.output.find("token"), std::string::npos) << refused.output;
  EXPECT_EQ(refused.output.find(web.second), std::string::npos);

  // Token management from the CLI: create, list, revoke — and refused without a token.
  const auto root_file = dir.path() / "root.token";
  std::ofstream(root_file) << kRoot << "\n";
  const auto made = run_cli(
      dir.path(), {"--registry", cli_url, "--token-file", root_file.string(), "token", "create", "--description",
                   "ci deploys", "--rules", R"({"service_prefix": {"deploy-": "write"}})", "--json"});
  ASSERT_EQ(made.exit_code, 0) << made.output;
  const auto created = json::parse(made.output.substr(0, made.output.find('\n')), nullptr, false);
  ASSERT_TRUE(created.contains("SecretID")) << made.output;
  const auto accessor = created["AccessorID"].get<std::string>();
  const auto listed_tokens =
      run_cli(dir.path(), {"--registry", cli_url, "--token-file", root_file.string(), "token", "list"});
  EXPECT_EQ(listed_tokens.exit_code, 0) << listed_tokens.output;
  EXPECT_NE(listed_tokens.output.find("ci deploys"), std::string::npos) << listed_tokens.output;
  EXPECT_EQ(listed_tokens.output.find(created["SecretID"].get<std::string>()), std::string::npos) << "never a secret";
  const auto revoked =
      run_cli(dir.path(), {"--registry", cli_url, "--token-file", root_file.string(), "token", "revoke", accessor});
  EXPECT_EQ(revoked.exit_code, 0) << revoked.output;
  EXPECT_EQ(as(created["SecretID"].get<std::string>(), "GET", "/v1/acl/token/self").status, 401);
  const auto anonymous = run_cli(dir.path(), {"--registry", cli_url, "token", "list"});
  EXPECT_EQ(anonymous.exit_code, 5) << anonymous.output;
}

// Nacos clients log in with a user name and password: the password is an ACL token's secret, and
// the accessToken the login answers is what they send from then on.
TEST_F(SvckitdAcl, NacosClientsLogInWithATokenSecretAsTheirPassword) {
  const auto login = as("", "POST", std::string("/nacos/v1/auth/login?username=ops&password=") + kRoot);
  ASSERT_EQ(login.status, 200) << login.body;
  const auto token = json::parse(login.body, nullptr, false).value("accessToken", "");
  EXPECT_EQ(token, kRoot);
  const std::string form_body = std::string("username=ops&password=") + kRoot;
  const auto form_login = raw_http(daemon->port,
                                   "POST /nacos/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                                   "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
                                       std::to_string(form_body.size()) + "\r\n\r\n" + form_body,
                                   10s, false);
  EXPECT_EQ(form_login.status, 200) << "as the Java client posts it";
  EXPECT_EQ(as("", "POST", "/nacos/v1/auth/login?username=ops&password=not-a-token-0123456789").status, 401);
  EXPECT_EQ(as("", "POST", "/nacos/v1/auth/login?username=ops").status, 401);
  EXPECT_EQ(as("", "GET", "/nacos/v1/ns/instance/list?serviceName=web&accessToken=" + token).status, 200);
  EXPECT_EQ(as("", "GET", "/nacos/v1/ns/instance/list?serviceName=web").status, 401);
  const auto log = read_file(dir.path() / "svckitd.log");
  EXPECT_EQ(log.find(kRoot), std::string::npos) << "a secret in svckitd's log";
}

TEST_F(SvckitdAcl, TheNpmConsulClientWorksWithATokenAndIsRefusedWithout) {
  ASSERT_TRUE(std::filesystem::exists(std::filesystem::path(SVCKIT_NPM_DIR) / "node_modules" / "consul"));
  ASSERT_EQ(as(kRoot, "POST", "/v1/instances", instance_body("npm-web", 9200, R"(,"id":"npm-web-1")")).status, 200);
  const auto reader = token(R"({"service_prefix": {"npm-": "read"}})");
  const auto node = [&](const std::string& log, const std::vector<std::string>& extra) {
    const auto out = dir.path() / log;
    std::vector<std::string> argv{"node", std::string(SVCKIT_NPM_DIR) + "/consul_client.js"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    auto child = ChildProcess::spawn(argv, out);
    EXPECT_TRUE(child) << child.error().message;
    const int status = child ? child->wait_exit(30s) : -1;
    return std::pair{WIFEXITED(status) ? WEXITSTATUS(status) : -1, read_file(out)};
  };
  const auto port = std::to_string(daemon->port);
  const auto [ok_code, ok_text] = node("with-token.log", {"--token=" + reader.second, port, "discover", "npm-web"});
  EXPECT_EQ(ok_code, 0) << ok_text;
  EXPECT_NE(ok_text.find("npm-web-1"), std::string::npos) << ok_text;
  const auto [no_code, no_text] = node("without.log", {port, "discover", "npm-web"});
  EXPECT_NE(no_code, 0) << no_text;
  EXPECT_NE(no_text.find("unauthorized"), std::string::npos) << no_text;
}

TEST_F(SvckitdAcl, TheSecurityPagesProgramRegistersWithItsTokenAndIsRefusedWithout) {
  const auto billing = token(R"({"service": {"billing": "write"}})");
  const auto token_file = dir.path() / "billing.token";
  std::ofstream(token_file) << billing.second << "\n";
  const auto out = dir.path() / "acl_example.log";
  auto child =
      ChildProcess::spawn({ACL_EXAMPLE_BIN, "127.0.0.1:" + std::to_string(daemon->port), token_file.string()}, out);
  ASSERT_TRUE(child);
  const int status = child->wait_exit(30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(out);
  EXPECT_NE(read_file(out).find("billing has 1 instance"), std::string::npos) << read_file(out);
}

TEST(SvckitdAclStart, TheWriteRateIsCountedPerTokenSoTokensBehindOneAddressDoNotShareIt) {
  TempDir dir;
  auto daemon = SvckitdProcess::start(
      dir.path(), {"--set", "acl.enabled=true", "--set", std::string("acl.bootstrap_token=") + kRoot, "--set",
                   "limits.write_rate_per_peer=1", "--set", "limits.write_burst_per_peer=2"});
  ASSERT_NE(daemon, nullptr);
  const auto write = [&](const std::string& secret, const std::string& target, const std::string& body) {
    return http_call(daemon->port, "PUT", target, body, {"X-Svckit-Token: " + secret}).status;
  };
  // The root token's first write makes a second token (from the same address, 127.0.0.1).
  const auto made = http_call(daemon->port, "PUT", "/v1/acl/token", R"({"Rules": {"service_prefix": {"": "write"}}})",
                              {"X-Svckit-Token: " + std::string(kRoot)});
  ASSERT_EQ(made.status, 200) << made.body;
  const auto other = nlohmann::json::parse(made.body)["SecretID"].get<std::string>();
  int limited = 0;
  for (int i = 0; i < 4; ++i) limited += write(kRoot, "/v1/config/keys/k" + std::to_string(i), "1") == 429;
  EXPECT_GE(limited, 2) << "the root token is over its rate";
  EXPECT_EQ(write(other, "/v1/services/web/instances/x/heartbeat", ""), 404) << "the other token is not throttled";
  EXPECT_NE(write("", "/v1/config/keys/anon", "1"), 429) << "requests without a token have the address's bucket";
}

TEST(SvckitdAclStart, ACLsWithoutAFirstTokenRefuseToStartNamingTheSetting) {
  TempDir dir;
  auto child = ChildProcess::spawn({SVCKITD_BIN, "--port", "0", "--set", "acl.enabled=true"}, dir.path() / "out.log");
  ASSERT_TRUE(child.ok());
  const int status = child->wait_exit(10s);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(read_file(dir.path() / "out.log").find("acl.bootstrap_token_file"), std::string::npos);
  auto bad_rules = ChildProcess::spawn({SVCKITD_BIN, "--port", "0", "--set", "acl.anonymous_rules={\"service\": 1}"},
                                       dir.path() / "out2.log");
  ASSERT_TRUE(bad_rules.ok());
  EXPECT_EQ(WEXITSTATUS(bad_rules->wait_exit(10s)), 2);
  EXPECT_NE(read_file(dir.path() / "out2.log").find("acl.anonymous_rules.service"), std::string::npos);
}

TEST(SvckitdAclStart, AnonymousRulesOpenWhatTheySayAndNothingElse) {
  TempDir dir;
  auto daemon = SvckitdProcess::start(
      dir.path(), {"--set", "acl.enabled=true", "--set", std::string("acl.bootstrap_token=") + kRoot, "--set",
                   R"(acl.anonymous_rules={"service_prefix": {"": "read"}})"});
  ASSERT_NE(daemon, nullptr);
  EXPECT_EQ(daemon->call("GET", "/v1/services/web/instances").status, 200);
  EXPECT_EQ(daemon->call("POST", "/v1/instances", instance_body("web", 9001)).status, 401);
  EXPECT_EQ(daemon->call("GET", "/v1/config").body, "{}");
  EXPECT_EQ(daemon->call("GET", "/metrics").status, 401);
}

}  // namespace
}  // namespace svckit::testing
