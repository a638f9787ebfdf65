// The registry conformance suite's applicable subset for the read-only backends — file:// and
// dns+srv:// — whose source of truth lives outside svckit (a file; DNS records served by a real
// dnsmasq). The same tests run unchanged on both: reads match the source, writes are refused and
// change nothing, filters narrow the list, every change of the source arrives as exact events in
// order exactly once from any index, a waiting watch wakes on a change, and can be cancelled.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <csignal>
#include <fstream>
#include <future>

#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/servers.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

/// What the source says about one instance of "orders": an address, a port, a weight.
struct Published {
  int last_octet;
  int port;
  int weight;
  std::string id() const { return "127.0.0.1" + std::to_string(last_octet) + ":" + std::to_string(port); }
  std::string host() const { return "127.0.0.1" + std::to_string(last_octet); }
};

/// The outside source of truth of a read-only backend.
class Source {
 public:
  virtual ~Source() = default;
  virtual std::string url() const = 0;
  /// Makes the source say exactly `instances` (of service "orders").
  virtual void publish(const std::vector<Published>& instances) = 0;
};

class FileSource final : public Source {
 public:
  explicit FileSource(const std::filesystem::path& dir) : file_(dir / "instances.yaml") {}
  std::string url() const override { return "file://" + file_.string(); }
  void publish(const std::vector<Published>& instances) override {
    std::string yaml = "services:\n  orders:\n";
    for (const auto& p : instances) {
      yaml += "    - {host: " + p.host() + ", port: " + std::to_string(p.port) +
              ", weight: " + std::to_string(p.weight) + "}\n";
    }
    if (instances.empty()) yaml = "services: {}\n";
    const auto temporary = file_.string() + ".tmp";
    std::ofstream(temporary) << yaml;
    std::filesystem::rename(temporary, file_);  // whole, as configuration management writes it
  }

 private:
  std::filesystem::path file_;
};

class DnsSource final : public Source {
 public:
  explicit DnsSource(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::string url() const override {
    return "dns+srv://127.0.0.1:" + std::to_string(port_) +
           "/_http._tcp.{service}.svc.test?min_ttl=100ms&max_ttl=1s&timeout=300ms";
  }
  /// dnsmasq reads its records at start: a new content is a restart on the same port (for the
  /// moment it is down, resolutions fail and the registry keeps what it knows).
  void publish(const std::vector<Published>& instances) override {
    std::string conf = "local=/svc.test/\nlocal-ttl=1\n";
    for (const auto& p : instances) {
      const auto target = "orders-" + std::to_string(p.last_octet) + ".svc.test";  // stable per instance
      conf += "srv-host=_http._tcp.orders.svc.test," + target + "," + std::to_string(p.port) + ",0," +
              std::to_string(p.weight) + "\n";
      conf += "host-record=" + target + "," + p.host() + "\n";
    }
    if (server_.pid() > 0) server_.stop(SIGTERM);
    auto started = start_dnsmasq(dir_, conf, port_);
    ASSERT_TRUE(started) << started.error().describe();
    server_ = std::move(*started);
  }

 private:
  std::filesystem::path dir_;
  int port_ = 0;
  ChildProcess server_;
};

struct ReadOnlyCase {
  std::string name;
  std::function<std::unique_ptr<Source>(const std::filesystem::path&)> make;
  // NOLINTNEXTLINE(readability-identifier-naming): the name GoogleTest looks up
  friend void PrintTo(const ReadOnlyCase& c, std::ostream* os) { *os << c.name; }
};

const std::vector<Published> kStart{{1, 8080, 10}, {2, 8081, 20}, {3, 8082, 30}};

class ReadOnlyConformance : public ::testing::TestWithParam<ReadOnlyCase> {
 protected:
  void SetUp() override {
    RegistryPlugins::Builder builder;
    register_builtin_plugins(builder);
    plugins = std::make_unique<RegistryPlugins>(std::move(builder).build());
    source = GetParam().make(dir.path());
    source->publish(kStart);
    if (HasFatalFailure()) return;
    auto made = plugins->create(source->url(), RegistryDeps{io.executor(), time, random});
    ASSERT_TRUE(made) << made.error().describe();
    registry = std::move(*made);
  }
  void TearDown() override {
    registry.reset();
    io.stop();
  }

  std::vector<ServiceInstance> list(InstanceFilter filter = {}) {
    auto r = io.run([&]() -> Awaitable<Result<std::vector<ServiceInstance>>> {
      co_return co_await registry->list("orders", filter);
    });
    EXPECT_TRUE(r) << r.error().describe();
    return r ? *r : std::vector<ServiceInstance>{};
  }
  Result<WatchResult> watch(std::uint64_t after, std::chrono::milliseconds wait) {
    return io.run([&]() -> Awaitable<Result<WatchResult>> {
      WatchRequest request("orders", after, wait);
      co_return co_await registry->watch(request);
    });
  }
  /// Events after `after` until `count` arrived.
  std::vector<RegistryEvent> events_after(std::uint64_t after, std::size_t count) {
    std::vector<RegistryEvent> out;
    for (int round = 0; round < 30 && out.size() < count; ++round) {
      auto r = watch(after, 3s);
      EXPECT_TRUE(r) << r.error().describe();
      if (!r) break;
      EXPECT_FALSE(r->reset);
      for (auto& e : r->events) out.push_back(std::move(e));
      after = r->index;
    }
    return out;
  }

  TempDir dir;
  IoThread io;
  RealTimeSource time;
  FakeRandom random;
  std::unique_ptr<RegistryPlugins> plugins;
  std::unique_ptr<Source> source;
  std::unique_ptr<Registry> registry;
};

std::string describe(const RegistryEvent& e) { return std::string(to_string(e.type)) + " " + e.instance.id; }

TEST_P(ReadOnlyConformance, ReadsMatchTheSource) {
  const auto orders = list();
  ASSERT_EQ(orders.size(), 3u);
  for (std::size_t i = 0; i < orders.size(); ++i) {
    EXPECT_EQ(orders[i].id, kStart[i].id()) << "ordered by id";
    EXPECT_EQ(orders[i].host, kStart[i].host());
    EXPECT_EQ(orders[i].port, kStart[i].port);
    EXPECT_EQ(orders[i].weight, kStart[i].weight);
    EXPECT_EQ(orders[i].status, InstanceStatus::healthy);
  }
  auto one = io.run(
      [&]() -> Awaitable<Result<ServiceInstance>> { co_return co_await registry->get("orders", kStart[1].id()); });
  ASSERT_TRUE(one) << one.error().describe();
  EXPECT_EQ(one->port, 8081);
  auto missing = io.run(
      [&]() -> Awaitable<Result<ServiceInstance>> { co_return co_await registry->get("orders", "127.0.0.9:1"); });
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::not_found);
  auto unknown = io.run(
      [&]() -> Awaitable<Result<std::vector<ServiceInstance>>> { co_return co_await registry->list("users", {}); });
  ASSERT_TRUE(unknown) << unknown.error().describe();
  EXPECT_TRUE(unknown->empty()) << "a service the source does not have: no instances";
  auto services =
      io.run([&]() -> Awaitable<Result<std::vector<ServiceSummary>>> { co_return co_await registry->list_services(); });
  ASSERT_TRUE(services);
  ASSERT_EQ(services->size(), 1u);
  EXPECT_EQ((*services)[0].healthy, 3u);
}

TEST_P(ReadOnlyConformance, WritesAreRefusedAndChangeNothing) {
  const auto start = watch(0, 0ms);
  ASSERT_TRUE(start);
  const auto id = kStart[0].id();
  std::vector<Error> errors;
  io.run([&]() -> Awaitable<void> {
    ServiceInstance in;
    in.service = "orders";
    in.host = "127.0.0.1";
    in.port = 9999;
    auto r1 = co_await registry->register_instance(in);
    errors.push_back(r1 ? Error{} : r1.error());
    auto r2 = co_await registry->deregister("orders", id);
    errors.push_back(r2 ? Error{} : r2.error());
    auto r3 = co_await registry->renew("orders", id);
    errors.push_back(r3 ? Error{} : r3.error());
    auto r4 = co_await registry->set_status("orders", id, InstanceStatus::maintenance);
    errors.push_back(r4 ? Error{} : r4.error());
  });
  for (const auto& e : errors) {
    EXPECT_EQ(e.code, ErrorCode::invalid_argument);
    EXPECT_EQ(e.field, "registry");
  }
  auto after = watch(start->index, 300ms);
  ASSERT_TRUE(after);
  EXPECT_TRUE(after->events.empty());
  EXPECT_EQ(after->index, start->index);
  EXPECT_EQ(list().size(), 3u);
}

TEST_P(ReadOnlyConformance, FiltersNarrowTheList) {
  InstanceFilter healthy;
  healthy.status = InstanceStatus::healthy;
  EXPECT_EQ(list(healthy).size(), 3u);
  InstanceFilter down;
  down.status = InstanceStatus::down;
  EXPECT_TRUE(list(down).empty());
  InstanceFilter zone;
  zone.zone = "nowhere";
  EXPECT_TRUE(list(zone).empty());
}

TEST_P(ReadOnlyConformance, EveryChangeOfTheSourceArrivesInOrderExactlyOnceFromAnyIndex) {
  const auto start = watch(0, 0ms);
  ASSERT_TRUE(start) << start.error().describe();
  ASSERT_TRUE(start->reset);
  ASSERT_EQ(start->snapshot.size(), 3u);
  // Three new versions of the source, each waited for: one added; one removed and one reweighted;
  // everything replaced.
  const std::vector<std::vector<Published>> versions{
      {{1, 8080, 10}, {2, 8081, 20}, {3, 8082, 30}, {4, 8083, 40}},
      {{1, 8080, 10}, {3, 8082, 35}, {4, 8083, 40}},
      {{5, 9000, 1}, {6, 9001, 2}},
  };
  const std::vector<std::multiset<std::string>> expected{
      {"registered 127.0.0.14:8083"},
      {"deregistered 127.0.0.12:8081", "updated 127.0.0.13:8082"},
      {"deregistered 127.0.0.11:8080", "deregistered 127.0.0.13:8082", "deregistered 127.0.0.14:8083",
       "registered 127.0.0.15:9000", "registered 127.0.0.16:9001"},
  };
  std::vector<RegistryEvent> all;
  std::vector<std::uint64_t> version_index{start->index};
  for (std::size_t v = 0; v < versions.size(); ++v) {
    source->publish(versions[v]);
    const auto events = events_after(version_index.back(), expected[v].size());
    std::multiset<std::string> seen;
    for (const auto& e : events) seen.insert(describe(e));
    EXPECT_EQ(seen, expected[v]) << "version " << v + 1;
    if (events.empty()) return;
    version_index.push_back(events.back().index);
    all.insert(all.end(), events.begin(), events.end());
  }
  for (std::size_t i = 1; i < all.size(); ++i) EXPECT_GT(all[i].index, all[i - 1].index) << "indices increase";
  auto idle = watch(version_index.back(), 200ms);
  ASSERT_TRUE(idle);
  EXPECT_TRUE(idle->events.empty()) << "each change once: nothing more arrives";

  // A watcher resuming after version 1 gets exactly the rest, in the same order.
  std::vector<std::string> rest;
  for (const auto& e : events_after(version_index[1], all.size() - 1)) rest.push_back(describe(e));
  std::vector<std::string> want;
  for (std::size_t i = 1; i < all.size(); ++i) want.push_back(describe(all[i]));
  EXPECT_EQ(rest, want);
  std::vector<std::string> now;
  for (const auto& in : list()) now.push_back(in.id);
  EXPECT_EQ(now, (std::vector<std::string>{"127.0.0.15:9000", "127.0.0.16:9001"}));
}

TEST_P(ReadOnlyConformance, AWaitingWatchWakesUpOnAChangeAndCanBeCancelled) {
  const auto start = watch(0, 0ms);
  ASSERT_TRUE(start);
  auto waiting = boost::asio::co_spawn(
      io.io(),
      [&]() -> Awaitable<Result<WatchResult>> {
        WatchRequest request("orders", start->index, 20s);
        co_return co_await registry->watch(request);
      },
      boost::asio::use_future);
  source->publish({{1, 8080, 10}, {2, 8081, 20}, {3, 8082, 30}, {7, 7000, 5}});
  ASSERT_EQ(waiting.wait_for(10s), std::future_status::ready) << "the watch saw the change long before 20s";
  auto woken = waiting.get();
  ASSERT_TRUE(woken) << woken.error().describe();
  ASSERT_EQ(woken->events.size(), 1u);
  EXPECT_EQ(woken->events[0].instance.id, "127.0.0.17:7000");

  auto cancel = std::make_shared<CancelToken>();
  auto cancelled = boost::asio::co_spawn(
      io.io(),
      [&]() -> Awaitable<Result<WatchResult>> {
        WatchRequest request("orders", woken->index, 20s, cancel);
        co_return co_await registry->watch(request);
      },
      boost::asio::use_future);
  ASSERT_EQ(cancelled.wait_for(200ms), std::future_status::timeout);
  cancel->cancel();
  ASSERT_EQ(cancelled.wait_for(10s), std::future_status::ready);
  auto answer = cancelled.get();
  EXPECT_TRUE(!answer || answer->events.empty()) << "cancelled: an error or an empty answer";
}

INSTANTIATE_TEST_SUITE_P(All, ReadOnlyConformance,
                         ::testing::Values(ReadOnlyCase{"file",
                                                        [](const std::filesystem::path& d) -> std::unique_ptr<Source> {
                                                          return std::make_unique<FileSource>(d);
                                                        }},
                                           ReadOnlyCase{"dns",
                                                        [](const std::filesystem::path& d) -> std::unique_ptr<Source> {
                                                          return std::make_unique<DnsSource>(d);
                                                        }}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace svckit::testing
