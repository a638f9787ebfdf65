// A real third-party Eureka client, the npm package `eureka-js-client` (installed by scripts/setup
// into tests/npm), registers against svckitd's Eureka-compatible API, heartbeats, fetches the
// registry and deregisters; svckit's own DiscoveryClient finds the instance it registered, and the
// npm client finds one svckit registered through the native API.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>

#include "svckit/discovery/discovery_client.hpp"
#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

TEST(EurekaNpm, TheNpmClientAndSvckitSeeEachOthersInstances) {
  ASSERT_TRUE(std::filesystem::exists(std::filesystem::path(SVCKIT_NPM_DIR) / "node_modules" / "eureka-js-client"))
      << "the npm eureka-js-client package is missing: run scripts/setup";
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path());
  ASSERT_NE(daemon, nullptr);
  ASSERT_EQ(
      daemon->call("POST", "/v1/instances", instance_body("svckit-web", 9400, R"(,"id":"sw-1","ttl":"30s")")).status,
      200);

  const auto out = dir.path() / "node.log";
  const auto stop_file = dir.path() / "stop";
  auto child =
      ChildProcess::spawn({"node", std::string(SVCKIT_NPM_DIR) + "/eureka_client.js", std::to_string(daemon->port),
                           "npm-web", "npm-web-1", "9500", "svckit-web", stop_file.string()},
                          out);
  ASSERT_TRUE(child) << child.error().message;
  ASSERT_TRUE(wait_until([&] { return read_file(out).find('\n') != std::string::npos; }, 30s)) << read_file(out);
  const auto text = read_file(out);
  const auto seen = json::parse(text.substr(0, text.find('\n')), nullptr, false);
  ASSERT_TRUE(seen.is_object()) << text;
  // The npm client found svckit's instance (by app and by VIP) and its own.
  ASSERT_EQ(seen["found"].size(), 1u) << text;
  EXPECT_EQ(seen["found"][0]["instanceId"], "sw-1");
  EXPECT_EQ(seen["found"][0]["port"], 9400);
  EXPECT_EQ(seen["found"][0]["status"], "UP");
  EXPECT_EQ(seen["by_vip"].size(), 1u);
  EXPECT_EQ(seen["self"].size(), 1u);
  EXPECT_GE(seen.value("heartbeats", 0), 2);

  // svckit's DiscoveryClient finds the npm client's instance through svckitd://.
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
    co_return co_await (*registry)->list("npm-web", InstanceFilter{});
  });
  ASSERT_TRUE(list) << list.error().message;
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ(list->front().id, "npm-web-1");
  EXPECT_EQ(list->front().port, 9500);
  EXPECT_EQ(list->front().status, InstanceStatus::healthy);
  EXPECT_EQ(list->front().ttl, 3s) << "the lease the client asked for";
  EXPECT_EQ(list->front().metadata.at("runtime"), "node");
  EXPECT_EQ(list->front().health_check_path, "/health");

  // Its heartbeats keep it alive past its 3 s lease; stopping deregisters it.
  const auto alive_until = std::chrono::steady_clock::now() + 4s;
  ASSERT_TRUE(wait_until([&] { return std::chrono::steady_clock::now() >= alive_until; }, 10s));
  EXPECT_EQ(daemon->json("GET", "/v1/services/npm-web/instances/npm-web-1").value("status", ""), "healthy");
  std::ofstream(stop_file) << "stop\n";
  const int status = child->wait_exit(30s);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << read_file(out);
  EXPECT_NE(read_file(out).find(R"("stopped":true)"), std::string::npos);
  EXPECT_EQ(daemon->call("GET", "/v1/services/npm-web/instances/npm-web-1").status, 404);
}

}  // namespace
}  // namespace svckit::testing
