// gRPC by name, with real processes: svckitd (registry + `grpc` health checks) and the demo's
// product-service serving ProductService over gRPC (registered as product-grpc), called by an
// in-process GrpcClient, by the demo's order-service, and by a third-party client (@grpc/grpc-js).
#include <gtest/gtest.h>

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <atomic>
#include <boost/asio/detached.hpp>
#include <csignal>
#include <map>
#include <set>

#include "../integration/svckitd_process.hpp"
#include "svckit/demo/product.pb.h"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/grpc/grpc_client.hpp"
#include "svckit/grpc/grpc_health.hpp"
#include "svckit/grpc/grpc_health_checker.hpp"
#include "svckit/grpc/grpc_registration.hpp"
#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace demo = svckit::demo;

class GrpcByName : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon = SvckitdProcess::start(dir.path(), {"--sweep-interval", "200ms"});
    ASSERT_NE(daemon, nullptr);
    RegistryPlugins::Builder b;
    register_builtin_plugins(b);
    plugins = std::make_unique<RegistryPlugins>(std::move(b).build());
    auto made = plugins->create(daemon->url(), RegistryDeps{io.executor(), time, random});
    ASSERT_TRUE(made) << made.error().describe();
    registry = std::move(*made);
    discovery = std::make_unique<DiscoveryClient>(io.executor(), *registry, random);
    BalancerPlugins::Builder policies;
    register_builtin_balancers(policies);
    balancers = std::make_unique<BalancerPlugins>(std::move(policies).build());
  }

  void TearDown() override {
    if (client) io.run([&]() { return client->shutdown(1s); });
    if (discovery) io.run([&]() { return discovery->shutdown(0ms); });
    io.stop();
  }

  /// A product-service with its gRPC side; returns its HTTP port. `check_every` is also the
  /// check's timeout (up to 1 s): a test that needs every instance to stay healthy throughout on a
  /// loaded machine gives it room.
  int start_product(const std::vector<std::string>& extra = {}, const std::string& check_every = "300ms") {
    std::vector<std::string> argv{SHOP_SERVICE_BIN, "--role",  "product", "--registry", daemon->url(),
                                  "--grpc-port",    "0",       "--ttl",   "3s",         "--check-every",
                                  check_every,      "--drain", "100ms"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    int port = 0;
    auto child = start_listening_binary(argv, dir.path(), port);
    EXPECT_TRUE(child.ok()) << child.error().message;
    if (child) products.push_back(std::move(*child));
    return port;
  }

  /// Healthy instances of `service` as svckitd sees them.
  std::size_t healthy(const std::string& service = "product-grpc") {
    const auto listed = daemon->json("GET", "/v1/services/" + service + "/instances?status=healthy");
    return listed.value("instances", json::array()).size();
  }

  void make_client(ServiceConfig config = {}) {
    config.retry_budget_mode = ServiceConfig::RetryBudgetMode::concurrency;
    ServiceClientOptions options;
    options.defaults = config;
    auto made = rpc::GrpcClient::create(options, {io.executor(), discovery.get(), *balancers, random, time, &metrics});
    ASSERT_TRUE(made) << made.error().describe();
    client = std::move(*made);
    io.run([&]() -> Awaitable<void> {
      discovery->start();
      (void)co_await discovery->wait_synced(5s);
    });
  }

  rpc::GrpcResult<demo::ProductResponse> get(const std::string& id, rpc::GrpcCallOptions options = {}) {
    demo::ProductRequest request;
    request.set_product_id(id);
    return io.run([&]() {
      return client->call<demo::ProductResponse>("product-grpc", "/svckit.demo.ProductService/GetProduct", request,
                                                 options);
    });
  }

  static rpc::GrpcCallOptions idempotent() {
    rpc::GrpcCallOptions o;
    o.idempotent = true;
    return o;
  }

  TempDir dir;
  IoThread io;
  RealTimeSource time;
  FakeRandom random;
  MetricsRegistry metrics;
  std::unique_ptr<SvckitdProcess> daemon;
  std::unique_ptr<RegistryPlugins> plugins;
  std::unique_ptr<Registry> registry;
  std::unique_ptr<DiscoveryClient> discovery;
  std::unique_ptr<BalancerPlugins> balancers;
  std::unique_ptr<rpc::GrpcClient> client;
  std::vector<ChildProcess> products;
};

TEST_F(GrpcByName, CallsSpreadOverTheInstancesAndNotFoundIsAnAnswerNotAFailure) {
  for (int i = 0; i < 3; ++i) start_product();
  ASSERT_TRUE(wait_until([&] { return healthy() == 3; }, 15s)) << "svckitd's grpc checks never passed";
  make_client();
  ASSERT_TRUE(wait_until([&] { return discovery->instance_count("product-grpc") == 3; }, 10s));
  std::map<std::string, int> by_instance;
  for (int i = 1; i <= 60; ++i) {
    const auto got = get(std::to_string(i), idempotent());
    ASSERT_TRUE(got.ok()) << rpc::to_string(got.code) << ": " << got.status_message;
    EXPECT_EQ(got.reply.id(), std::to_string(i));
    EXPECT_EQ(got.reply.name(), "product " + std::to_string(i));
    ++by_instance[got.reply.served_by()];
  }
  ASSERT_EQ(by_instance.size(), 3U);
  for (const auto& [instance, calls] : by_instance) EXPECT_GE(calls, 10) << instance;
  EXPECT_EQ(client->channels(), 3U) << "one channel per instance";

  const auto missing = get("5000", idempotent());
  EXPECT_EQ(missing.code, rpc::Code::not_found);
  EXPECT_EQ(missing.status_message, "no product 5000");
  EXPECT_EQ(missing.attempts, 1) << "NOT_FOUND is the service's answer: never retried";
  EXPECT_EQ(client->stats().breaker_trips, 0U);

  // An instance that leaves discovery takes its channel with it.
  ASSERT_EQ(products[0].stop(SIGTERM), 0);
  ASSERT_TRUE(wait_until([&] { return discovery->instance_count("product-grpc") == 2; }, 10s));
  EXPECT_TRUE(wait_until([&] { return client->channels() == 2; }, 5s)) << client->channels();
}

TEST_F(GrpcByName, AnInstanceKilledUnderLoadCostsNoIdempotentCall) {
  for (int i = 0; i < 3; ++i) start_product();
  ASSERT_TRUE(wait_until([&] { return healthy() == 3; }, 15s));
  // The retry budget bounds retries in flight to max(min_concurrency, 20% of the calls in flight):
  // sized to the eight callers, so the calls that were on the killed instance may all retry at
  // once (at Envoy's default floor of 3, a fourth would be refused: budget_exhausted).
  ServiceConfig config;
  config.retry_budget_min_concurrency = 8;
  make_client(config);
  ASSERT_TRUE(wait_until([&] { return discovery->instance_count("product-grpc") == 3; }, 10s));
  // Eight callers in a loop on the client's thread; one instance is SIGKILLed while they run.
  std::atomic<int> done{0}, failed{0}, exited{0};
  std::atomic<bool> stop{false};
  std::mutex failures_mutex;
  std::vector<std::string> failures;
  struct StopWorkers {  // however the test ends, the workers end before what they use
    std::atomic<bool>& stop;
    std::atomic<int>& exited;
    ~StopWorkers() {
      stop = true;
      wait_until([&] { return exited == 8; }, 10s);
    }
  } stop_workers{stop, exited};
  for (int w = 0; w < 8; ++w) {
    boost::asio::co_spawn(
        io.io(),
        [&]() -> Awaitable<void> {
          demo::ProductRequest request;
          request.set_product_id("7");
          while (!stop) {
            auto got = co_await client->call<demo::ProductResponse>(
                "product-grpc", "/svckit.demo.ProductService/GetProduct", request, idempotent());
            if (!got.ok()) {
              ++failed;
              std::lock_guard lock(failures_mutex);
              failures.push_back(std::string(rpc::to_string(got.code)) + ": " + got.status_message);
            }
            ++done;
          }
          ++exited;
        },
        boost::asio::detached);
  }
  ASSERT_TRUE(wait_until([&] { return done >= 300; }, 20s));
  const int before = done;
  products[1].stop(SIGKILL);
  ASSERT_TRUE(wait_until([&] { return done >= before + 1500; }, 30s)) << done;
  stop = true;
  ASSERT_TRUE(wait_until([&] { return exited == 8; }, 10s));
  std::lock_guard lock(failures_mutex);
  EXPECT_EQ(failed, 0) << (failures.empty() ? "" : failures.front());
  std::printf("calls: %d, retries: %llu, failed: %d\n", done.load(),
              static_cast<unsigned long long>(client->stats().retries), failed.load());
  EXPECT_GE(client->stats().retries, 1U) << "the calls in flight on the killed instance were retried";
}

TEST_F(GrpcByName, NotServingInstancesGetNoTraffic) {
  const int first = start_product();
  start_product();
  ASSERT_TRUE(wait_until([&] { return healthy() == 2; }, 15s));
  make_client();
  ASSERT_TRUE(wait_until([&] { return discovery->instance_count("product-grpc") == 2; }, 10s));
  std::set<std::string> serving;
  for (int i = 0; i < 20; ++i) serving.insert(get("1", idempotent()).reply.served_by());
  ASSERT_EQ(serving.size(), 2U);
  // The first instance's gRPC side answers NOT_SERVING to Health/Check from now on.
  ASSERT_EQ(http_call(first, "PUT", "/grpc/serving", R"({"serving":false})").status, 200);
  ASSERT_TRUE(wait_until([&] { return healthy() == 1; }, 10s)) << "svckitd's grpc check never saw NOT_SERVING";
  const auto listed = daemon->json("GET", "/v1/services/product-grpc/instances?status=healthy");
  const std::string left = listed["instances"][0]["id"];
  ASSERT_TRUE(wait_until(
      [&] {
        const auto seen = discovery->discover("product-grpc");
        return std::count_if(seen.begin(), seen.end(),
                             [](const auto& i) { return i.status == InstanceStatus::healthy; }) == 1;
      },
      10s));
  for (int i = 0; i < 40; ++i) {
    const auto got = get("1", idempotent());
    ASSERT_TRUE(got.ok());
    EXPECT_EQ(got.reply.served_by(), left) << "a NOT_SERVING instance got a call";
  }
  const auto health = daemon->json("GET", "/v1/health/product-grpc");
  bool reason_seen = false;
  for (const auto& instance : health["instances"]) {
    for (const auto& check : instance["checks"]) {
      EXPECT_EQ(check["type"], "grpc");
      for (const auto& h : check["history"]) reason_seen |= h["message"] == "gRPC health NOT_SERVING";
    }
  }
  EXPECT_TRUE(reason_seen) << health.dump();
  // Back in rotation once it answers SERVING again; svckitd ran every check cycle of it unharmed.
  ASSERT_EQ(http_call(first, "PUT", "/grpc/serving", R"({"serving":true})").status, 200);
  ASSERT_TRUE(wait_until([&] { return healthy() == 2; }, 10s));
  EXPECT_TRUE(daemon->process.running());
}

TEST_F(GrpcByName, DeadlinesCutSlowCallsAndPerTryTimeoutsMoveOnToAFastInstance) {
  start_product({"--grpc-delay", "3s"});
  ASSERT_TRUE(wait_until([&] { return healthy() == 1; }, 15s));
  ServiceConfig config;
  config.per_try_timeout = 300ms;
  config.timeout = 2s;
  make_client(config);
  ASSERT_TRUE(wait_until([&] { return discovery->instance_count("product-grpc") == 1; }, 10s));
  rpc::GrpcCallOptions short_call;
  short_call.timeout = 400ms;
  const auto started = std::chrono::steady_clock::now();
  const auto slow = get("1", short_call);
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(slow.code, rpc::Code::deadline_exceeded) << slow.status_message;
  EXPECT_LT(took, 2s) << "the call outlived its deadline by far (the instance takes 3 s)";

  start_product();
  ASSERT_TRUE(wait_until([&] { return discovery->instance_count("product-grpc") == 2; }, 15s));
  ASSERT_TRUE(wait_until([&] { return healthy() == 2; }, 15s));
  for (int i = 0; i < 6; ++i) {
    const auto got = get("2", idempotent());
    EXPECT_TRUE(got.ok()) << rpc::to_string(got.code) << ": " << got.status_message;
  }
}

TEST_F(GrpcByName, TheDemoOrderServiceAndAThirdPartyClientCallProductServiceFoundThroughSvckitd) {
  // The third-party client lists the healthy instances once and expects both: a 300 ms check
  // timed out once on a loaded CI machine and hid one instance from it.
  for (int i = 0; i < 2; ++i) start_product({}, "1s");
  ASSERT_TRUE(wait_until([&] { return healthy() == 2; }, 15s));
  int order = 0;
  auto child =
      start_listening_binary({SHOP_SERVICE_BIN, "--role", "order", "--registry", daemon->url()}, dir.path(), order);
  ASSERT_TRUE(child.ok()) << child.error().message;
  ASSERT_TRUE(wait_until([&] { return http_call(order, "GET", "/orders-grpc/1?product=7").status == 200; }, 10s));
  const auto placed = json::parse(http_call(order, "GET", "/orders-grpc/2?product=7").body);
  EXPECT_EQ(placed["via"], "grpc");
  EXPECT_EQ(placed["product"]["id"], "7");
  EXPECT_EQ(placed["product"]["name"], "product 7");
  const auto missing = http_call(order, "GET", "/orders-grpc/3?product=5000");
  EXPECT_EQ(missing.status, 404) << missing.body;
  EXPECT_EQ(json::parse(missing.body)["error"]["code"], "not_found");

  ASSERT_TRUE(std::filesystem::exists(std::filesystem::path(SVCKIT_NPM_DIR) / "node_modules" / "@grpc" / "grpc-js"))
      << "run scripts/setup (npm ci in tests/npm)";
  const auto out = dir.path() / "node.log";
  auto node = ChildProcess::spawn({"node", std::string(SVCKIT_NPM_DIR) + "/grpc_client.js",
                                   std::to_string(daemon->port), SVCKIT_PROTO_DIR, "7", "5000"},
                                  out);
  ASSERT_TRUE(node) << node.error().message;
  const int status = node->wait_exit(30s);
  const auto text = read_file(out);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
  const auto seen = json::parse(text.substr(0, text.find('\n')));
  ASSERT_EQ(seen["instances"].size(), 2U) << text;
  std::set<std::string> served_by;
  for (const auto& instance : seen["instances"]) {
    EXPECT_EQ(instance["health"]["code"], "OK");
    EXPECT_EQ(instance["health"]["reply"]["status"], "SERVING");
    EXPECT_EQ(instance["calls"][0]["code"], "OK");
    EXPECT_EQ(instance["calls"][0]["reply"]["name"], "product 7");
    EXPECT_DOUBLE_EQ(instance["calls"][0]["reply"]["price"].get<double>(), 9.99);
    served_by.insert(instance["calls"][0]["reply"]["served_by"].get<std::string>());
    EXPECT_EQ(instance["calls"][1]["code"], "NOT_FOUND");
    EXPECT_EQ(instance["calls"][1]["message"], "no product 5000");
  }
  EXPECT_EQ(served_by.size(), 2U) << "each listed instance answered itself";
}

TEST_F(GrpcByName, ARegisteredServerFollowsMaintenanceAndDrainsBeforeItLeaves) {
  rpc::HealthService health;
  ::grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", ::grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&health);
  auto server = builder.BuildAndStart();
  ASSERT_TRUE(server);
  DiscoveryClient registration(io.executor(), *registry, random);
  rpc::GrpcRegistrationOptions options;
  options.service = "inventory-grpc";
  options.port = port;
  options.ttl = 3s;
  HealthCheckSpec check;
  check.type = "grpc";
  check.interval = 300ms;
  check.timeout = 300ms;
  options.check = check;
  rpc::GrpcRegistration self(registration, health, options);
  // Asks the server directly, as a probe would.
  auto probe = [&] {
    auto checker = rpc::make_grpc_health_checker();
    CheckTarget target;
    target.host = "127.0.0.1";
    target.port = port;
    HealthCheckSpec spec;
    spec.type = "grpc";
    spec.timeout = 2s;
    return io.run([&]() { return checker->check(target, spec); }).message;
  };
  EXPECT_EQ(probe(), "gRPC health NOT_SERVING") << "not serving before it is registered";
  auto registered = io.run([&]() { return self.start(); });
  ASSERT_TRUE(registered) << registered.error().describe();
  EXPECT_EQ(registered->tags, (std::vector<std::string>{"grpc"}));
  EXPECT_EQ(probe(), "gRPC health SERVING");
  ASSERT_TRUE(wait_until([&] { return healthy("inventory-grpc") == 1; }, 10s)) << "svckitd's grpc check";

  // An operator puts it in maintenance through svckitd: the server answers NOT_SERVING, and SERVING
  // again once maintenance is lifted.
  const std::string status_path = "/v1/services/inventory-grpc/instances/" + self.id() + "/status";
  ASSERT_EQ(daemon->call("PUT", status_path, R"({"status":"maintenance"})").status, 200);
  ASSERT_TRUE(wait_until([&] { return probe() == "gRPC health NOT_SERVING"; }, 10s));
  ASSERT_EQ(daemon->call("PUT", status_path, R"({"status":"healthy"})").status, 200);
  ASSERT_TRUE(wait_until([&] { return probe() == "gRPC health SERVING"; }, 10s));
  ASSERT_TRUE(wait_until([&] { return healthy("inventory-grpc") == 1; }, 10s));

  // Draining: NOT_SERVING at once, then it leaves the registry.
  std::atomic<bool> drained{false};
  boost::asio::co_spawn(
      io.io(),
      [&]() -> Awaitable<void> {
        co_await self.drain(1s);
        drained = true;
      },
      boost::asio::detached);
  EXPECT_TRUE(wait_until([&] { return probe() == "gRPC health NOT_SERVING"; }, 2s));
  ASSERT_TRUE(wait_until([&] { return drained.load(); }, 10s));
  const auto listed = daemon->json("GET", "/v1/services/inventory-grpc/instances");
  EXPECT_TRUE(listed.value("instances", json::array()).empty()) << listed.dump();
  health.shutdown();
  server->Shutdown();
}

TEST_F(GrpcByName, AnOrderOverGrpcIsOneTraceFromTheOrderToTheProductServer) {
  const std::string otlp = daemon->url().replace(0, std::string("svckitd://").size(), "http://") + "/v1/traces";
  start_product({"--traces", otlp});
  ASSERT_TRUE(wait_until([&] { return healthy() == 1; }, 15s));
  int order = 0;
  auto child = start_listening_binary(
      {SHOP_SERVICE_BIN, "--role", "order", "--registry", daemon->url(), "--traces", otlp}, dir.path(), order);
  ASSERT_TRUE(child.ok()) << child.error().message;
  ASSERT_TRUE(wait_until([&] { return http_call(order, "GET", "/orders-grpc/1?product=7").status == 200; }, 10s));
  const std::string trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
  ASSERT_EQ(http_call(order, "GET", "/orders-grpc/2?product=7", "",
                      {"traceparent: 00-" + trace_id + "-00f067aa0ba902b7-01", "tracestate: shop=7"})
                .status,
            200);
  json spans;
  ASSERT_TRUE(wait_until(
      [&] {
        // Every process's spans arrived: the order's server span, its call and attempt, the product's.
        spans = daemon->json("GET", "/v1/traces/" + trace_id).value("spans", json::array());
        return spans.size() >= 4 && std::any_of(spans.begin(), spans.end(), [](const json& s) {
                 return s["kind"] == "server" && s["service"] == "product-service";
               });
      },
      20s))
      << spans.dump();
  std::map<std::string, json> by_id;
  for (const auto& s : spans) by_id[s["span_id"]] = s;
  bool checked = false;
  for (const auto& s : spans) {
    if (s["service"] != "product-service") continue;
    EXPECT_EQ(s["name"], "svckit.demo.ProductService/GetProduct");
    EXPECT_EQ(s["attributes"]["rpc.system"], "grpc");
    EXPECT_EQ(s["attributes"]["rpc.service"], "svckit.demo.ProductService");
    EXPECT_EQ(s["attributes"]["rpc.method"], "GetProduct");
    EXPECT_EQ(s["attributes"]["rpc.grpc.status_code"], 0);
    EXPECT_EQ(s.value("trace_state", ""), "shop=7");
    // Its parent is order-service's attempt, whose parent is the call, inside the order's span.
    ASSERT_TRUE(by_id.count(s["parent_span_id"])) << spans.dump();
    const auto& attempt = by_id[s["parent_span_id"]];
    EXPECT_EQ(attempt["service"], "order-service");
    EXPECT_EQ(attempt["kind"], "client");
    EXPECT_EQ(attempt["name"], "svckit.demo.ProductService/GetProduct") << "RPC conventions on the client too";
    EXPECT_EQ(attempt["attributes"]["rpc.system"], "grpc");
    EXPECT_EQ(attempt["attributes"]["rpc.method"], "GetProduct");
    EXPECT_EQ(attempt["attributes"]["rpc.grpc.status_code"], 0);
    EXPECT_FALSE(attempt["attributes"].contains("http.request.method"));
    ASSERT_TRUE(by_id.count(attempt["parent_span_id"]));
    EXPECT_EQ(by_id[attempt["parent_span_id"]]["name"], "call product-grpc");
    checked = true;
  }
  EXPECT_TRUE(checked);
}

}  // namespace
}  // namespace svckit::testing
