// svckitd in cluster mode (`--store etcd://...`): several svckitd processes over one real etcd serve
// one registry. A write on one node is read back at once on that node and reaches the others; the
// index is etcd's revision on every node, so a watch continues on another node from its index; a
// TTL instance is kept alive by heartbeats sent to any node and expires once; a node cut off from
// etcd answers reads from its cache marked stale, refuses writes with 503, and catches up when
// etcd is back.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include <sys/wait.h>

#include <csignal>
#include <future>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "cli_process.hpp"
#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/fault_server.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"
#include "svckitd_process.hpp"
#include "test_instance.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;
using nlohmann::json;

class ClusterMode : public ::testing::Test {
 protected:
  void SetUp() override {
    etcd_node = EtcdNode{"cluster-etcd", free_port(), free_port(), ""};
    start_store();
  }
  void start_store() {
    auto child = start_etcd_node(etcd_node, dir.path());
    ASSERT_TRUE(child) << child.error().describe();
    etcd = std::move(*child);
    ASSERT_TRUE(wait_until([&] { return etcd_answers(etcd_node.client_port); }, 30s));
  }
  std::string store_url() const {
    return "etcd://127.0.0.1:" + std::to_string(etcd_node.client_port) + "?prefix=/cluster-test" + store_options;
  }
  std::unique_ptr<SvckitdProcess> node(const std::string& name, std::vector<std::string> extra = {}) {
    fs::create_directories(dir.path() / name);
    std::vector<std::string> args{"--store", store_url(), "--log-level", "debug", "--set", "cluster.node_name=" + name};
    args.insert(args.end(), extra.begin(), extra.end());
    return SvckitdProcess::start(dir.path() / name, args);
  }
  static json members(const SvckitdProcess& n) { return n.json("GET", "/v1/cluster/members"); }
  static std::size_t checked_here(const SvckitdProcess& n) {
    return members(n)["store"].value("checked_here", std::size_t{0});
  }
  static std::vector<std::string> ids(const SvckitdProcess& n, const std::string& service) {
    std::vector<std::string> out;
    const auto body = n.json("GET", "/v1/services/" + service + "/instances");
    for (const auto& in : body.value("instances", json::array())) out.push_back(in.value("id", ""));
    return out;
  }
  static int watchers(const SvckitdProcess& n) {  // the svckit_watchers_active gauge
    const auto metrics = n.call("GET", "/metrics").body;
    const auto at = metrics.find("\nsvckit_watchers_active ");
    return at == std::string::npos ? -1 : std::atoi(metrics.c_str() + at + 24);
  }
  static std::string status_of(const SvckitdProcess& n, const std::string& service, const std::string& id) {
    return n.json("GET", "/v1/services/" + service + "/instances/" + id).value("status", "");
  }

  static double metric(const SvckitdProcess& n, const std::string& name) {
    const auto metrics = n.call("GET", "/metrics").body;
    const auto at = metrics.find("\n" + name + " ");
    return at == std::string::npos ? -1 : std::atof(metrics.c_str() + at + name.size() + 2);
  }

  TempDir dir;
  EtcdNode etcd_node;
  ChildProcess etcd;
  std::string store_options;  // more of the store URL's query, "&grace=2s"
};

TEST_F(ClusterMode, TwoNodesServeOneRegistryIndexedByEtcdRevisions) {
  auto a = node("a");
  auto b = node("b");
  ASSERT_TRUE(a && b);

  // A write is read back at once on the node that took it, and reaches the other.
  const auto stored = a->call("POST", "/v1/instances", instance_body("orders", 9001, R"(,"id":"o1")"));
  ASSERT_EQ(stored.status, 200) << stored.body;
  EXPECT_EQ(ids(*a, "orders"), std::vector<std::string>{"o1"}) << "read your writes on the node that answered";
  ASSERT_TRUE(wait_until([&] { return ids(*b, "orders") == std::vector<std::string>{"o1"}; }, 5s));
  const auto index_a = a->call("GET", "/v1/services/orders/instances").header("X-Svckit-Index");
  const auto index_b = b->call("GET", "/v1/services/orders/instances").header("X-Svckit-Index");
  EXPECT_FALSE(index_a.empty());
  EXPECT_EQ(index_a, index_b) << "one index for the whole cluster: etcd's revision";

  // A watch opened on B from A's index wakes for a write made on A, and its index continues on A.
  const int parked = watchers(*b);
  auto watch = std::async(std::launch::async, [&] {
    return http_call(b->port, "GET", "/v1/watch?service=orders&index=" + index_a + "&wait=20s", {}, {}, 30s);
  });
  ASSERT_TRUE(wait_until([&] { return watchers(*b) == parked + 1; }, 5s)) << b->call("GET", "/metrics").body;
  ASSERT_EQ(a->call("POST", "/v1/instances", instance_body("orders", 9002, R"(,"id":"o2")")).status, 200);
  const auto woke = watch.get();
  ASSERT_EQ(woke.status, 200) << woke.body;
  const auto events = json::parse(woke.body);
  EXPECT_FALSE(events.value("reset", false)) << woke.body;
  ASSERT_EQ(events["events"].size(), 1u) << woke.body;
  EXPECT_EQ(events["events"][0]["instance"]["id"], "o2");
  const auto resumed =
      http_call(a->port, "GET", "/v1/watch?service=orders&index=" + woke.header("X-Svckit-Index") + "&wait=0s");
  ASSERT_EQ(resumed.status, 200) << resumed.body;
  EXPECT_FALSE(json::parse(resumed.body).value("reset", false)) << "B's index is A's: " << resumed.body;
  EXPECT_TRUE(json::parse(resumed.body)["events"].empty()) << resumed.body;

  // Deregistration and maintenance on B are seen on A.
  ASSERT_EQ(b->call("DELETE", "/v1/services/orders/instances/o1").status, 200);
  EXPECT_EQ(ids(*b, "orders"), std::vector<std::string>{"o2"});
  ASSERT_TRUE(wait_until([&] { return ids(*a, "orders") == std::vector<std::string>{"o2"}; }, 5s));
  ASSERT_EQ(b->call("PUT", "/v1/services/orders/instances/o2/status", R"({"status":"maintenance"})").status, 200);
  ASSERT_TRUE(wait_until([&] { return status_of(*a, "orders", "o2") == "maintenance"; }, 5s));

  // A node started later loads the whole registry before it serves.
  auto c = node("c");
  ASSERT_TRUE(c);
  EXPECT_EQ(ids(*c, "orders"), std::vector<std::string>{"o2"});
  EXPECT_EQ(status_of(*c, "orders", "o2"), "maintenance");
}

TEST_F(ClusterMode, TheConfigStoreIsOneDocumentWithOneHistoryAndLongPollsOnEveryNode) {
  auto a = node("a");
  auto b = node("b");
  ASSERT_TRUE(a && b);
  // A long poll on B answers with a change written on A (it waits if it came first).
  auto poll = std::async(std::launch::async,
                         [&] { return http_call(b->port, "GET", "/v1/config?index=0&wait=20s", {}, {}, 30s); });
  const auto put = a->call("PUT", "/v1/config/keys/db.pool", "8");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(json::parse(put.body)["version"], 1);
  EXPECT_EQ(a->json("GET", "/v1/config/keys/db.pool")["value"], 8) << "read your writes on the node that answered";
  const auto woke = poll.get();
  ASSERT_EQ(woke.status, 200) << woke.body;
  EXPECT_EQ(woke.header("X-Svckit-Config-Version"), "1");
  EXPECT_EQ(json::parse(woke.body)["db"]["pool"], 8);

  // Writes from both nodes at once: every one lands, each a version of its own, none lost.
  auto writes = [](const SvckitdProcess& n, const std::string& prefix) {
    int ok = 0;
    for (int i = 0; i < 10; ++i)
      ok += n.call("PUT", "/v1/config/keys/" + prefix + std::to_string(i), "true").status == 200;
    return ok;
  };
  auto from_a = std::async(std::launch::async, writes, std::cref(*a), "a");
  auto from_b = std::async(std::launch::async, writes, std::cref(*b), "b");
  EXPECT_EQ(from_a.get(), 10);
  EXPECT_EQ(from_b.get(), 10);
  ASSERT_TRUE(wait_until([&] { return a->json("GET", "/v1/config") == b->json("GET", "/v1/config"); }, 5s));
  const auto doc = a->json("GET", "/v1/config");
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(doc.value("a" + std::to_string(i), false), true) << i;
    EXPECT_EQ(doc.value("b" + std::to_string(i), false), true) << i;
  }
  const auto history = b->json("GET", "/v1/config/history")["versions"];
  ASSERT_EQ(history.size(), 22u) << history.dump();  // the empty version 0 the store began with, then 21
  for (std::size_t k = 0; k < history.size(); ++k) EXPECT_EQ(history[k]["version"], k) << history.dump();

  // A rollback on B is the next version everywhere; a node started later loads it.
  const auto rolled = b->call("POST", "/v1/config/rollback/1");
  ASSERT_EQ(rolled.status, 200) << rolled.body;
  EXPECT_EQ(json::parse(rolled.body)["version"], 22);
  ASSERT_TRUE(wait_until(
      [&] {
        return a->json("GET", "/v1/config") == json{{"db", {{"pool", 8}}}};
      },
      5s))
      << a->call("GET", "/v1/config").body;
  auto c = node("c");
  ASSERT_TRUE(c);
  const auto loaded = c->call("GET", "/v1/config");
  EXPECT_EQ(loaded.header("X-Svckit-Config-Version"), "22");
  EXPECT_EQ(json::parse(loaded.body), (json{{"db", {{"pool", 8}}}}));
}

TEST_F(ClusterMode, HeartbeatsToAnyNodeKeepATtlInstanceAliveAndItExpiresEverywhere) {
  store_options = "&grace=2s";
  auto a = node("a");
  auto b = node("b");
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->call("POST", "/v1/instances", instance_body("pay", 9100, R"(,"id":"p1","ttl":"2s")")).status, 200);
  ASSERT_EQ(a->call("PUT", "/v1/services/pay/instances/p1/status", R"({"status":"healthy"})").status, 200);
  ASSERT_TRUE(wait_until([&] { return status_of(*b, "pay", "p1") == "healthy"; }, 5s)) << "B follows A's write";
  // Heartbeats to B only, for three TTLs: alive on both nodes all along.
  const auto until = std::chrono::steady_clock::now() + 6s;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_EQ(b->call("PUT", "/v1/services/pay/instances/p1/heartbeat").status, 200);
    EXPECT_EQ(status_of(*a, "pay", "p1"), "healthy");
    EXPECT_EQ(status_of(*b, "pay", "p1"), "healthy");
    std::this_thread::sleep_for(400ms);  // the client's heartbeat period, not a wait for an event
  }
  // B took the instance over with its first heartbeat (one etcd write) and answered the others
  // from memory; A let go of it when it saw B's write.
  EXPECT_EQ(metric(*b, "svckit_cluster_liveness_taken_over_total"), 1);
  EXPECT_EQ(members(*b)["store"].value("held_here", -1), 1);
  EXPECT_EQ(members(*a)["store"].value("held_here", -1), 0);
  // Heartbeats stop: B, the holder, expires it once, and both nodes list the instance down.
  ASSERT_TRUE(
      wait_until([&] { return status_of(*a, "pay", "p1") == "down" && status_of(*b, "pay", "p1") == "down"; }, 15s))
      << a->call("GET", "/v1/services/pay/instances").body;
  EXPECT_EQ(metric(*a, "svckit_cluster_expired_total") + metric(*b, "svckit_cluster_expired_total"), 1);
  // After the grace (2 s) one node — the one that owns its checks — removes the record for all.
  ASSERT_TRUE(wait_until([&] { return ids(*a, "pay").empty() && ids(*b, "pay").empty(); }, 15s))
      << a->call("GET", "/v1/services/pay/instances").body;
  EXPECT_EQ(metric(*a, "svckit_cluster_expired_removed_total") + metric(*b, "svckit_cluster_expired_removed_total"), 1);
  // Registered again, it is new again: stored, listed healthy on both nodes.
  ASSERT_EQ(b->call("POST", "/v1/instances", instance_body("pay", 9100, R"(,"id":"p1","ttl":"2s")")).status, 200);
  ASSERT_TRUE(wait_until([&] { return ids(*a, "pay").size() == 1; }, 5s));
}

// The node holding an instance's liveness dies: heartbeats that move to another node keep it
// alive without a gap; an instance whose heartbeats stopped with the node expires once etcd's
// lease of the dead node runs out — never before its own TTL after its last heartbeat.
TEST_F(ClusterMode, ANodeHoldingInstancesDiesAndTheirHeartbeatsMoveOrTheyExpireNoEarlierThanTheirTtl) {
  auto a = node("a");
  auto b = node("b");
  ASSERT_TRUE(a && b);
  for (const char* id : {"kept", "orphan"}) {
    const auto body = instance_body("pay", 9200, std::string(R"(,"id":")") + id + R"(","ttl":"2s")");
    ASSERT_EQ(a->call("POST", "/v1/instances", body).status, 200);
  }
  EXPECT_EQ(members(*a)["store"].value("held_here", -1), 2);
  ASSERT_TRUE(wait_until([&] { return ids(*b, "pay").size() == 2; }, 5s));
  ASSERT_EQ(a->call("PUT", "/v1/services/pay/instances/orphan/heartbeat").status, 200);
  const auto last_orphan_heartbeat = std::chrono::steady_clock::now();
  a->process.stop(SIGKILL);
  // "kept"'s client moves to B at once; "orphan"'s never sends another heartbeat.
  const auto until = std::chrono::steady_clock::now() + 6s;
  bool orphan_down = false;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_EQ(b->call("PUT", "/v1/services/pay/instances/kept/heartbeat").status, 200);
    EXPECT_NE(status_of(*b, "pay", "kept"), "down");
    const auto asked = std::chrono::steady_clock::now();
    if (status_of(*b, "pay", "orphan") == "down") {
      if (!orphan_down) {
        EXPECT_GE(asked - last_orphan_heartbeat, 2s) << "expired before its TTL";
      }
      orphan_down = true;
    }
    std::this_thread::sleep_for(400ms);  // the client's heartbeat period, not a wait for an event
  }
  // A's lease for TTL 2 s lives 3 s after its last keep-alive: the orphan is down by now.
  EXPECT_TRUE(orphan_down);
  EXPECT_EQ(status_of(*b, "pay", "kept"), "healthy");
  EXPECT_EQ(metric(*b, "svckit_cluster_liveness_taken_over_total"), 1);
}

// Gateway routes set over the API on one node live in etcd: every node's gateway serves them
// (after its own file routes), a node started later loads them, and a bad route is refused
// naming its field with nothing stored.
TEST_F(ClusterMode, GatewayRoutesSetOnOneNodeServeOnEveryNodesGateway) {
  const auto with_gateway = [&](const std::string& name, int& gateway_port) {
    const auto port_file = dir.path() / name / "gateway.port";
    fs::create_directories(dir.path() / name);
    auto n = node(name, {"--gateway-port", "0", "--set", "gateway.port_file=" + port_file.string()});
    if (n && wait_until([&] { return read_file(port_file).find('\n') != std::string::npos; }, 10s)) {
      gateway_port = std::atoi(read_file(port_file).c_str());
    }
    return n;
  };
  int gateway_a = 0, gateway_b = 0, gateway_c = 0;
  auto a = with_gateway("a", gateway_a);
  auto b = with_gateway("b", gateway_b);
  ASSERT_TRUE(a && b && gateway_a > 0 && gateway_b > 0);
  IoThread io;
  FaultServer orders(io.io(), "orders-1");
  ASSERT_EQ(a->call("POST", "/v1/instances", instance_body("order-service", orders.port(), R"(,"id":"o1")")).status,
            200);
  EXPECT_EQ(a->json("GET", "/v1/gateway/routes")["routes"].size(), 0u);

  const auto put = a->call("PUT", "/v1/gateway/routes",
                           R"({"routes":[{"prefix":"/shop/orders","service":"order-service"}],"reason":"launch"})");
  ASSERT_EQ(put.status, 200) << put.body;
  const auto index = json::parse(put.body).value("index", 0);
  EXPECT_GT(index, 0);
  ASSERT_TRUE(wait_until([&] { return b->json("GET", "/v1/gateway/routes")["routes"].size() == 1; }, 5s));
  EXPECT_EQ(b->json("GET", "/v1/gateway/routes").value("index", 0), index);
  EXPECT_EQ(b->json("GET", "/v1/gateway/routes").value("reason", ""), "launch");
  ASSERT_TRUE(b->wait_discovered("order-service", 1));
  for (const int gateway : {gateway_a, gateway_b}) {
    ASSERT_TRUE(a->wait_discovered("order-service", 1));
    const auto routed = http_call(gateway, "GET", "/shop/orders/7");
    EXPECT_EQ(routed.status, 200) << routed.body;
    EXPECT_NE(routed.body.find("orders-1"), std::string::npos);
    EXPECT_EQ(orders.last_target(), "/7") << "the prefix is stripped, as for file routes";
  }

  // A bad route is refused naming it; the stored routes stay.
  const auto bad = b->call("PUT", "/v1/gateway/routes", R"({"routes":[{"prefix":"shop","service":"order-service"}]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body, nullptr, false)["error"].value("field", ""), "routes[0].prefix") << bad.body;
  EXPECT_EQ(b->call("PUT", "/v1/gateway/routes", R"({"routes":[{"service":"bad name"}]})").status, 400);
  EXPECT_EQ(b->call("PUT", "/v1/gateway/routes", R"({"routes":[{"service":{"nested":1}}]})").status, 400);
  EXPECT_EQ(b->call("PUT", "/v1/gateway/routes", R"([1,2])").status, 400);
  EXPECT_EQ(b->call("PUT", "/v1/gateway/routes", "{").status, 400);
  EXPECT_EQ(a->json("GET", "/v1/gateway/routes").value("index", 0), index);

  // A node started later serves them from its start.
  auto c = with_gateway("c", gateway_c);
  ASSERT_TRUE(c && gateway_c > 0);
  EXPECT_EQ(c->json("GET", "/v1/gateway/routes")["routes"].size(), 1u);
  ASSERT_TRUE(c->wait_discovered("order-service", 1));
  EXPECT_EQ(http_call(gateway_c, "GET", "/shop/orders/8").status, 200);

  // Emptied on one node: gone from every gateway (the first path segment names the service again).
  ASSERT_EQ(c->call("PUT", "/v1/gateway/routes", R"({"routes":[]})").status, 200);
  ASSERT_TRUE(wait_until([&] { return http_call(gateway_a, "GET", "/shop/orders/7").status != 200; }, 5s));
  EXPECT_NE(http_call(gateway_a, "GET", "/shop/orders/7").body.find(R"("service":"shop")"), std::string::npos)
      << "routed by its first segment";
}

TEST_F(ClusterMode, AclTokensLiveInEtcdAndHoldOnEveryNode) {
  const std::string root = "cluster-root-secret-0123456789";
  const std::vector<std::string> acl{"--set", "acl.enabled=true", "--set", "acl.bootstrap_token=" + root};
  auto a = node("a", acl);
  auto b = node("b", acl);  // the same bootstrap secret: the cluster is bootstrapped once
  ASSERT_TRUE(a && b);
  const auto as = [](const SvckitdProcess& n, const std::string& secret, const std::string& method,
                     const std::string& target, const std::string& body = {}) {
    return http_call(n.port, method, target, body, {"X-Svckit-Token: " + secret}, 30s);
  };
  const auto tokens = [&](const SvckitdProcess& n) {
    return json::parse(as(n, root, "GET", "/v1/acl/tokens").body, nullptr, false);
  };
  ASSERT_EQ(tokens(*a).size(), 1u) << tokens(*a);
  ASSERT_EQ(tokens(*b), tokens(*a)) << "one bootstrap token, on both nodes";
  const auto root_accessor = tokens(*a)[0].value("AccessorID", "");

  // A token made on node a holds on node b, with its rules.
  const auto made = as(*a, root, "PUT", "/v1/acl/token",
                       R"({"Description": "pay", "Rules": {"service_prefix": {"pay": "write", "": "read"}}})");
  ASSERT_EQ(made.status, 200) << made.body;
  const auto pay = json::parse(made.body);
  const std::string secret = pay["SecretID"];
  const std::string accessor = pay["AccessorID"];
  ASSERT_TRUE(wait_until(
      [&] {
        return as(*b, secret, "POST", "/v1/instances", instance_body("pay", 9100, R"(,"id":"p1")")).status == 200;
      },
      5s));
  EXPECT_EQ(as(*b, secret, "POST", "/v1/instances", instance_body("orders", 9101)).status, 403);
  // Checked cluster-wide: the same secret for a second token, on the other node, is refused.
  const auto again = as(*b, root, "PUT", "/v1/acl/token", R"({"Description": "copy", "SecretID": ")" + secret + "\"}");
  EXPECT_EQ(again.status, 400) << again.body;
  // Tokens made on both nodes at once all land (a node whose copy was behind checks again).
  std::vector<std::future<HttpAnswer>> racing;
  for (int i = 0; i < 12; ++i) {
    const auto& n = i % 2 == 0 ? *a : *b;
    racing.push_back(std::async(std::launch::async, [&, i, port = n.port] {
      return http_call(
          port, "PUT", "/v1/acl/token",
          R"({"Description": "racer )" + std::to_string(i) + R"(", "Rules": {"service_prefix": {"": "read"}}})",
          {"X-Svckit-Token: " + root}, 30s);
    }));
  }
  for (auto& r : racing) {
    const auto answer = r.get();
    EXPECT_EQ(answer.status, 200) << answer.body;
  }
  ASSERT_TRUE(wait_until([&] { return tokens(*a).size() == 14 && tokens(*b).size() == 14; }, 5s)) << tokens(*b);

  // A long poll on node b with the token ends when node a revokes it; b refuses it after.
  const auto index = as(*b, root, "GET", "/v1/services/pay/instances").header("X-Svckit-Index");
  auto poll = std::async(std::launch::async, [&] {
    return http_call(b->port, "GET", "/v1/services/pay/instances?index=" + index + "&wait=60s", "",
                     {"X-Svckit-Token: " + secret}, 90s);
  });
  ASSERT_TRUE(wait_until(
      [&] { return as(*b, root, "GET", "/metrics").body.find("\nsvckit_long_polls_active 1\n") != std::string::npos; },
      10s));
  ASSERT_EQ(as(*a, root, "DELETE", "/v1/acl/token/" + accessor).status, 200);
  ASSERT_EQ(poll.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(poll.get().status, 401);
  EXPECT_EQ(as(*b, secret, "GET", "/v1/services/pay/instances").status, 401);
  // The last management token cannot be revoked, from either node.
  EXPECT_EQ(as(*b, root, "DELETE", "/v1/acl/token/" + root_accessor).status, 400);

  // A node started later with another bootstrap secret loads the cluster's tokens and adds none.
  const std::string other = "another-root-secret-0123456789";
  auto c = node("c", {"--set", "acl.enabled=true", "--set", "acl.bootstrap_token=" + other});
  ASSERT_TRUE(c);
  EXPECT_EQ(as(*c, other, "GET", "/v1/acl/tokens").status, 401);
  EXPECT_EQ(tokens(*c), tokens(*a));
  EXPECT_EQ(tokens(*c).size(), 13u);
}

TEST_F(ClusterMode, ANodeCutOffFromEtcdServesReadsMarkedStaleRefusesWritesAndCatchesUp) {
  auto a = node("a");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->call("POST", "/v1/instances", instance_body("cart", 9200, R"(,"id":"c1")")).status, 200);

  etcd.stop(SIGKILL);
  ASSERT_TRUE(
      wait_until([&] { return a->call("GET", "/v1/services/cart/instances").header("X-Svckit-Stale") == "true"; }, 20s))
      << read_file(dir.path() / "a" / "svckitd.log");
  const auto read = a->call("GET", "/v1/services/cart/instances");
  EXPECT_EQ(read.status, 200);
  EXPECT_EQ(ids(*a, "cart"), std::vector<std::string>{"c1"}) << "reads go on from the cache";
  EXPECT_NE(a->call("GET", "/metrics").body.find("svckit_cluster_store_connected 0"), std::string::npos);
  const auto refused = a->call("POST", "/v1/instances", instance_body("cart", 9201, R"(,"id":"c2")"));
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_EQ(ids(*a, "cart"), std::vector<std::string>{"c1"}) << "a refused write changed nothing";

  start_store();  // the same member, its data kept
  ASSERT_TRUE(
      wait_until([&] { return a->call("GET", "/v1/services/cart/instances").header("X-Svckit-Stale").empty(); }, 20s))
      << read_file(dir.path() / "a" / "svckitd.log");
  ASSERT_EQ(a->call("POST", "/v1/instances", instance_body("cart", 9201, R"(,"id":"c2")")).status, 200);
  EXPECT_EQ(ids(*a, "cart"), (std::vector<std::string>{"c1", "c2"}));
}

TEST_F(ClusterMode, ASilentPartitionFromEtcdIsNoticedAndReadsAreMarkedStale) {
  auto a = node("a");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->call("POST", "/v1/instances", instance_body("cart", 9300, R"(,"id":"s1")")).status, 200);
  // SIGSTOP: etcd's sockets stay open and nothing answers — no reset tells the node.
  ASSERT_EQ(::kill(etcd.pid(), SIGSTOP), 0);
  const auto stopped = std::chrono::steady_clock::now();
  const bool noticed =
      wait_until([&] { return a->call("GET", "/v1/services/cart/instances").header("X-Svckit-Stale") == "true"; }, 20s);
  const auto took = std::chrono::steady_clock::now() - stopped;
  ::kill(etcd.pid(), SIGCONT);
  ASSERT_TRUE(noticed) << read_file(dir.path() / "a" / "svckitd.log");
  std::cout << "a silent partition noticed after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";
  EXPECT_EQ(ids(*a, "cart"), std::vector<std::string>{"s1"}) << "reads go on from the cache";
  // The config store's watch stream is opened again too (on a dead link it would wait forever).
  EXPECT_NE(read_file(dir.path() / "a" / "svckitd.log").find("event=config_replica_reopened"), std::string::npos);
  ASSERT_TRUE(
      wait_until([&] { return a->call("GET", "/v1/services/cart/instances").header("X-Svckit-Stale").empty(); }, 20s));
  ASSERT_EQ(a->call("POST", "/v1/instances", instance_body("cart", 9301, R"(,"id":"s2")")).status, 200);
  EXPECT_EQ(ids(*a, "cart"), (std::vector<std::string>{"s1", "s2"}));
  ASSERT_EQ(a->call("PUT", "/v1/config/keys/cart.mode", R"("blue")").status, 200);
  EXPECT_EQ(a->json("GET", "/v1/config").value("cart", json::object()).value("mode", ""), "blue");
}

TEST_F(ClusterMode, AnEtcdRestoredFromABackupIsNoticedAndTheNodeReloadsEverything) {
  auto a = node("a");
  ASSERT_TRUE(a);
  ASSERT_EQ(a->call("POST", "/v1/instances", instance_body("cart", 9300, R"(,"id":"kept")")).status, 200);
  ASSERT_EQ(a->call("PUT", "/v1/config/keys/cart.mode", R"("backup")").status, 200);
  const auto endpoint = "127.0.0.1:" + std::to_string(etcd_node.client_port);
  const auto backup = (dir.path() / "backup.db").string();
  auto save = ChildProcess::spawn({"etcdctl", "--endpoints", endpoint, "snapshot", "save", backup},
                                  dir.path() / "save.log", {"ETCDCTL_API=3"});
  ASSERT_TRUE(save);
  ASSERT_EQ(WEXITSTATUS(save->wait_exit(30s)), 0) << read_file(dir.path() / "save.log");
  // Written after the backup: gone once etcd is restored from it.
  ASSERT_EQ(a->call("POST", "/v1/instances", instance_body("cart", 9301, R"(,"id":"lost-1")")).status, 200);
  ASSERT_EQ(a->call("POST", "/v1/instances", instance_body("cart", 9302, R"(,"id":"lost-2")")).status, 200);
  ASSERT_EQ(a->call("PUT", "/v1/config/keys/cart.mode", R"("later")").status, 200);
  const auto later = a->call("GET", "/v1/services/cart/instances").header("X-Svckit-Index");
  const auto later_config = a->call("GET", "/v1/config").header("X-Svckit-Config-Version");

  etcd.stop(SIGKILL);
  fs::remove_all(dir.path() / etcd_node.name);
  const auto peer = "http://127.0.0.1:" + std::to_string(etcd_node.peer_port);
  auto restore = ChildProcess::spawn(
      {"etcdctl", "snapshot", "restore", backup, "--data-dir", (dir.path() / etcd_node.name).string(), "--name",
       etcd_node.name, "--initial-cluster", etcd_node.name + "=" + peer, "--initial-advertise-peer-urls", peer},
      dir.path() / "restore.log", {"ETCDCTL_API=3"});
  ASSERT_TRUE(restore);
  ASSERT_EQ(WEXITSTATUS(restore->wait_exit(30s)), 0) << read_file(dir.path() / "restore.log");
  start_store();

  // The node notices (its probe: etcd's revision is below what it applied) and reloads.
  ASSERT_TRUE(wait_until([&] { return ids(*a, "cart") == std::vector<std::string>{"kept"}; }, 20s))
      << a->call("GET", "/v1/services/cart/instances").body << read_file(dir.path() / "a" / "svckitd.log");
  EXPECT_NE(read_file(dir.path() / "a" / "svckitd.log").find("event=cluster_store_rewound"), std::string::npos);
  ASSERT_TRUE(wait_until(
      [&] { return a->json("GET", "/v1/config").value("cart", json::object()).value("mode", "") == "backup"; }, 20s))
      << a->call("GET", "/v1/config").body;
  // A watch from an index of the lost timeline gets the whole state at once, not a wait.
  const auto watched = a->call("GET", "/v1/watch?index=" + later + "&wait=20s");
  ASSERT_EQ(watched.status, 200);
  const auto body = json::parse(watched.body, nullptr, false);
  EXPECT_TRUE(body.value("reset", false)) << watched.body;
  // So does a config long poll from a version of the lost timeline: the document as restored.
  const auto polled = a->call("GET", "/v1/config?index=" + later_config + "&wait=20s");
  ASSERT_EQ(polled.status, 200) << polled.body;
  EXPECT_EQ(json::parse(polled.body, nullptr, false).value("cart", json::object()).value("mode", ""), "backup");
  EXPECT_LT(std::stoull(polled.header("X-Svckit-Config-Version")), std::stoull(later_config));
  // And writes go on.
  ASSERT_EQ(a->call("POST", "/v1/instances", instance_body("cart", 9303, R"(,"id":"after")")).status, 200);
  EXPECT_EQ(ids(*a, "cart"), (std::vector<std::string>{"after", "kept"}));
}

TEST_F(ClusterMode, EachInstanceIsCheckedByOneNodeAndADeadNodesShareMovesToTheOthers) {
  constexpr int kInstances = 16;
  const std::vector<std::string> ttl{"--set", "cluster.member_ttl=2s"};
  auto a = node("node-a", ttl);
  auto b = node("node-b", ttl);
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(wait_until([&] { return members(*a)["members"].size() == 2 && members(*b)["members"].size() == 2; }, 10s))
      << members(*a).dump();
  IoThread io;
  std::vector<std::unique_ptr<FaultServer>> upstreams;
  for (int i = 0; i < kInstances; ++i) {
    upstreams.push_back(std::make_unique<FaultServer>(io.io(), "u" + std::to_string(i)));
    const auto body = instance_body("inv", upstreams.back()->port(),
                                    R"(,"id":"i)" + std::to_string(i) +
                                        R"(","checks":[{"type":"http","path":"/health","interval":"1s",)"
                                        R"("timeout":"500ms","unhealthy_threshold":1,"healthy_threshold":1}])");
    ASSERT_EQ(a->call("POST", "/v1/instances", body).status, 200);
  }
  // Every instance checked, each by one node: the shares add up, and both nodes have one.
  ASSERT_TRUE(wait_until([&] { return checked_here(*a) + checked_here(*b) == kInstances; }, 10s))
      << members(*a).dump() << members(*b).dump();
  EXPECT_GT(checked_here(*a), 0u);
  EXPECT_GT(checked_here(*b), 0u);
  const auto listed = members(*a);
  std::size_t listed_total = 0;
  for (const auto& m : listed["members"]) listed_total += m.value("checked_instances", std::size_t{0});
  EXPECT_EQ(listed_total, std::size_t{kInstances}) << listed.dump();
  const auto cli =
      run_cli(dir.path(),
              {"--registry", "svckitd://127.0.0.1:" + std::to_string(b->port) + ",127.0.0.1:" + std::to_string(a->port),
               "members"});
  EXPECT_EQ(cli.exit_code, 0) << cli.output;
  EXPECT_NE(cli.output.find("node-a"), std::string::npos) << cli.output;
  EXPECT_NE(cli.output.find("node-b *"), std::string::npos) << cli.output;
  EXPECT_NE(cli.output.find("(connected"), std::string::npos) << cli.output;

  // node-b dies without leaving: when its lease runs out, node-a takes over all the checks.
  const auto b_share = checked_here(*b);
  const auto killed = std::chrono::steady_clock::now();
  b->process.stop(SIGKILL);
  ASSERT_TRUE(wait_until([&] { return checked_here(*a) == kInstances; }, 15s)) << members(*a).dump();
  std::cout << "node-b's " << b_share << " instances moved to node-a "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed).count()
            << " ms after SIGKILL (member_ttl 2s, check interval 1s)\n";
  // The checks really run there: an upstream that starts failing turns unhealthy.
  for (const auto& u : upstreams) u->answer_status(500);
  ASSERT_TRUE(wait_until(
      [&] {
        const auto listed_now = a->json("GET", "/v1/services/inv/instances");
        if (!listed_now.is_object()) return false;  // a call that failed (slow under TSan): ask again
        for (const auto& in : listed_now.value("instances", json::array())) {
          if (in.value("status", "") != "unhealthy") return false;
        }
        return true;
      },
      10s))
      << a->call("GET", "/v1/services/inv/instances").body << "\nnode-a's log (tail):\n"
      << [&] {
           std::ifstream in(dir.path() / "node-a" / "svckitd.log");
           const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
           const auto report = text.find("WARNING: ThreadSanitizer");
           if (report != std::string::npos) return text.substr(report);
           return text.substr(text.size() > 6000 ? text.size() - 6000 : 0);
         }();
}

/// A client that knows every node: each call goes to the node it last reached, and on a failed
/// connection or a 503 to the next one (as svckitd:// and the CLI do), until `give_up`.
class FailoverClient {
 public:
  explicit FailoverClient(std::vector<int> ports) : ports_(std::move(ports)) {}
  HttpAnswer call(const std::string& method, const std::string& target, const std::string& body = {},
                  std::chrono::milliseconds timeout = 10s, std::chrono::milliseconds give_up = 15s) {
    const auto deadline = std::chrono::steady_clock::now() + give_up;
    HttpAnswer answer;
    for (;;) {
      answer = http_call(ports_[current_], method, target, body, {}, timeout);
      if (answer.status != 0 && answer.status != 503) return answer;
      ++failovers_;
      current_ = (current_ + 1) % ports_.size();
      if (std::chrono::steady_clock::now() >= deadline) return answer;
      std::this_thread::sleep_for(50ms);  // a retry's pause, as a client backs off
    }
  }
  int failovers() const { return failovers_; }

 private:
  std::vector<int> ports_;
  std::size_t current_ = 0;
  int failovers_ = 0;
};

TEST(ClusterFailover, ANodeThenTheEtcdLeaderDieUnderLoadAndNothingAcknowledgedIsLostOrSeenTwice) {
  TempDir dir;
  auto etcd = start_etcd_cluster(dir.path(), 3);
  ASSERT_TRUE(etcd) << etcd.error().describe();
  const auto store = "etcd://" + etcd->endpoints + "?prefix=/failover";
  std::vector<std::unique_ptr<SvckitdProcess>> nodes;
  std::vector<int> apis, gateways;
  for (int i = 0; i < 3; ++i) {
    const auto name = "node-" + std::to_string(i);
    fs::create_directories(dir.path() / name);
    const auto port_file = dir.path() / name / "gateway.port";
    nodes.push_back(SvckitdProcess::start(
        dir.path() / name, {"--store", store, "--gateway-port", "0", "--set", "gateway.port_file=" + port_file.string(),
                            "--set", "cluster.node_name=" + name, "--set", "cluster.member_ttl=2s"}));
    ASSERT_TRUE(nodes.back());
    ASSERT_TRUE(wait_until([&] { return read_file(port_file).find('\n') != std::string::npos; }, 10s));
    apis.push_back(nodes.back()->port);
    gateways.push_back(std::atoi(read_file(port_file).c_str()));
  }
  IoThread io;
  FaultServer web1(io.io(), "web-1"), web2(io.io(), "web-2");
  const std::string checks = R"(,"checks":[{"type":"http","path":"/health","interval":"1s","timeout":"500ms"}])";
  ASSERT_EQ(nodes[0]->call("POST", "/v1/instances", instance_body("web", web1.port(), R"(,"id":"w1")" + checks)).status,
            200);
  ASSERT_EQ(nodes[0]->call("POST", "/v1/instances", instance_body("web", web2.port(), R"(,"id":"w2")" + checks)).status,
            200);
  for (const auto& n : nodes) ASSERT_TRUE(n->wait_discovered("web", 2));
  ASSERT_TRUE(wait_until(
      [&] {
        std::size_t total = 0;
        for (const auto& n : nodes) total += n->json("GET", "/v1/cluster/members")["store"].value("checked_here", 0);
        return total == 2;
      },
      10s));
  const auto start_index = nodes[0]->call("GET", "/v1/services/load/instances").header("X-Svckit-Index");

  std::atomic<bool> stop{false};
  // Writer: persistent registrations one after another, each retried until a node acknowledges it.
  std::vector<std::string> acknowledged;  // read once the writer is done
  std::atomic<std::size_t> acked{0};
  std::thread writer([&] {
    FailoverClient client(apis);
    for (int i = 0; !stop; ++i) {
      const auto id = "r" + std::to_string(i);
      if (client.call("POST", "/v1/instances", instance_body("load", 10000 + i, R"(,"id":")" + id + "\"")).status ==
          200) {
        acknowledged.push_back(id);
        ++acked;
      }
    }
  });
  // Watcher: long polls from its index, moving to another node when its node goes away.
  std::vector<std::pair<std::uint64_t, std::string>> seen;  // (index, id) of each registration event
  std::mutex seen_mutex;                                    // guards seen while the watcher runs
  std::atomic<bool> stop_watching{false};                   // after the writer: once it saw them all
  std::string watch_index = start_index;
  std::thread watcher([&] {
    FailoverClient client({apis[1], apis[2], apis[0]});  // starts on the node that will die
    while (!stop_watching) {
      const auto answer = client.call("GET", "/v1/watch?service=load&wait=1s&index=" + watch_index, {}, 10s);
      if (answer.status != 200) continue;
      const auto body = json::parse(answer.body, nullptr, false);
      ASSERT_FALSE(body.value("reset", false)) << "a resumed watch never starts over: " << answer.body;
      for (const auto& e : body.value("events", json::array())) {
        if (e.value("type", "") == "registered") {
          const std::lock_guard lock(seen_mutex);
          seen.emplace_back(e.value("index", std::uint64_t{0}), e["instance"].value("id", ""));
        }
      }
      watch_index = answer.header("X-Svckit-Index");
    }
  });
  // Gateway reader: idempotent GETs through whichever gateway answers.
  int gets = 0;
  int failed_gets = 0;
  std::thread reader([&] {
    FailoverClient client({gateways[1], gateways[0], gateways[2]});
    while (!stop) {
      const auto answer = client.call("GET", "/web/item", {}, 5s, 10s);
      ++gets;
      if (answer.status != 200) ++failed_gets;
    }
  });

  const auto wait_for_acks = [&](std::size_t more) {
    const auto target = acked.load() + more;
    return wait_until([&] { return acked.load() >= target; }, 20s);
  };
  EXPECT_TRUE(wait_for_acks(30));
  nodes[1]->process.stop(SIGKILL);  // node-1: the watcher's and the reader's first node
  const auto killed = std::chrono::steady_clock::now();
  EXPECT_TRUE(wait_for_acks(30));
  const auto leader = etcd_leader(*etcd);
  ASSERT_LT(leader, etcd->members.size());
  etcd->members[leader].stop(SIGKILL);
  EXPECT_TRUE(wait_for_acks(30));
  // The dead node's checks resumed on the others within two intervals after its lease ran out.
  EXPECT_TRUE(wait_until(
      [&] {
        return nodes[0]->json("GET", "/v1/cluster/members")["store"].value("checked_here", 0) +
                   nodes[2]->json("GET", "/v1/cluster/members")["store"].value("checked_here", 0) ==
               2;
      },
      10s));
  std::cout << "checks of node-1 resumed elsewhere "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - killed).count()
            << " ms after its SIGKILL (member_ttl 2s)\n";
  stop = true;
  writer.join();  // its last call may be acknowledged after `stop`: the watcher goes on until it saw it
  reader.join();
  const auto last = acknowledged.empty() ? std::string() : acknowledged.back();
  EXPECT_TRUE(wait_until(
      [&] {
        const std::lock_guard lock(seen_mutex);
        return std::any_of(seen.begin(), seen.end(), [&](const auto& s) { return s.second == last; });
      },
      20s))
      << "the watcher never saw " << last;
  stop_watching = true;
  watcher.join();

  // Nothing acknowledged is lost: every node that is up lists every acknowledged registration.
  for (const int i : {0, 2}) {
    std::set<std::string> listed;
    for (const auto& in : nodes[i]->json("GET", "/v1/services/load/instances").value("instances", json::array())) {
      listed.insert(in.value("id", ""));
    }
    for (const auto& id : acknowledged) EXPECT_EQ(listed.count(id), 1u) << id << " missing on node-" << i;
  }
  // The watcher saw each registration exactly once, in index order, across its failovers.
  std::map<std::string, int> times;
  for (const auto& [index, id] : seen) ++times[id];
  for (const auto& id : acknowledged) EXPECT_EQ(times[id], 1) << id;
  for (std::size_t k = 1; k < seen.size(); ++k) EXPECT_LT(seen[k - 1].first, seen[k].first) << k;
  EXPECT_EQ(failed_gets, 0) << "of " << gets << " gateway GETs";
  std::cout << acknowledged.size() << " registrations acknowledged, " << seen.size() << " seen by the watcher, " << gets
            << " gateway GETs (" << failed_gets << " failed)\n";
}

TEST(ClusterClient, ASvckitdUrlOfSeveralNodesMovesPastOneThatAnswers503) {
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path());
  ASSERT_TRUE(daemon);
  IoThread io;
  FaultServer cut_off(io.io(), "cut-off");  // a node that cannot store writes now
  cut_off.answer_status(503);
  RealTimeSource time;
  FakeRandom random;
  RegistryPlugins::Builder builder;
  register_builtin_plugins(builder);
  const auto plugins = std::move(builder).build();
  auto registry = plugins.create(
      "svckitd://127.0.0.1:" + std::to_string(cut_off.port()) + ",127.0.0.1:" + std::to_string(daemon->port),
      RegistryDeps{io.executor(), time, random});
  ASSERT_TRUE(registry) << registry.error().describe();
  const auto stored = io.run([&]() -> Awaitable<Result<ServiceInstance>> {
    co_return co_await (*registry)->register_instance(test_instance("web", 9000));
  });
  ASSERT_TRUE(stored) << stored.error().describe();
  EXPECT_EQ(cut_off.hits(), 1) << "asked first, answered 503";
  EXPECT_EQ(daemon->json("GET", "/v1/services/web/instances")["instances"].size(), 1u) << "the next node took it";
  const auto again = io.run([&]() -> Awaitable<Result<std::vector<ServiceInstance>>> {
    co_return co_await (*registry)->list("web", InstanceFilter{});
  });
  ASSERT_TRUE(again);
  EXPECT_EQ(cut_off.hits(), 1) << "the node that answered is asked first from then on";
}

TEST(ClusterModeStart, SharedGatewayRoutesNeedTheClusterStore) {
  TempDir dir;
  auto embedded = SvckitdProcess::start(dir.path());
  ASSERT_TRUE(embedded);
  EXPECT_EQ(embedded->json("GET", "/v1/gateway/routes").value("mode", ""), "embedded");
  const auto refused = embedded->call("PUT", "/v1/gateway/routes", R"({"routes":[]})");
  EXPECT_EQ(refused.status, 400);
  EXPECT_EQ(json::parse(refused.body, nullptr, false)["error"].value("field", ""), "store") << refused.body;
}

TEST(ClusterModeStart, AStoreThatIsNotEtcdOrBesideASnapshotOrTokensFileIsRefusedNamingTheSetting) {
  TempDir dir;
  auto other =
      ChildProcess::spawn({SVCKITD_BIN, "--port", "0", "--store", "redis://127.0.0.1:1"}, dir.path() / "a.log");
  ASSERT_TRUE(other);
  EXPECT_EQ(WEXITSTATUS(other->wait_exit(10s)), 2);
  EXPECT_NE(read_file(dir.path() / "a.log").find("[store]"), std::string::npos) << read_file(dir.path() / "a.log");
  auto both = ChildProcess::spawn({SVCKITD_BIN, "--port", "0", "--store", "etcd://127.0.0.1:1", "--snapshot-file",
                                   (dir.path() / "s.json").string()},
                                  dir.path() / "b.log");
  ASSERT_TRUE(both);
  EXPECT_EQ(WEXITSTATUS(both->wait_exit(10s)), 2);
  EXPECT_NE(read_file(dir.path() / "b.log").find("[snapshot_file]"), std::string::npos);
  auto tokens_file = ChildProcess::spawn({SVCKITD_BIN, "--port", "0", "--store", "etcd://127.0.0.1:1", "--set",
                                          "acl.tokens_file=" + (dir.path() / "t.json").string()},
                                         dir.path() / "t.log");
  ASSERT_TRUE(tokens_file);
  EXPECT_EQ(WEXITSTATUS(tokens_file->wait_exit(10s)), 2);
  EXPECT_NE(read_file(dir.path() / "t.log").find("[acl.tokens_file]"), std::string::npos)
      << read_file(dir.path() / "t.log");
  auto unreachable = ChildProcess::spawn(
      {SVCKITD_BIN, "--port", "0", "--store", "etcd://127.0.0.1:1", "--set", "store_start_timeout=1s"},
      dir.path() / "c.log");
  ASSERT_TRUE(unreachable);
  EXPECT_EQ(WEXITSTATUS(unreachable->wait_exit(20s)), 2);
  EXPECT_NE(read_file(dir.path() / "c.log").find("[store]"), std::string::npos) << read_file(dir.path() / "c.log");
}

}  // namespace
}  // namespace svckit::testing
