// A real third-party Nacos client, the npm package `nacos` (installed by scripts/setup into
// tests/npm), registers an ephemeral instance against svckitd's Nacos-compatible API, discovers
// and subscribes to an instance svckit registered through the native API, sees a second one
// arrive, and deregisters; svckit's own client finds the npm client's instance.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>

#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

/// Line `n` (0-based) of the npm client's output, once it printed it.
json line(const std::filesystem::path& out, std::size_t n) {
  std::size_t start = 0;
  const auto text = read_file(out);
  for (std::size_t i = 0; i < n; ++i) start = text.find('\n', start) + 1;
  return json::parse(text.substr(start, text.find('\n', start) - start), nullptr, false);
}

std::size_t lines(const std::filesystem::path& out) {
  const auto text = read_file(out);
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

TEST(NacosNpm, TheNpmClientAndSvckitSeeEachOthersInstances) {
  ASSERT_TRUE(std::filesystem::exists(std::filesystem::path(SVCKIT_NPM_DIR) / "node_modules" / "nacos"))
      << "the npm nacos package is missing: run scripts/setup";
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path());
  ASSERT_NE(daemon, nullptr);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("svckit-web", 9400, R"(,"id":"sw-1")")).status, 200);

  const auto out = dir.path() / "node.log";
  const auto more = dir.path() / "more";
  const auto stop = dir.path() / "stop";
  auto child =
      ChildProcess::spawn({"node", std::string(SVCKIT_NPM_DIR) + "/nacos_client.js", std::to_string(daemon->port),
                           "npm-pay", "9600", "svckit-web", more.string(), stop.string()},
                          out);
  ASSERT_TRUE(child) << child.error().message;
  ASSERT_TRUE(wait_until([&] { return lines(out) >= 1; }, 30s)) << read_file(out);
  const auto first = line(out, 0);
  ASSERT_EQ(first["found"].size(), 1u) << read_file(out);
  EXPECT_EQ(first["found"][0]["port"], 9400);
  EXPECT_EQ(first["found"][0]["healthy"], true);
  EXPECT_EQ(first["status"], "UP");

  // svckit's client finds the npm client's instance: ephemeral, so a TTL instance.
  IoThread io;
  RealTimeSource time;
  FakeRandom random;
  RegistryPlugins::Builder builder;
  register_builtin_plugins(builder);
  const auto plugins = std::move(builder).build();
  auto registry =
      plugins.create("svckitd://127.0.0.1:" + std::to_string(daemon->port), RegistryDeps{io.executor(), time, random});
  ASSERT_TRUE(registry) << registry.error().message;
  const auto list = io.run([&]() -> Awaitable<Result<std::vector<ServiceInstance>>> {
    co_return co_await (*registry)->list("npm-pay", InstanceFilter{});
  });
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().port, 9600);
  EXPECT_EQ(list->front().weight, 200);
  EXPECT_EQ(list->front().status, InstanceStatus::healthy);
  EXPECT_EQ(list->front().ttl, 15s) << "Nacos's heartbeat timeout";
  EXPECT_EQ(list->front().metadata.at("runtime"), "node");

  // A second instance, registered natively, reaches the npm client's subscription.
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("svckit-web", 9401, R"(,"id":"sw-2")")).status, 200);
  std::ofstream(more) << "more\n";
  ASSERT_TRUE(wait_until([&] { return lines(out) >= 2; }, 30s)) << read_file(out);
  EXPECT_EQ(line(out, 1)["changed"].size(), 2u);

  std::ofstream(stop) << "stop\n";
  const int status = child->wait_exit(30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(out);
  EXPECT_EQ(line(out, 2).value("stopped", false), true);
  EXPECT_EQ(daemon->call("GET", "/v1/services/npm-pay/instances/127.0.0.1:9600").status, 404);
}

// The config half: the npm client publishes and reads a config, and its subscription (Nacos's
// long-polling listener) is told of a new content published through svckitd and of a rollback
// made with svckitd's own config API.
TEST(NacosNpm, TheNpmConfigClientPublishesReadsAndHearsChangesAndRollbacks) {
  ASSERT_TRUE(std::filesystem::exists(std::filesystem::path(SVCKIT_NPM_DIR) / "node_modules" / "nacos"));
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path());
  ASSERT_NE(daemon, nullptr);
  const auto out = dir.path() / "node.log";
  auto child = ChildProcess::spawn({"node", std::string(SVCKIT_NPM_DIR) + "/nacos_config_client.js",
                                    std::to_string(daemon->port), "shop.properties"},
                                   out);
  ASSERT_TRUE(child) << child.error().message;
  ASSERT_TRUE(wait_until([&] { return lines(out) >= 1; }, 30s)) << read_file(out);
  EXPECT_EQ(line(out, 0).value("got", ""), "v=1") << read_file(out);
  // svckitd's own config API sees the config (versioned like any change).
  const auto document = daemon->json("GET", "/v1/config");
  EXPECT_EQ(document["nacos"]["public"]["DEFAULT_GROUP"].value("shop.properties", ""), "v=1") << document.dump();
  const auto first_version = std::stoull(daemon->call("GET", "/v1/config").header("X-Svckit-Config-Version"));

  // A new content, published by another Nacos client (here: raw HTTP), reaches the subscription.
  const auto published =
      http_call(daemon->port, "POST", "/nacos/v1/cs/configs?dataId=shop.properties&group=DEFAULT_GROUP&content=v%3D2");
  ASSERT_EQ(published.status, 200) << published.body;
  ASSERT_TRUE(wait_until([&] { return lines(out) >= 2; }, 30s)) << read_file(out);
  EXPECT_EQ(line(out, 1).value("changed", ""), "v=2");
  // A rollback with svckitd's config API: the Nacos client hears the old content again.
  ASSERT_EQ(daemon->call("POST", "/v1/config/rollback/" + std::to_string(first_version)).status, 200);
  const int status = child->wait_exit(30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(out);
  EXPECT_EQ(line(out, 2).value("changed", ""), "v=1") << read_file(out);
}

}  // namespace
}  // namespace svckit::testing
