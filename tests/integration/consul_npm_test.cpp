// A real third-party Consul client, the npm package `consul` (installed by scripts/setup into
// tests/npm), registers a service with an HTTP check against svckitd; svckitd runs the check; the
// npm client and svckit's own consul:// backend both discover it, and each sees what the other
// registered.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/fault_server.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckitd_process.hpp"
#include "test_instance.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class ConsulNpm : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(std::filesystem::path(SVCKIT_NPM_DIR) / "node_modules" / "consul"))
        << "the npm consul package is missing: run scripts/setup";
    daemon = SvckitdProcess::start(dir.path());
    ASSERT_NE(daemon, nullptr);
    RegistryPlugins::Builder builder;
    register_builtin_plugins(builder);
    plugins = std::make_unique<RegistryPlugins>(std::move(builder).build());
    auto made = plugins->create("consul://127.0.0.1:" + std::to_string(daemon->port),
                                RegistryDeps{io.executor(), time, random});
    ASSERT_TRUE(made) << made.error().message;
    consul = std::move(*made);
  }

  /// Runs the npm client (tests/npm/consul_client.js) and returns the JSON line it printed.
  json node(const std::vector<std::string>& args) {
    const auto out = dir.path() / ("node-" + std::to_string(++runs) + ".log");
    std::vector<std::string> argv{"node", std::string(SVCKIT_NPM_DIR) + "/consul_client.js",
                                  std::to_string(daemon->port)};
    argv.insert(argv.end(), args.begin(), args.end());
    auto child = ChildProcess::spawn(argv, out);
    EXPECT_TRUE(child) << child.error().message;
    if (!child) return {};
    const int status = child->wait_exit(30s);
    const auto text = read_file(out);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
    return json::parse(text.substr(0, text.find('\n')), nullptr, false);
  }

  TempDir dir;
  IoThread io;
  RealTimeSource time;
  FakeRandom random;
  std::unique_ptr<SvckitdProcess> daemon;
  std::unique_ptr<RegistryPlugins> plugins;
  std::unique_ptr<Registry> consul;
  int runs = 0;
};

TEST_F(ConsulNpm, TheNpmClientAndSvckitsConsulBackendSeeEachOthersServices) {
  FaultServer web(io.io(), "web");
  const auto registered = node({"register", "npm-web", "npm-web-1", std::to_string(web.port())});
  ASSERT_TRUE(registered.contains("passing")) << registered.dump();
  EXPECT_EQ(registered["passing"][0]["Service"]["ID"], "npm-web-1") << "passing once svckitd's check passed";
  EXPECT_GE(web.hits(), 1);

  // svckit's consul:// backend discovers the npm client's service, checks and all.
  const std::string npm_web = "npm-web";
  const std::string npm_web_id = "npm-web-1";
  auto seen = io.run([&]() -> Awaitable<Result<std::vector<ServiceInstance>>> {
    InstanceFilter all;
    co_return co_await consul->list(npm_web, all);
  });
  ASSERT_TRUE(seen) << seen.error().message;
  ASSERT_EQ(seen->size(), 1u);
  const auto& in = seen->front();
  EXPECT_EQ(in.id, "npm-web-1");
  EXPECT_EQ(in.port, web.port());
  EXPECT_EQ(in.status, InstanceStatus::healthy);
  EXPECT_EQ(in.tags, (std::vector<std::string>{"node", "npm"}));
  EXPECT_EQ(in.metadata.at("runtime"), "node");

  // And the npm client discovers what svckit registered through consul://.
  auto api = test_instance("cpp-api", 9555);
  api.id = "cpp-api-1";
  api.tags = {"cpp"};
  auto added =
      io.run([&]() -> Awaitable<Result<ServiceInstance>> { co_return co_await consul->register_instance(api); });
  ASSERT_TRUE(added) << added.error().message;
  const auto found = node({"discover", "cpp-api"});
  ASSERT_EQ(found["passing"].size(), 1u) << found.dump();
  EXPECT_EQ(found["passing"][0]["Service"]["ID"], "cpp-api-1");
  EXPECT_EQ(found["passing"][0]["Service"]["Port"], 9555);
  EXPECT_EQ(found["catalog"][0]["ServiceAddress"], "127.0.0.1");
  EXPECT_TRUE(found["services"].contains("npm-web") && found["services"].contains("cpp-api")) << found.dump();

  // The npm client deregisters; svckit sees it gone.
  node({"deregister", "npm-web-1"});
  auto gone =
      io.run([&]() -> Awaitable<Result<ServiceInstance>> { co_return co_await consul->get(npm_web, npm_web_id); });
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().code, ErrorCode::not_found);
}

}  // namespace
}  // namespace svckit::testing
