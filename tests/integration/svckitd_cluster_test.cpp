// svckitd in cluster mode (`--store etcd://...`): several svckitd processes over one real etcd serve
// one registry. A write on one node is read back at once on that node and reaches the others; the
// index is etcd's revision on every node, so a watch continues on another node from its index; a
// TTL instance is kept alive by heartbeats sent to any node and expires once; a node cut off from
// etcd answers reads from its cache marked stale, refuses writes with 503, and catches up when
// etcd is back.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <csignal>
#include <future>
#include <nlohmann/json.hpp>

#include "svckit/testing/servers.hpp"
#include "svckitd_process.hpp"

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
    return "etcd://127.0.0.1:" + std::to_string(etcd_node.client_port) + "?prefix=/cluster-test";
  }
  std::unique_ptr<SvckitdProcess> node(const std::string& name) {
    fs::create_directories(dir.path() / name);
    return SvckitdProcess::start(dir.path() / name, {"--store", store_url(), "--log-level", "debug"});
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

  TempDir dir;
  EtcdNode etcd_node;
  ChildProcess etcd;
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

TEST_F(ClusterMode, HeartbeatsToAnyNodeKeepATtlInstanceAliveAndItExpiresEverywhere) {
  auto a = node("a");
  auto b = node("b");
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->call("POST", "/v1/instances", instance_body("pay", 9100, R"(,"id":"p1","ttl":"2s")")).status, 200);
  ASSERT_EQ(a->call("PUT", "/v1/services/pay/instances/p1/status", R"({"status":"healthy"})").status, 200);
  // Heartbeats to B only, for three TTLs: alive on both nodes all along.
  const auto until = std::chrono::steady_clock::now() + 6s;
  while (std::chrono::steady_clock::now() < until) {
    ASSERT_EQ(b->call("PUT", "/v1/services/pay/instances/p1/heartbeat").status, 200);
    EXPECT_EQ(status_of(*a, "pay", "p1"), "healthy");
    EXPECT_EQ(status_of(*b, "pay", "p1"), "healthy");
    std::this_thread::sleep_for(400ms);  // the client's heartbeat period, not a wait for an event
  }
  // Heartbeats stop: etcd's lease runs out once, and both nodes list the instance down.
  ASSERT_TRUE(
      wait_until([&] { return status_of(*a, "pay", "p1") == "down" && status_of(*b, "pay", "p1") == "down"; }, 15s))
      << a->call("GET", "/v1/services/pay/instances").body;
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

TEST(ClusterModeStart, AStoreThatIsNotEtcdOrBesideASnapshotFileIsRefusedNamingTheSetting) {
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
  auto unreachable = ChildProcess::spawn(
      {SVCKITD_BIN, "--port", "0", "--store", "etcd://127.0.0.1:1", "--set", "store_start_timeout=1s"},
      dir.path() / "c.log");
  ASSERT_TRUE(unreachable);
  EXPECT_EQ(WEXITSTATUS(unreachable->wait_exit(20s)), 2);
  EXPECT_NE(read_file(dir.path() / "c.log").find("[store]"), std::string::npos) << read_file(dir.path() / "c.log");
}

}  // namespace
}  // namespace svckit::testing
