// dns+srv:// and dns:// against a real dnsmasq on a loopback port: SRV and A/AAAA records become
// instances; records that change are re-resolved when their TTL runs out and arrive as exact
// events; while the DNS server is down the last known instances stay; NXDOMAIN means none.
#include <gtest/gtest.h>

#include <set>

#include "svckit/discovery/discovery_client.hpp"
#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/servers.hpp"
#include "test_instance.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

// Two SRV targets at priority 0 and one backup at priority 1; `local=` makes every other name
// under svc.test an NXDOMAIN (not a REFUSED); TTL 1 s.
constexpr const char* kRecords = R"(local=/svc.test/
local-ttl=1
srv-host=_http._tcp.orders.svc.test,orders-1.svc.test,8080,0,10
srv-host=_http._tcp.orders.svc.test,orders-2.svc.test,8081,0,30
srv-host=_http._tcp.orders.svc.test,orders-3.svc.test,8082,1,10
host-record=orders-1.svc.test,127.0.0.11
host-record=orders-2.svc.test,127.0.0.12
host-record=orders-3.svc.test,127.0.0.13
host-record=web.svc.test,127.0.0.21,::1
host-record=web.svc.test,127.0.0.22)";

class DnsRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RegistryPlugins::Builder builder;
    register_builtin_plugins(builder);
    plugins = std::make_unique<RegistryPlugins>(std::move(builder).build());
    auto started = start_dnsmasq(dir.path(), kRecords, port);
    ASSERT_TRUE(started) << started.error().describe();
    dnsmasq = std::move(*started);
  }
  Result<std::unique_ptr<Registry>> open(const std::string& url) {
    return plugins->create(url, RegistryDeps{io.executor(), time, random});
  }
  std::string server() const { return "127.0.0.1:" + std::to_string(port); }
  Result<std::vector<ServiceInstance>> list(Registry& r, const std::string& service) {
    return io.run([&]() -> Awaitable<Result<std::vector<ServiceInstance>>> {
      InstanceFilter all;
      co_return co_await r.list(service, all);
    });
  }
  std::set<std::string> ids(Registry& r, const std::string& service) {
    std::set<std::string> out;
    auto found = list(r, service);
    EXPECT_TRUE(found) << found.error().describe();
    if (found) {
      for (const auto& in : *found) out.insert(in.id);
    }
    return out;
  }
  Result<WatchResult> watch(Registry& r, const std::string& service, std::uint64_t after,
                            std::chrono::milliseconds wait) {
    return io.run([&]() -> Awaitable<Result<WatchResult>> {
      WatchRequest request(service, after, wait);
      co_return co_await r.watch(request);
    });
  }

  TempDir dir;
  int port = 0;
  ChildProcess dnsmasq;
  IoThread io;
  RealTimeSource time;
  FakeRandom random;
  std::unique_ptr<RegistryPlugins> plugins;
};

TEST_F(DnsRegistryTest, SrvRecordsBecomeWeightedInstancesWithTheirAddresses) {
  auto made = open("dns+srv://" + server() + "/_http._tcp.{service}.svc.test");
  ASSERT_TRUE(made) << made.error().describe();
  auto& r = **made;
  auto orders = list(r, "orders");
  ASSERT_TRUE(orders) << orders.error().describe();
  ASSERT_EQ(orders->size(), 3u);
  const auto& first = (*orders)[0];
  EXPECT_EQ(first.id, "127.0.0.11:8080");
  EXPECT_EQ(first.host, "127.0.0.11");
  EXPECT_EQ(first.port, 8080);
  EXPECT_EQ(first.weight, 10);
  EXPECT_EQ(first.status, InstanceStatus::healthy);
  EXPECT_EQ(first.metadata.at("dns-target"), "orders-1.svc.test");
  EXPECT_EQ((*orders)[1].weight, 30);
  EXPECT_FALSE((*orders)[1].has_tag("srv-backup"));
  EXPECT_TRUE((*orders)[2].has_tag("srv-backup")) << "priority 1 is a backup of priority 0";
  EXPECT_EQ((*orders)[2].metadata.at("srv-priority"), "1");

  auto one =
      io.run([&]() -> Awaitable<Result<ServiceInstance>> { co_return co_await r.get("orders", "127.0.0.12:8081"); });
  ASSERT_TRUE(one);
  EXPECT_EQ(one->port, 8081);

  EXPECT_TRUE(ids(r, "payments").empty()) << "NXDOMAIN: a service with no instances, not an error";
  auto services =
      io.run([&]() -> Awaitable<Result<std::vector<ServiceSummary>>> { co_return co_await r.list_services(); });
  ASSERT_TRUE(services);
  ASSERT_EQ(services->size(), 1u);
  EXPECT_EQ((*services)[0].name, "orders");
  EXPECT_EQ((*services)[0].healthy, 3u);

  auto refused = io.run([&]() -> Awaitable<Result<void>> { co_return co_await r.deregister("orders", first.id); });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "registry");
}

TEST_F(DnsRegistryTest, ARecordsWithTheUrlsPortIncludingIpv6) {
  auto made = open("dns://" + server() + "/{service}.svc.test:9090?scheme=https");
  ASSERT_TRUE(made) << made.error().describe();
  auto web = list(**made, "web");
  ASSERT_TRUE(web) << web.error().describe();
  std::set<std::string> hosts;
  for (const auto& in : *web) {
    hosts.insert(in.host);
    EXPECT_EQ(in.port, 9090);
    EXPECT_EQ(in.scheme, "https");
  }
  EXPECT_EQ(hosts, (std::set<std::string>{"127.0.0.21", "127.0.0.22", "::1"}));
  EXPECT_EQ(ids(**made, "web").count("0::1:9090"), 1u) << "an IPv6 id starts with a digit";
}

TEST_F(DnsRegistryTest, ChangedRecordsArriveAsEventsAndTheLastAnswerStaysWhileDnsIsDown) {
  auto made = open("dns+srv://" + server() + "/_http._tcp.{service}.svc.test?min_ttl=100ms&max_ttl=1s&timeout=200ms");
  ASSERT_TRUE(made) << made.error().describe();
  auto& r = **made;
  auto start = watch(r, "orders", 0, 0ms);
  ASSERT_TRUE(start) << start.error().describe();
  ASSERT_TRUE(start->reset);
  EXPECT_EQ(start->snapshot.size(), 3u);

  // DNS down: resolutions fail (connection refused / timeouts), the instances stay.
  dnsmasq.stop(SIGTERM);
  auto quiet = watch(r, "orders", start->index, 1500ms);
  ASSERT_TRUE(quiet) << quiet.error().describe();
  EXPECT_TRUE(quiet->events.empty()) << "a failing DNS server changes nothing";
  EXPECT_EQ(ids(r, "orders").size(), 3u);

  // Back with orders-2 gone and orders-4 new: the next resolution (TTL 1 s) applies the difference.
  std::string changed = kRecords;
  changed.replace(changed.find("srv-host=_http._tcp.orders.svc.test,orders-2"), 0, "#");
  changed +=
      "\nsrv-host=_http._tcp.orders.svc.test,orders-4.svc.test,8084,0,20\nhost-record=orders-4.svc.test,127.0.0.14";
  auto restarted = start_dnsmasq(dir.path(), changed, port);
  ASSERT_TRUE(restarted) << restarted.error().describe();
  dnsmasq = std::move(*restarted);
  std::multiset<std::string> seen;
  std::uint64_t after = start->index;
  for (int i = 0; i < 20 && seen.size() < 2; ++i) {
    auto w = watch(r, "orders", after, 3s);
    ASSERT_TRUE(w) << w.error().describe();
    for (const auto& e : w->events) seen.insert(std::string(to_string(e.type)) + " " + e.instance.id);
    after = w->index;
  }
  EXPECT_EQ(seen, (std::multiset<std::string>{"deregistered 127.0.0.12:8081", "registered 127.0.0.14:8084"}));
  EXPECT_EQ(ids(r, "orders"), (std::set<std::string>{"127.0.0.11:8080", "127.0.0.13:8082", "127.0.0.14:8084"}));
}

TEST_F(DnsRegistryTest, AnAnswerTooLargeForUdpComesOverTcp) {
  // 100 SRV records with their addresses: ~9 KB, far over the 1232 bytes offered over UDP, so
  // dnsmasq truncates and the resolver asks again over TCP.
  std::string records = kRecords;
  for (int i = 1; i <= 100; ++i) {
    const auto target = "big-" + std::to_string(i) + ".svc.test";
    records += "\nsrv-host=_http._tcp.big.svc.test," + target + ",8080,0,10";
    records += "\nhost-record=" + target + ",127.0.1." + std::to_string(i);
  }
  dnsmasq.stop(SIGTERM);
  auto restarted = start_dnsmasq(dir.path(), records, port);
  ASSERT_TRUE(restarted) << restarted.error().describe();
  dnsmasq = std::move(*restarted);
  auto made = open("dns+srv://" + server() + "/_http._tcp.{service}.svc.test");
  ASSERT_TRUE(made) << made.error().describe();
  const auto big = ids(**made, "big");
  EXPECT_EQ(big.size(), 100u);
  EXPECT_EQ(big.count("127.0.1.100:8080"), 1u);
}

TEST_F(DnsRegistryTest, ADiscoveryClientFollowsTheServicesNamedInTheUrl) {
  // DiscoveryClient watches every service; DNS cannot enumerate them, so the URL names them.
  auto made = open("dns+srv://" + server() + "/_http._tcp.{service}.svc.test?services=orders,payments");
  ASSERT_TRUE(made) << made.error().describe();
  auto client = std::make_unique<DiscoveryClient>(io.executor(), **made, random);
  io.run([&]() -> Awaitable<void> {
    client->start();
    EXPECT_TRUE(co_await client->wait_synced(5s));
  });
  ASSERT_TRUE(wait_until([&] { return client->discover("orders").size() == 3; }, 10s));
  EXPECT_TRUE(client->discover("payments").empty());
  EXPECT_TRUE(client->service_url("orders").ok());
  io.run([&] { return client->shutdown(0ms); });
}

TEST_F(DnsRegistryTest, NoServerAnsweringBeforeTheFirstResolutionIsAnError) {
  dnsmasq.stop(SIGTERM);
  auto made = open("dns+srv://" + server() + "/_http._tcp.{service}.svc.test?timeout=200ms&attempts=1");
  ASSERT_TRUE(made) << made.error().describe();
  auto orders = list(**made, "orders");
  ASSERT_FALSE(orders);
  EXPECT_TRUE(orders.error().code == ErrorCode::unavailable || orders.error().code == ErrorCode::timeout)
      << orders.error().describe();
}

TEST_F(DnsRegistryTest, BadUrlsNameTheField) {
  EXPECT_EQ(open("dns+srv://" + server() + "/_http._tcp.orders.svc.test").error().field, "registry")
      << "needs {service} or ?service=";
  auto fixed = open("dns+srv://" + server() + "/_http._tcp.orders.svc.test?service=orders");
  ASSERT_TRUE(fixed) << fixed.error().describe();
  auto other = list(**fixed, "users");
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::not_found);
  EXPECT_EQ(list(**fixed, "orders")->size(), 3u);
  EXPECT_EQ(open("dns://" + server() + "/{service}.svc.test").error().field, "registry") << "dns:// needs a port";
  EXPECT_EQ(open("dns://" + server() + "/{service}.svc.test:0").error().field, "registry");
  EXPECT_EQ(open("dns+srv://" + server() + "/_http._tcp.{service}.svc.test?ttl=5s").error().field, "ttl");
  EXPECT_EQ(open("dns+srv://" + server() + "/_http._tcp.{service}.svc.test?min_ttl=10s&max_ttl=1s").error().field,
            "min_ttl");
  EXPECT_EQ(open("dns+srv://dns.example:53/_http._tcp.{service}.svc.test").error().field, "registry")
      << "a server is an IP address";
  EXPECT_EQ(open("dns+srv://" + server() + "/_http._tcp.{service}..svc.test").error().field, "registry");
  auto made = open("dns+srv://" + server() + "/_http._tcp.{service}.svc.test");
  ASSERT_TRUE(made);
  auto bad = list(**made, "bad..name");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "service");
}

}  // namespace
}  // namespace svckit::testing
