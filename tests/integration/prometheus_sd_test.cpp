// A real Prometheus (Debian's 2.42) finds svckitd's registered instances through svckitd's
// http_sd endpoint and scrapes them: up == 1 for a live instance, up == 0 for a dead one, the
// labels svckitd gives arrive on the series, and registrations and deregistrations reach
// Prometheus's target list at its next refresh. The same through svckitd's Eureka API
// (eureka_sd_configs) and its DNS interface (dns_sd_configs, SRV records).
#include <gtest/gtest.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "svckit/testing/servers.hpp"
#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

/// Prometheus's active targets of `job` as {id → health ("up"/"down"/"unknown")}, the id being the
/// target's `id_label` (a label it keeps, else one it was discovered with); `raw` gets each target.
std::map<std::string, std::string> target_health(int prometheus_port, json* raw = nullptr,
                                                 const std::string& job = "svckit",
                                                 const std::string& id_label = "svckit_instance") {
  std::map<std::string, std::string> out;
  auto answer = http_call(prometheus_port, "GET", "/api/v1/targets?state=active");
  auto body = json::parse(answer.body, nullptr, false);
  if (!body.is_object() || !body.contains("data")) return out;
  for (const auto& t : body["data"].value("activeTargets", json::array())) {
    if (t["labels"].value("job", "") != job) continue;
    const auto id = t["labels"].value(id_label, t["discoveredLabels"].value(id_label, std::string("?")));
    out[id] = t.value("health", "");
    if (raw != nullptr) (*raw)[id] = t;
  }
  return out;
}

/// The value of `up` per svckit_instance from Prometheus's query API.
std::map<std::string, std::string> up_values(int prometheus_port) {
  std::map<std::string, std::string> out;
  auto answer = http_call(prometheus_port, "GET", "/api/v1/query?query=up%7Bjob%3D%22svckit%22%7D");
  auto body = json::parse(answer.body, nullptr, false);
  if (!body.is_object() || !body.contains("data")) return out;
  for (const auto& r : body["data"].value("result", json::array())) {
    out[r["metric"].value("svckit_instance", "?")] = r["value"][1].get<std::string>();
  }
  return out;
}

/// A Prometheus config that scrapes every second one job, `job`, whose targets come from one
/// service-discovery block (`kind`, e.g. http_sd_configs, with its `first_line` setting) refreshed
/// every second.
std::string scrape_config(const std::string& job, const std::string& kind, const std::string& first_line) {
  return "global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\n"
         "scrape_configs:\n"
         "  - job_name: " +
         job + "\n    " + kind + ":\n      - " + first_line + "\n        refresh_interval: 1s\n";
}

TEST(PrometheusSd, RealPrometheusDiscoversThroughSvckitdAndScrapesTheInstances) {
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path());
  ASSERT_NE(daemon, nullptr);
  // "live" is svckitd itself (it serves /metrics); "dead" listens nowhere; "hidden" opts out of
  // scraping; "elsewhere" is a service the scrape config does not ask for.
  const int dead_port = free_port();
  ASSERT_EQ(daemon
                ->call("POST", "/v1/instances",
                       instance_body("shop", daemon->port,
                                     R"(,"id":"live","zone":"z1","tags":["api","v2"],)"
                                     R"("metadata":{"version":"1.2","prometheus.io/path":"/metrics"})"))
                .status,
            200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("shop", dead_port, R"(,"id":"dead")")).status, 200);
  ASSERT_EQ(
      daemon
          ->call("POST", "/v1/instances",
                 instance_body("shop", daemon->port, R"(,"id":"hidden","metadata":{"prometheus.io/scrape":"false"})"))
          .status,
      200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("elsewhere", daemon->port, R"(,"id":"other")")).status,
            200);

  const std::string config =
      scrape_config("svckit", "http_sd_configs",
                    "url: http://127.0.0.1:" + std::to_string(daemon->port) + "/v1/prometheus/sd?service=shop");
  TempDir prometheus_dir;
  int prometheus_port = 0;
  auto prometheus = start_prometheus(prometheus_dir.path(), config, prometheus_port);
  ASSERT_TRUE(prometheus) << prometheus.error().message;

  // Both shop instances that may be scraped become targets; one up, one down.
  const std::map<std::string, std::string> want{{"dead", "down"}, {"live", "up"}};
  ASSERT_TRUE(wait_until([&] { return target_health(prometheus_port) == want; }, 30s))
      << http_call(prometheus_port, "GET", "/api/v1/targets").body;
  json raw = json::object();
  target_health(prometheus_port, &raw);
  const auto& discovered = raw["live"]["discoveredLabels"];
  EXPECT_EQ(discovered.value("__meta_svckit_zone", ""), "z1");
  EXPECT_EQ(discovered.value("__meta_svckit_tags", ""), ",api,v2,");
  EXPECT_EQ(discovered.value("__meta_svckit_tagpresent_v2", ""), "true");
  EXPECT_EQ(discovered.value("__meta_svckit_metadata_version", ""), "1.2");
  EXPECT_EQ(discovered.value("__meta_svckit_status", ""), "healthy");
  EXPECT_EQ(raw["live"]["labels"].value("svckit_service", ""), "shop");
  EXPECT_EQ(raw["live"]["scrapeUrl"], "http://127.0.0.1:" + std::to_string(daemon->port) + "/metrics");

  // The scrape results are queryable, labelled by svckitd's labels.
  const std::map<std::string, std::string> want_up{{"dead", "0"}, {"live", "1"}};
  EXPECT_TRUE(wait_until([&] { return up_values(prometheus_port) == want_up; }, 30s))
      << http_call(prometheus_port, "GET", "/api/v1/query?query=up").body;
  // svckitd's own series came through the scrape (its gauge of registered instances per service).
  EXPECT_TRUE(wait_until(
      [&] {
        return http_call(prometheus_port, "GET", "/api/v1/query?query=svckit_instances_active").body.find("\"shop\"") !=
               std::string::npos;
      },
      30s));

  // A deregistration and a registration reach Prometheus at its next refresh.
  ASSERT_EQ(daemon->call("DELETE", "/v1/services/shop/instances/dead").status, 200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("shop", daemon->port, R"(,"id":"second")")).status,
            200);
  const std::map<std::string, std::string> after{{"live", "up"}, {"second", "up"}};
  EXPECT_TRUE(wait_until([&] { return target_health(prometheus_port) == after; }, 30s))
      << http_call(prometheus_port, "GET", "/api/v1/targets").body;
}

TEST(PrometheusSd, RealPrometheusDiscoversThroughSvckitdsEurekaApi) {
  // Prometheus's eureka_sd_configs reads Eureka's XML (it sends no Accept header): svckitd answers
  // it so, and Prometheus scrapes what it finds there.
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path());
  ASSERT_NE(daemon, nullptr);
  const int dead_port = free_port();
  ASSERT_EQ(daemon
                ->call("POST", "/v1/instances",
                       instance_body("shop", daemon->port, R"(,"id":"live","metadata":{"version":"1.2"})"))
                .status,
            200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("shop", dead_port, R"(,"id":"dead")")).status, 200);
  const std::string config = scrape_config("eureka", "eureka_sd_configs",
                                           "server: http://127.0.0.1:" + std::to_string(daemon->port) + "/eureka");
  TempDir prometheus_dir;
  int prometheus_port = 0;
  auto prometheus = start_prometheus(prometheus_dir.path(), config, prometheus_port);
  ASSERT_TRUE(prometheus) << prometheus.error().message;
  // {instance id -> health} of job "eureka", by the label Prometheus's Eureka discovery sets.
  const auto health = [&](json* raw) {
    return target_health(prometheus_port, raw, "eureka", "__meta_eureka_app_instance_id");
  };
  const std::map<std::string, std::string> want{{"dead", "down"}, {"live", "up"}};
  ASSERT_TRUE(wait_until([&] { return health(nullptr) == want; }, 30s))
      << http_call(prometheus_port, "GET", "/api/v1/targets").body;
  json raw = json::object();
  health(&raw);
  const auto& discovered = raw["live"]["discoveredLabels"];
  EXPECT_EQ(discovered.value("__meta_eureka_app_name", ""), "SHOP");
  EXPECT_EQ(discovered.value("__meta_eureka_app_instance_status", ""), "UP");
  EXPECT_EQ(discovered.value("__meta_eureka_app_instance_metadata_version", ""), "1.2");
  EXPECT_EQ(raw["live"]["scrapeUrl"], "http://127.0.0.1:" + std::to_string(daemon->port) + "/metrics");
}

/// The namespace a /proc/<pid>/ns/ link names (e.g. "net:[4026531840]").
std::string namespace_of(const std::string& pid, const char* kind) {
  std::error_code ec;
  return std::filesystem::read_symlink("/proc/" + pid + "/ns/" + kind, ec).string();
}

/// Prepares the private network and mount namespace the `prometheus_dns_sd` ctest entry runs this
/// process in: loopback up, and /etc/resolv.conf (bind-mounted over, in this mount namespace only)
/// naming 127.0.0.1, where svckitd's DNS interface will listen on port 53. Prometheus's DNS
/// discovery asks the system resolver and has no port setting, so this is the only way to point
/// it at svckitd without a resolver in between. An empty answer: ready; else why not.
std::string enter_private_network(const std::filesystem::path& dir) {
  if (const char* on = std::getenv("SVCKIT_TEST_PRIVATE_NETWORK"); on == nullptr || std::string(on) != "1") {
    return "runs in a network namespace of its own: ctest -R prometheus_dns_sd";
  }
  // Never touch the machine's resolver: both namespaces must differ from PID 1's.
  if (namespace_of("self", "net") == namespace_of("1", "net") ||
      namespace_of("self", "mnt") == namespace_of("1", "mnt")) {
    return "SVCKIT_TEST_PRIVATE_NETWORK=1 but this process shares PID 1's network or mount namespace";
  }
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  ifreq lo{};
  std::strncpy(lo.ifr_name, "lo", IFNAMSIZ - 1);
  const bool up =
      fd >= 0 && ::ioctl(fd, SIOCGIFFLAGS, &lo) == 0 && (lo.ifr_flags |= IFF_UP, ::ioctl(fd, SIOCSIFFLAGS, &lo) == 0);
  const int up_errno = errno;
  if (fd >= 0) ::close(fd);
  if (!up) return std::string("cannot bring loopback up: ") + std::strerror(up_errno);
  const auto resolv = dir / "resolv.conf";
  std::ofstream(resolv) << "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n";
  if (::mount(resolv.c_str(), "/etc/resolv.conf", nullptr, MS_BIND, nullptr) != 0) {
    return std::string("cannot bind-mount /etc/resolv.conf: ") + std::strerror(errno);
  }
  return {};
}

TEST(PrometheusDnsSd, RealPrometheusDiscoversThroughSvckitdsDnsInterface) {
  TempDir dir;
  if (const auto why = enter_private_network(dir.path()); !why.empty()) GTEST_SKIP() << why;
  auto daemon = SvckitdProcess::start(dir.path(), {"--set", "dns.port=53", "--set", "dns.address=127.0.0.1", "--set",
                                                   "dns.ttl=1s", "--set", "dns.negative_ttl=1s"});
  ASSERT_NE(daemon, nullptr);
  // "live" is svckitd itself (it serves /metrics); "dead" listens nowhere; "resting" is in
  // maintenance, so the DNS interface does not answer it (healthy instances only).
  const int dead_port = free_port(), resting_port = free_port();
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("shop", daemon->port, R"(,"id":"live")")).status, 200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("shop", dead_port, R"(,"id":"dead")")).status, 200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("shop", resting_port, R"(,"id":"resting")")).status,
            200);
  ASSERT_EQ(daemon->call("PUT", "/v1/services/shop/instances/resting/status", R"({"status":"maintenance"})").status,
            200);

  const std::string config = scrape_config("dns", "dns_sd_configs", "names: [shop.service.svckit]\n        type: SRV");
  TempDir prometheus_dir;
  int prometheus_port = 0;
  auto prometheus = start_prometheus(prometheus_dir.path(), config, prometheus_port);
  ASSERT_TRUE(prometheus) << prometheus.error().message;
  // {SRV port -> health}: the SRV records' targets are <hex>.addr.svckit names, which Prometheus
  // resolves through svckitd again when it scrapes.
  const auto health = [&](json* raw) {
    return target_health(prometheus_port, raw, "dns", "__meta_dns_srv_record_port");
  };
  const std::map<std::string, std::string> want{{std::to_string(dead_port), "down"},
                                                {std::to_string(daemon->port), "up"}};
  ASSERT_TRUE(wait_until([&] { return health(nullptr) == want; }, 30s))
      << http_call(prometheus_port, "GET", "/api/v1/targets").body;
  json raw = json::object();
  health(&raw);
  const auto& live = raw[std::to_string(daemon->port)];
  EXPECT_EQ(live["discoveredLabels"].value("__meta_dns_name", ""), "shop.service.svckit");
  EXPECT_EQ(live["discoveredLabels"].value("__meta_dns_srv_record_target", ""), "7f000001.addr.svckit.");
  EXPECT_EQ(live["scrapeUrl"], "http://7f000001.addr.svckit:" + std::to_string(daemon->port) + "/metrics");

  // Out of maintenance, "resting" is answered and becomes a target; "dead" deregistered leaves.
  ASSERT_EQ(daemon->call("PUT", "/v1/services/shop/instances/resting/status", R"({"status":"healthy"})").status, 200);
  ASSERT_EQ(daemon->call("DELETE", "/v1/services/shop/instances/dead").status, 200);
  const std::map<std::string, std::string> after{{std::to_string(resting_port), "down"},
                                                 {std::to_string(daemon->port), "up"}};
  EXPECT_TRUE(wait_until([&] { return health(nullptr) == after; }, 30s))
      << http_call(prometheus_port, "GET", "/api/v1/targets").body;
}

/// The first value of an instant query's result, or -1.
double query_value(int prometheus_port, const std::string& encoded_query) {
  auto body =
      json::parse(http_call(prometheus_port, "GET", "/api/v1/query?query=" + encoded_query).body, nullptr, false);
  if (!body.is_object() || !body.contains("data") || body["data"]["result"].empty()) return -1;
  return std::stod(body["data"]["result"][0]["value"][1].get<std::string>());
}

TEST(PrometheusSd, RealPrometheusScrapesTheDemoShopFoundThroughSvckitd) {
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path());
  ASSERT_NE(daemon, nullptr);
  std::vector<ChildProcess> shop;
  int order_port = 0;
  for (const char* role : {"product", "product", "user", "order"}) {
    int port = 0;
    auto child = start_listening_binary(
        {SHOP_SERVICE_BIN, "--role", role, "--registry", daemon->url(), "--ttl", "3s", "--check-every", "500ms"},
        dir.path(), port);
    ASSERT_TRUE(child.ok()) << child.error().message;
    shop.push_back(std::move(*child));
    order_port = port;  // the last one
  }
  const std::string config = scrape_config("svckit", "http_sd_configs",
                                           "url: http://127.0.0.1:" + std::to_string(daemon->port) +
                                               "/v1/prometheus/sd?service=product-service,user-service,order-service");
  TempDir prometheus_dir;
  int prometheus_port = 0;
  auto prometheus = start_prometheus(prometheus_dir.path(), config, prometheus_port);
  ASSERT_TRUE(prometheus) << prometheus.error().message;
  ASSERT_TRUE(wait_until(
      [&] {
        const auto health = target_health(prometheus_port);
        return health.size() == 4 &&
               std::all_of(health.begin(), health.end(), [](const auto& h) { return h.second == "up"; });
      },
      30s))
      << http_call(prometheus_port, "GET", "/api/v1/targets").body;

  // Orders make order-service call product- and user-service by name; product-service's cache
  // misses once per product and then hits. Prometheus sees both in its next scrapes.
  ASSERT_TRUE(wait_until([&] { return http_call(order_port, "GET", "/orders/0").status == 200; }, 10s));
  for (int i = 0; i < 20; ++i) ASSERT_EQ(http_call(order_port, "GET", "/orders/" + std::to_string(i)).status, 200);
  EXPECT_TRUE(wait_until(
      [&] {
        return query_value(prometheus_port,
                           "sum(svckit_client_calls_total%7Bsvckit_service%3D%22order-service%22%7D)") >= 42;
      },
      30s))
      << http_call(prometheus_port, "GET", "/api/v1/query?query=svckit_client_calls_total").body;
  EXPECT_TRUE(wait_until(
      [&] { return query_value(prometheus_port, "sum(svckit_cache_hits_total%7Bcache%3D%22products%22%7D)") >= 1; },
      30s))
      << http_call(prometheus_port, "GET", "/api/v1/query?query=svckit_cache_hits_total").body;
}

TEST(PrometheusSd, FiltersAndRefusesBadQueriesWithAJsonError) {
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path());
  ASSERT_NE(daemon, nullptr);
  ASSERT_EQ(
      daemon->call("POST", "/v1/instances", instance_body("a", 9001, R"(,"id":"a1","tags":["x"],"zone":"z1")")).status,
      200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("a", 9002, R"(,"id":"a2","zone":"z2")")).status, 200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("b", 9003, R"(,"id":"b1","tags":["x"])")).status, 200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("c", 9004, R"(,"id":"c1")")).status, 200);
  ASSERT_EQ(daemon->call("PUT", "/v1/services/c/instances/c1/status", R"({"status":"maintenance"})").status, 200);

  auto ids = [&](const std::string& query) {
    std::set<std::string> out;
    const auto answer = daemon->call("GET", "/v1/prometheus/sd" + query);
    EXPECT_EQ(answer.status, 200) << answer.body;
    EXPECT_EQ(answer.header("Content-Type"), "application/json");
    for (const auto& g : json::parse(answer.body, nullptr, false)) {
      EXPECT_EQ(g["targets"].size(), 1U);
      out.insert(g["labels"].value("svckit_instance", ""));
    }
    return out;
  };
  EXPECT_EQ(ids(""), (std::set<std::string>{"a1", "a2", "b1", "c1"}));
  EXPECT_EQ(ids("?service=a"), (std::set<std::string>{"a1", "a2"}));
  EXPECT_EQ(ids("?service=a,c"), (std::set<std::string>{"a1", "a2", "c1"}));
  EXPECT_EQ(ids("?service=b&service=c"), (std::set<std::string>{"b1", "c1"}));
  EXPECT_EQ(ids("?tag=x"), (std::set<std::string>{"a1", "b1"}));
  EXPECT_EQ(ids("?service=a&zone=z2"), (std::set<std::string>{"a2"}));
  EXPECT_EQ(ids("?status=healthy"), (std::set<std::string>{"a1", "a2", "b1"}));
  EXPECT_EQ(ids("?service=nobody"), (std::set<std::string>{}));

  for (const char* bad : {"?service=bad%20name", "?status=sleepy"}) {
    const auto answer = daemon->call("GET", std::string("/v1/prometheus/sd") + bad);
    EXPECT_EQ(answer.status, 400) << bad;
    const auto body = json::parse(answer.body, nullptr, false);
    EXPECT_TRUE(body.contains("error")) << answer.body;
    EXPECT_FALSE(body["error"].value("field", "").empty()) << answer.body;
  }
}

}  // namespace
}  // namespace svckit::testing
