// file:// : a static instance list with hot reload through inotify. Edits (in place, or a new file
// renamed over the old one) become exact events; a broken edit or a deleted file keeps the last
// good content; writes are refused.
#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/process.hpp"
#include "test_instance.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kFirst = R"(services:
  orders:
    - {host: 10.0.0.1, port: 8080, zone: eu-1, tags: [v2], metadata: {version: 2}}
    - {host: 10.0.0.2, port: 8080}
  users:
    - host: 10.0.0.3
      port: 9000
      weight: 50
)";

class FileRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegistryPlugins::Builder builder;
    register_builtin_plugins(builder);
    plugins = std::make_unique<RegistryPlugins>(std::move(builder).build());
    file = dir.path() / "instances.yaml";
  }
  Result<std::unique_ptr<Registry>> open(const std::string& url) {
    return plugins->create(url, RegistryDeps{io.executor(), time, random});
  }
  void write(const std::string& text, bool by_rename) {
    const auto target = by_rename ? dir.path() / "instances.yaml.tmp" : file;
    std::ofstream(target) << text;
    if (by_rename) std::filesystem::rename(target, file);
  }
  std::vector<ServiceInstance> list(Registry& r, const std::string& service) {
    auto out = io.run([&]() -> Awaitable<Result<std::vector<ServiceInstance>>> {
      InstanceFilter all;
      co_return co_await r.list(service, all);
    });
    EXPECT_TRUE(out) << out.error().message;
    return out ? *out : std::vector<ServiceInstance>{};
  }
  Result<WatchResult> watch(Registry& r, std::uint64_t after, std::chrono::milliseconds wait) {
    return io.run([&]() -> Awaitable<Result<WatchResult>> {
      WatchRequest request("", after, wait);
      co_return co_await r.watch(request);
    });
  }
  /// Events after `after` until `count` arrived (each watch waits for the file to be reloaded).
  std::vector<RegistryEvent> events(Registry& r, std::uint64_t after, std::size_t count) {
    std::vector<RegistryEvent> out;
    for (int i = 0; i < 50 && out.size() < count; ++i) {
      auto w = watch(r, after, 5s);
      EXPECT_TRUE(w) << w.error().message;
      if (!w) break;
      for (auto& e : w->events) out.push_back(std::move(e));
      after = w->index;
    }
    return out;
  }

  TempDir dir;
  IoThread io;
  RealTimeSource time;
  FakeRandom random;
  std::unique_ptr<RegistryPlugins> plugins;
  std::filesystem::path file;
};

TEST_F(FileRegistryTest, ServesTheFileAndRefusesWrites) {
  write(kFirst, false);
  auto made = open("file://" + file.string());
  ASSERT_TRUE(made) << made.error().describe();
  auto& r = **made;
  const auto orders = list(r, "orders");
  ASSERT_EQ(orders.size(), 2u);
  EXPECT_EQ(orders[0].id, "10.0.0.1:8080");
  EXPECT_EQ(orders[0].zone, "eu-1");
  EXPECT_EQ(orders[0].metadata.at("version"), "2") << "YAML's number becomes metadata text";
  EXPECT_EQ(list(r, "users")[0].weight, 50);
  auto refused = io.run([&]() -> Awaitable<Result<ServiceInstance>> {
    co_return co_await r.register_instance(test_instance("orders", 9999));
  });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "registry");
  EXPECT_EQ(list(r, "orders").size(), 2u);
}

TEST_F(FileRegistryTest, EditsBecomeExactEventsAndABrokenOrDeletedFileKeepsTheLastGoodList) {
  write(kFirst, false);
  auto made = open("file://" + file.string());
  ASSERT_TRUE(made) << made.error().describe();
  auto& r = **made;
  auto start = watch(r, 0, 0ms);
  ASSERT_TRUE(start);
  ASSERT_EQ(start->snapshot.size(), 3u);

  // A new file renamed over the old one (what editors and config management do).
  write(R"(services:
  orders:
    - {host: 10.0.0.1, port: 8080, zone: eu-1, tags: [v2], metadata: {version: 2}, status: maintenance}
    - {host: 10.0.0.4, port: 8080}
  users:
    - {host: 10.0.0.3, port: 9000, weight: 80}
)",
        true);
  const auto changes = events(r, start->index, 4);
  std::multiset<std::string> seen;
  std::set<std::uint64_t> indices;
  for (const auto& e : changes) {
    seen.insert(std::string(to_string(e.type)) + " " + e.instance.id);
    indices.insert(e.index);
  }
  EXPECT_EQ(seen, (std::multiset<std::string>{"status_changed 10.0.0.1:8080", "registered 10.0.0.4:8080",
                                              "deregistered 10.0.0.2:8080", "updated 10.0.0.3:9000"}));
  EXPECT_EQ(indices.size(), changes.size()) << "each change has its own index";
  const auto index = changes.empty() ? start->index : changes.back().index;

  // In place, broken (port out of range): nothing changes.
  write("services:\n  orders:\n    - {host: 10.0.0.9, port: 70000}\n", false);
  auto idle = watch(r, index, 500ms);
  ASSERT_TRUE(idle);
  EXPECT_TRUE(idle->events.empty());
  EXPECT_EQ(list(r, "orders").size(), 2u);

  // Deleted: nothing changes either; written again, it applies.
  std::filesystem::remove(file);
  write("services:\n  orders:\n    - {host: 10.0.0.1, port: 8080}\n", false);
  const auto last = events(r, index, 3);
  EXPECT_EQ(list(r, "orders").size(), 1u);
  EXPECT_TRUE(list(r, "users").empty());
  EXPECT_EQ(last.size(), 3u) << "the first orders instance updated, the second and users removed";
}

TEST_F(FileRegistryTest, ABadFileOrUrlIsAClearErrorAtStart) {
  auto missing = open("file://" + file.string());
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().field, "file");
  write("services:\n  orders:\n    - {host: 10.0.0.1, port: 8080}\n    - {host: 10.0.0.1, port: 0}\n", false);
  auto bad = open("file://" + file.string());
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "services.orders[1].port");
  write("services:\n  orders:\n    - {host: 10.0.0.1, port: 8080, colour: red}\n", false);
  EXPECT_EQ(open("file://" + file.string()).error().field, "services.orders[0].colour");
  write("instances: []\n", false);
  EXPECT_EQ(open("file://" + file.string()).error().field, "instances");
  EXPECT_EQ(open("file://" + file.string() + "?reload=1s").error().field, "reload");
  EXPECT_EQ(open("file://relative/instances.yaml").error().field, "registry");
  EXPECT_EQ(open("file:///etc/hosts").error().field, "registry") << "not .yaml/.yml/.json";
}

}  // namespace
}  // namespace svckit::testing
