// DiscoveryClient over the svckitd:// backend against a real svckitd: cache kept fresh by the
// watch, self-registration with heartbeat, static stability while svckitd is down, recovery and
// re-registration after it comes back, graceful drain.
#include <gtest/gtest.h>
#include <signal.h>

#include "svckit/core/instance_json.hpp"
#include "svckit/discovery/default_discovery.hpp"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/http/client.hpp"
#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/fault_server.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

class DiscoveryOverSvckitd : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon = SvckitdProcess::start(dir.path(), {"--sweep-interval", "100ms", "--expiry-grace", "1s"});
    ASSERT_NE(daemon, nullptr);
    RegistryPlugins::Builder builder;
    register_builtin_plugins(builder);
    plugins = std::make_unique<RegistryPlugins>(std::move(builder).build());
    auto r = plugins->create(daemon->url() + "?timeout=2s", RegistryDeps{io.executor(), time, random});
    ASSERT_TRUE(r.ok()) << r.error().describe();
    registry = std::move(*r);
    DiscoveryOptions options;
    options.watch_wait = 2s;
    options.retry_initial = 20ms;
    options.retry_max = 200ms;
    client = std::make_unique<DiscoveryClient>(io.executor(), *registry, random, options);
  }

  void TearDown() override {
    if (client) io.run([&] { return client->shutdown(0ms); });
    io.stop();
  }

  ServiceInstance me(int port, std::chrono::milliseconds ttl) {
    ServiceInstance in;
    in.service = "orders";
    in.host = "127.0.0.1";
    in.port = port;
    in.ttl = ttl;
    return in;
  }

  TempDir dir;
  std::unique_ptr<SvckitdProcess> daemon;
  RealTimeSource time;
  FakeRandom random;
  IoThread io;
  std::unique_ptr<RegistryPlugins> plugins;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<DiscoveryClient> client;
};

TEST_F(DiscoveryOverSvckitd, TheFreeFunctionsWorkOverTheDefaultClientTheApplicationSet) {
  ASSERT_EQ(default_discovery(), nullptr);
  EXPECT_EQ(get_service_url("orders").error().code, ErrorCode::internal) << "no default set: a clear error";
  EXPECT_NE(discover_service("orders").error().message.find("set_default_discovery"), std::string::npos);

  FaultServer up(io.io(), "up");
  set_default_discovery(client.get());
  io.run([&]() -> Awaitable<void> {
    client->start();
    EXPECT_TRUE(co_await client->wait_synced(5s));
    auto self = co_await register_service(me(up.port(), 0ms));
    EXPECT_TRUE(self.ok()) << self.error().describe();
  });
  auto dead = me(free_port(), 0ms);
  dead.weight = 300;
  dead.normalize();
  ASSERT_EQ(daemon->call("POST", "/v1/instances", to_json(dead).dump()).status, 200);
  ASSERT_TRUE(wait_until([&] { return discover_service("orders")->size() == 2; }, 5s));

  // Weighted: the instance of weight 300 gets three picks in four.
  int heavy = 0;
  for (int i = 0; i < 8; ++i) heavy += *get_service_url("orders") == dead.base_url() ? 1 : 0;
  EXPECT_EQ(heavy, 6);
  EXPECT_EQ(get_service("orders")->service, "orders");

  // Health from the registry says both are healthy; a probe tells the dead one apart.
  http::HttpClient probe_client(io.executor());
  std::optional<Result<ServiceHealthReport>> from_registry, probed, one;
  io.run([&]() -> Awaitable<void> {
    from_registry = co_await health_check_service("orders");
    probed = co_await health_check_service("orders", "", &probe_client);
    one = co_await health_check_service("orders", dead.id, &probe_client);
    probe_client.close_idle();
  });
  ASSERT_TRUE(from_registry->ok());
  EXPECT_EQ((*from_registry)->healthy_count(), 2U);
  EXPECT_EQ((*from_registry)->instances[0].source, "registry");
  ASSERT_TRUE(probed->ok());
  EXPECT_EQ((*probed)->healthy_count(), 1U);
  for (const auto& h : (*probed)->instances) {
    EXPECT_EQ(h.healthy, h.instance.port == up.port()) << h.detail;
    EXPECT_EQ(h.source, "probe");
  }
  EXPECT_EQ(up.last_target(), "/health");
  ASSERT_TRUE(one->ok());
  EXPECT_FALSE((*one)->healthy());
  EXPECT_NE((*one)->instances.at(0).detail.find("failed"), std::string::npos);

  std::optional<Result<ServiceHealthReport>> missing;
  io.run([&]() -> Awaitable<void> {
    missing = co_await health_check_service("orders", "nobody");
    auto gone = co_await deregister_service();
    EXPECT_TRUE(gone.ok());
  });
  EXPECT_EQ(missing->error().code, ErrorCode::not_found);
  EXPECT_EQ(missing->error().field, "id");
  set_default_discovery(nullptr);
  EXPECT_EQ(default_discovery(), nullptr);
}

TEST_F(DiscoveryOverSvckitd, CacheFollowsChangesMadeByAnotherProcess) {
  std::vector<EventType> seen;
  io.run([&]() -> Awaitable<void> {
    client->on_event([&](const RegistryEvent& e) { seen.push_back(e.type); });
    client->start();
    EXPECT_TRUE(co_await client->wait_synced(5s));
  });
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("payments", 7001)).status, 200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("payments", 7002)).status, 200);
  ASSERT_TRUE(wait_until([&] { return client->discover("payments").size() == 2; }, 5s));

  std::set<std::string> urls;
  for (int i = 0; i < 4; ++i) urls.insert(*client->service_url("payments"));
  EXPECT_EQ(urls, (std::set<std::string>{"http://127.0.0.1:7001", "http://127.0.0.1:7002"})) << "round robin";

  daemon->call("PUT", "/v1/services/payments/instances/127.0.0.1:7001/status", R"({"status":"unhealthy"})");
  ASSERT_TRUE(wait_until([&] { return client->discover("payments")[0].status == InstanceStatus::unhealthy; }, 5s));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(*client->service_url("payments"), "http://127.0.0.1:7002");

  daemon->call("DELETE", "/v1/services/payments/instances/127.0.0.1:7002");
  ASSERT_TRUE(wait_until([&] { return client->discover("payments").size() == 1; }, 5s));
  EXPECT_EQ(client->service_url("payments").error().code, ErrorCode::not_found);
  io.run([&]() -> Awaitable<void> { co_return; });  // handlers ran on the io thread before this
  EXPECT_EQ(seen, (std::vector<EventType>{EventType::registered, EventType::registered, EventType::status_changed,
                                          EventType::deregistered}));
}

TEST_F(DiscoveryOverSvckitd, StaticStabilityThenRecoveryAndReregistration) {
  const int daemon_port = daemon->port;
  io.run([&]() -> Awaitable<void> {
    client->start();
    EXPECT_TRUE(co_await client->wait_synced(5s));
    auto r = co_await client->register_self(me(9100, 1500ms));
    EXPECT_TRUE(r.ok());
  });
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("catalog", 7100)).status, 200);
  ASSERT_TRUE(wait_until([&] { return client->discover("catalog").size() == 1; }, 5s));

  // The registry dies: the cache keeps serving the last known instances.
  daemon->process.stop(SIGKILL);
  ASSERT_TRUE(wait_until([&] { return client->stats().watch_errors > 0; }, 10s));
  EXPECT_EQ(client->discover("catalog").size(), 1u);
  EXPECT_EQ(*client->service_url("catalog"), "http://127.0.0.1:7100");

  // It comes back empty on the same port (no snapshot). The client reconnects by itself; the empty
  // snapshot does not wipe "catalog" (empty-push protection); our own heartbeat re-registers us.
  daemon = SvckitdProcess::start(dir.path(), {"--port", std::to_string(daemon_port)});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(wait_until([&] { return client->stats().registry_reachable; }, 10s));
  EXPECT_EQ(client->discover("catalog").size(), 1u);
  EXPECT_GE(client->stats().empty_pushes_rejected, 1u);
  // The re-registration is counted after svckitd has answered it: wait for the counter itself.
  ASSERT_TRUE(wait_until([&] { return client->stats().reregistrations >= 1; }, 10s));
  EXPECT_EQ(daemon->json("GET", "/v1/services/orders/instances")["instances"].size(), 1u);
  ASSERT_TRUE(wait_until([&] { return client->discover("orders").size() == 1; }, 5s)) << "our own record seen again";
}

TEST_F(DiscoveryOverSvckitd, ShutdownDrainsThenDeregisters) {
  io.run([&]() -> Awaitable<void> {
    client->start();
    (void)co_await client->wait_synced(5s);
    (void)co_await client->register_self(me(9200, 10s));
  });
  std::vector<std::string> statuses;
  const auto path = std::string("/v1/services/orders/instances/127.0.0.1:9200");
  std::thread observer([&] {
    wait_until(
        [&] {
          auto j = daemon->json("GET", path);
          const std::string s = j.contains("status") ? j["status"].get<std::string>() : "gone";
          if (statuses.empty() || statuses.back() != s) statuses.push_back(s);
          return s == "gone";
        },
        10s);
  });
  io.run([&] { return client->shutdown(300ms); });
  observer.join();
  client.reset();
  ASSERT_GE(statuses.size(), 2u);
  EXPECT_EQ(statuses.back(), "gone");
  EXPECT_NE(std::find(statuses.begin(), statuses.end(), "maintenance"), statuses.end())
      << "callers see maintenance during the drain before the instance disappears";
}

}  // namespace
}  // namespace svckit::testing
