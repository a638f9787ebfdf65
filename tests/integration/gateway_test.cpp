// svckitd's gateway against a real svckitd process and in-process upstreams (FaultServer):
// routing by name, balancing, retries elsewhere, 503/504/404 with JSON bodies, header hygiene,
// metrics, graceful shutdown with a request in flight.
#include <gtest/gtest.h>

#include <csignal>
#include <future>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "svckit/testing/fault_server.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

class Gateway : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto port_file = dir.path() / "gateway.port";
    daemon =
        SvckitdProcess::start(dir.path(), {"--gateway-port", "0", "--set", "gateway.port_file=" + port_file.string(),
                                           "--set", "gateway.access_log=true", "--set",
                                           "gateway.access_log_file=" + (dir.path() / "access.log").string()});
    ASSERT_NE(daemon, nullptr);
    ASSERT_TRUE(wait_until([&] { return read_file(port_file).find('\n') != std::string::npos; }, 10s));
    gateway = std::atoi(read_file(port_file).c_str());
    ASSERT_GT(gateway, 0);
    for (int i = 0; i < 3; ++i) upstreams.push_back(std::make_unique<FaultServer>(io.io(), "u" + std::to_string(i)));
  }
  void TearDown() override { io.stop(); }

  /// Registers an instance and waits until the gateway can route to it.
  void add(const std::string& service, int port) {
    ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body(service, port)).status, 200);
    ASSERT_TRUE(daemon->wait_discovered(service, ++added_[service])) << service;
  }
  /// The gateway learns of registrations through its watch: wait until a call gets through.
  void wait_routable(const std::string& service) {
    ASSERT_TRUE(wait_until([&] { return http_call(gateway, "GET", "/" + service + "/ready").status == 200; }, 10s));
  }

  TempDir dir;
  std::unique_ptr<SvckitdProcess> daemon;
  int gateway = 0;
  IoThread io;
  std::vector<std::unique_ptr<FaultServer>> upstreams;

 private:
  std::map<std::string, int> added_;
};

TEST_F(Gateway, RoutesByNameBalancesAndForwardsPathAndQuery) {
  for (const auto& u : upstreams) add("orders", u->port());
  wait_routable("orders");
  for (int i = 0; i < 60; ++i) {
    auto r = http_call(gateway, "GET", "/orders/items/7?x=1");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  for (const auto& u : upstreams) {
    EXPECT_GE(u->hits(), 10) << u->name() << " got too few of 60+ requests";
  }
  const auto& last = *std::max_element(upstreams.begin(), upstreams.end(),
                                       [](const auto& a, const auto& b) { return a->hits() < b->hits(); });
  EXPECT_EQ(last->last_target(), "/items/7?x=1");
  auto root = http_call(gateway, "GET", "/orders");
  EXPECT_EQ(root.status, 200) << "a bare /{service} goes to the service's /";
}

TEST_F(Gateway, RetriesAnotherInstanceWhenOneRefusesOrFails) {
  add("orders", upstreams[0]->port());
  add("orders", free_port());  // nobody listens: connection refused
  upstreams[1]->answer_status(503);
  add("orders", upstreams[1]->port());
  wait_routable("orders");
  for (int i = 0; i < 30; ++i) {
    auto r = http_call(gateway, "GET", "/orders/x");
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_NE(r.body.find("\"u0\""), std::string::npos) << r.body;
  }
}

// GET /v1/gateway/services/{service}: the gateway's view of a service, as the dashboard shows it.
TEST_F(Gateway, ItsOutlierEjectionsAndBreakersAreVisibleThroughTheApi) {
  auto before = daemon->call("GET", "/v1/gateway/services/orders");
  ASSERT_EQ(before.status, 200) << before.body;
  EXPECT_EQ(nlohmann::json::parse(before.body)["active"], false) << "no request for it yet";
  EXPECT_EQ(daemon->call("GET", "/v1/gateway/services/bad%20name").status, 400);

  add("orders", upstreams[0]->port());
  upstreams[1]->answer_status(503);
  add("orders", upstreams[1]->port());
  wait_routable("orders");
  // Five 503s in a row eject an instance (Envoy's consecutive_5xx); every request still succeeds
  // on the other one (a retry), so the one that fails keeps getting picked until it is out.
  ASSERT_TRUE(wait_until(
      [&] {
        EXPECT_EQ(http_call(gateway, "GET", "/orders/x").status, 200);
        return upstreams[1]->hits() >= 5;
      },
      10s));
  const auto view = nlohmann::json::parse(daemon->call("GET", "/v1/gateway/services/orders").body);
  EXPECT_EQ(view["active"], true);
  EXPECT_EQ(view["breaker"], "closed");
  EXPECT_EQ(view["balancer"]["hosts"], 2);
  EXPECT_EQ(view["balancer"]["healthy"], 1) << view.dump();
  ASSERT_EQ(view["instances"].size(), 2u) << view.dump();
  for (const auto& in : view["instances"]) {
    const bool failing = in["address"] == "127.0.0.1:" + std::to_string(upstreams[1]->port());
    EXPECT_EQ(in["status"], "healthy");
    EXPECT_EQ(in["outlier"]["ejected"], failing) << in.dump();
    if (failing) {
      EXPECT_EQ(in["outlier"]["reason"], "consecutive_5xx");
      EXPECT_EQ(in["outlier"]["ejections"], 1);
      EXPECT_GT(in["outlier"]["remaining_ms"].get<int>(), 0);
      EXPECT_LE(in["outlier"]["remaining_ms"].get<int>(), 30'000) << "base_ejection_time";
    } else {
      EXPECT_FALSE(in["outlier"].contains("remaining_ms"));
    }
  }
}

TEST_F(Gateway, ErrorsAreJsonNamingTheService) {
  auto none = http_call(gateway, "GET", "/nobody/x");
  EXPECT_EQ(none.status, 503);
  EXPECT_EQ(none.header("Retry-After"), "1");
  auto body = nlohmann::json::parse(none.body, nullptr, false);
  EXPECT_EQ(body["error"]["code"], "no_instances");
  EXPECT_EQ(body["error"]["service"], "nobody");

  EXPECT_EQ(http_call(gateway, "GET", "/").status, 404);
  auto bad = http_call(gateway, "GET", "/bad%20name/x");
  EXPECT_EQ(bad.status, 400) << bad.body;

  add("dead", free_port());
  ASSERT_TRUE(wait_until([&] { return http_call(gateway, "GET", "/dead/x").status == 502; }, 10s));
  auto dead = nlohmann::json::parse(http_call(gateway, "GET", "/dead/x").body, nullptr, false);
  EXPECT_EQ(dead["error"]["code"], "bad_gateway");
  EXPECT_EQ(dead["error"]["service"], "dead");
}

TEST_F(Gateway, TheCallersDeadlineGives504InTime) {
  add("slow", upstreams[0]->port());
  wait_routable("slow");
  upstreams[0]->delay_ms(3000);
  const auto started = std::chrono::steady_clock::now();
  auto r = http_call(gateway, "GET", "/slow/x", {}, {"X-Svckit-Deadline-Ms: 300"});
  const auto took = std::chrono::steady_clock::now() - started;
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_LT(took, 1500ms);
  EXPECT_GE(took, 250ms);
}

TEST_F(Gateway, HopByHopHeadersGoAndForwardingHeadersCome) {
  add("orders", upstreams[0]->port());
  wait_routable("orders");
  auto r = http_call(gateway, "GET", "/orders/x", {},
                     {"Connection: keep-alive, X-Secret", "X-Secret: 42", "Keep-Alive: timeout=5",
                      "Proxy-Authorization: Basic Zm9vOmJhcg==", "X-Forwarded-For: 10.1.2.3",
                      "traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "X-Kept: yes"});
  ASSERT_EQ(r.status, 200) << r.body;
  const auto& u = *upstreams[0];
  EXPECT_EQ(u.last_header("X-Secret"), "");
  EXPECT_EQ(u.last_header("Keep-Alive"), "");
  EXPECT_EQ(u.last_header("Proxy-Authorization"), "");
  EXPECT_EQ(u.last_header("X-Kept"), "yes");
  EXPECT_EQ(u.last_header("X-Forwarded-For"), "10.1.2.3, 127.0.0.1");
  EXPECT_EQ(u.last_header("X-Forwarded-Proto"), "http");
  EXPECT_EQ(u.last_header("X-Forwarded-Host"), "127.0.0.1");  // the Host the caller sent
  // The trace continues (same trace id, still sampled); the parent is now the gateway's own attempt
  // span, a descendant of the caller's span.
  const auto trace = u.last_header("traceparent");
  ASSERT_EQ(trace.size(), 55U) << trace;
  EXPECT_EQ(trace.substr(0, 36), "00-0af7651916cd43dd8448eb211c80319c-");
  EXPECT_NE(trace.substr(36, 16), "b7ad6b7169203331");
  EXPECT_EQ(trace.substr(52), "-01");
  const auto budget = std::atoi(u.last_header("X-Svckit-Deadline-Ms").c_str());
  EXPECT_GT(budget, 25'000);  // the gateway's 30 s deadline, less what has passed
  EXPECT_LE(budget, 30'000);
}

TEST_F(Gateway, RequestsAreCountedPerServiceAndCode) {
  add("orders", upstreams[0]->port());
  wait_routable("orders");
  upstreams[0]->answer_status(404);
  EXPECT_EQ(http_call(gateway, "GET", "/orders/missing").status, 404) << "the upstream's own answer is passed on";
  (void)http_call(gateway, "GET", "/unknown-service/x");
  // A request is counted when its answer has been written, so the client can read /metrics a moment
  // before the count lands (CI under TSan did): wait for it.
  std::string metrics;
  const bool counted = wait_until(
      [&] {
        metrics = daemon->call("GET", "/metrics").body;
        return metrics.find(R"(svckit_gateway_requests_total{service="orders",code="404"} 1)") != std::string::npos &&
               metrics.find(R"(svckit_gateway_requests_total{service="_unknown",code="503"} 1)") != std::string::npos &&
               metrics.find(R"(svckit_gateway_request_duration_seconds_count{service="orders"})") != std::string::npos;
      },
      10s);
  EXPECT_TRUE(counted) << metrics;
}

TEST_F(Gateway, TheAccessLogIsOneJsonLinePerRequestWithItsTraceIdAndNoQuery) {
  add("orders", upstreams[0]->port());
  wait_routable("orders");
  upstreams[0]->answer_status(404);
  const auto answer = http_call(gateway, "GET", "/orders/items/7?api_key=s3cret", {},
                                {"traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"});
  ASSERT_EQ(answer.status, 404);
  nlohmann::json found;
  ASSERT_TRUE(wait_until(
      [&] {
        std::istringstream in(read_file(dir.path() / "access.log"));
        for (std::string text; std::getline(in, text);) {
          auto line = nlohmann::json::parse(text, nullptr, false);
          if (line.is_object() && line.value("path", "") == "/orders/items/7") found = line;
        }
        return found.is_object();
      },
      5s))
      << read_file(dir.path() / "access.log");
  EXPECT_EQ(found["method"], "GET");
  EXPECT_EQ(found["service"], "orders");
  EXPECT_EQ(found["status"], 404);
  EXPECT_EQ(found["upstream"], "127.0.0.1:" + std::to_string(upstreams[0]->port()));
  EXPECT_EQ(found["attempts"], 1);
  EXPECT_EQ(found["remote"], "127.0.0.1");
  EXPECT_EQ(found["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_TRUE(found["duration_ms"].is_number());
  EXPECT_EQ(found["bytes"], answer.body.size());
  EXPECT_EQ(found["route"], "/{service}");
  EXPECT_TRUE(found["time"].get<std::string>().ends_with("Z"));
  EXPECT_EQ(read_file(dir.path() / "access.log").find("s3cret"), std::string::npos) << "no query in the log";
}

TEST_F(Gateway, GracefulShutdownLetsARequestInFlightFinish) {
  add("orders", upstreams[0]->port());
  wait_routable("orders");
  upstreams[0]->delay_ms(600);
  auto in_flight = std::async(std::launch::async, [&] { return http_call(gateway, "GET", "/orders/slow"); });
  ASSERT_TRUE(wait_until([&] { return upstreams[0]->hits() >= 2; }, 5s));  // the ready probe + this one
  const int status = daemon->process.stop(SIGTERM, 10s);
  const auto answer = in_flight.get();
  EXPECT_EQ(answer.status, 200) << answer.body;
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status << "\n" << read_file(dir.path() / "svckitd.log");
}

// A real framework's redirect behind the gateway: Flask (with werkzeug's ProxyFix) builds its
// trailing-slash redirect from X-Forwarded-Prefix/-Host, so it points back through the gateway.
TEST_F(Gateway, AFlaskAppBehindTheGatewayRedirectsWithThePrefixTheGatewayRemoved) {
  const std::string python = "/usr/bin/python3";
  ASSERT_EQ(std::system((python + " -c 'import flask' 2>/dev/null").c_str()), 0)
      << "python3-flask is missing: run scripts/setup";
  const auto port_file = dir.path() / "flask.port";
  auto app = ChildProcess::spawn({python, std::string(SVCKIT_PYTHON_DIR) + "/flask_prefix_app.py", port_file.string()},
                                 dir.path() / "flask.log");
  ASSERT_TRUE(app) << app.error().message;
  ASSERT_TRUE(wait_until([&] { return !read_file(port_file).empty(); }, 20s)) << read_file(dir.path() / "flask.log");
  add("pyweb", std::atoi(read_file(port_file).c_str()));
  ASSERT_TRUE(wait_until([&] { return http_call(gateway, "GET", "/pyweb/health").status == 200; }, 10s));

  const auto moved = http_call(gateway, "GET", "/pyweb/items");
  EXPECT_EQ(moved.status, 308) << moved.body;
  EXPECT_EQ(moved.header("Location"), "http://127.0.0.1/pyweb/items/") << "the Host the client sent, the prefix";
  const auto items = nlohmann::json::parse(http_call(gateway, "GET", "/pyweb/items/").body, nullptr, false);
  EXPECT_EQ(items["self"], "/pyweb/items/") << "url_for() includes the prefix too";
}

}  // namespace
}  // namespace svckit::testing
