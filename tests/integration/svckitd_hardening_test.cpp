// svckitd attacked the way an outsider would: raw sockets with smuggled or malformed framing,
// JSON nested past any sane depth, Consul registrations that could never become healthy, IDs that
// name several services. Each test failed on the code before its fix.
#include <gtest/gtest.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "svckit/testing/fault_server.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

std::string nested(std::size_t depth, const std::string& open, const std::string& close, const std::string& inner) {
  std::string out;
  out.reserve(depth * (open.size() + close.size()) + inner.size());
  for (std::size_t i = 0; i < depth; ++i) out += open;
  out += inner;
  for (std::size_t i = 0; i < depth; ++i) out += close;
  return out;
}

/// A request written on its own connection, which stays open (a parked long poll) until close().
/// `from` picks the client's loopback source address, so one test can be several peers.
class OpenRequest {
 public:
  OpenRequest(int port, const std::string& request, const std::string& from = "127.0.0.1") {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in source{};
    source.sin_family = AF_INET;
    ::inet_pton(AF_INET, from.c_str(), &source.sin_addr);
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(static_cast<std::uint16_t>(port));
    ::inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    ok_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&source), sizeof source) == 0 &&  // NOLINT
          ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0 &&       // NOLINT
          (request.empty() ||
           ::send(fd_, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size()));
  }
  ~OpenRequest() { close(); }
  OpenRequest(const OpenRequest&) = delete;
  OpenRequest& operator=(const OpenRequest&) = delete;
  bool ok() const { return ok_; }
  int fd() const { return fd_; }
  /// The status of the answer, once its head arrived (0 when none came within `timeout`).
  int status(std::chrono::milliseconds timeout = 10s) {
    const auto data = head(timeout);
    return data.rfind("HTTP/1.", 0) == 0 ? std::atoi(data.c_str() + 9) : 0;
  }
  /// What arrived until the answer's head was complete (empty when nothing came within `timeout`).
  std::string head(std::chrono::milliseconds timeout = 10s) {
    std::string data;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (data.find("\r\n\r\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      const auto n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) break;
      data.append(buf, static_cast<std::size_t>(n));
    }
    return data;
  }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
  bool ok_ = false;
};

std::string get_request(const std::string& target) { return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"; }

class Hardening : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto port_file = dir.path() / "gateway.port";
    daemon =
        SvckitdProcess::start(dir.path(), {"--gateway-port", "0", "--set", "gateway.port_file=" + port_file.string()});
    ASSERT_NE(daemon, nullptr);
    ASSERT_TRUE(wait_until([&] { return read_file(port_file).find('\n') != std::string::npos; }, 10s));
    gateway = std::atoi(read_file(port_file).c_str());
  }
  void TearDown() override { io.stop(); }

  bool alive() const { return daemon->call("GET", "/healthz").status == 200; }

  TempDir dir;
  std::unique_ptr<SvckitdProcess> daemon;
  int gateway = 0;
  IoThread io;
};

// Before: 200, and the next GET /v1/config overflowed the stack while serialising (SIGSEGV).
TEST_F(Hardening, DeeplyNestedJsonIsRefusedEverywhereItComesIn) {
  const auto deep = nested(60'000, "[", "]", "1");  // ~120 KB, under the body limit
  const std::vector<std::pair<std::string, std::string>> targets{
      {"PUT", "/v1/config"},
      {"PUT", "/v1/config/keys/app.deep"},
      {"POST", "/v1/instances"},
      {"PUT", "/v1/agent/service/register"},
  };
  for (const auto& [method, target] : targets) {
    auto r = daemon->call(method, target, method == "PUT" && target == "/v1/config" ? R"({"a":)" + deep + "}" : deep);
    EXPECT_EQ(r.status, 400) << method << " " << target << ": " << r.body.substr(0, 300);
    EXPECT_NE(r.body.find("nested deeper than 64 levels"), std::string::npos) << r.body.substr(0, 300);
    EXPECT_NE(r.body.find(R"("field":"body")"), std::string::npos) << r.body.substr(0, 300);
  }
  // 64 levels are fine, and everything still serialises.
  ASSERT_EQ(daemon->call("PUT", "/v1/config/keys/app.ok", nested(63, "[", "]", "1")).status, 200);
  EXPECT_EQ(daemon->call("GET", "/v1/config").status, 200);
  EXPECT_EQ(daemon->json("GET", "/v1/config/history")["versions"].size(), 2u) << "no refused write was applied";
  EXPECT_TRUE(alive());
}

// Before: "Transfer-Encoding: gzip" made the body look empty, and the body ran as a second request
// (a hidden DELETE removed the instance).
TEST_F(Hardening, TransferEncodingThatDoesNotEndInChunkedIsRefusedAndTheConnectionClosed) {
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("product", 8081)).status, 200);
  const std::string hidden = "DELETE /v1/services/product/instances/127.0.0.1:8081 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  struct Case {
    std::string coding;
    int status;
  };
  for (const auto& c : std::vector<Case>{{"gzip", 400},
                                         {"chunked, identity", 400},
                                         {"identity", 400},
                                         {"gzip, chunked", 501},
                                         {"chunked, chunked", 400}}) {
    const std::string smuggler =
        "POST /v1/instances HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: " +
        c.coding + "\r\n\r\n" + hidden;
    const auto answer = raw_exchange(daemon->port, smuggler);
    EXPECT_EQ(count_responses(answer), 1) << c.coding << ":\n" << answer;
    EXPECT_EQ(answer.rfind("HTTP/1.1 " + std::to_string(c.status), 0), 0u) << c.coding << ":\n" << answer;
    EXPECT_NE(answer.find("Transfer-Encoding"), std::string::npos) << "the error names the field";
    EXPECT_NE(answer.find("Connection: close"), std::string::npos) << answer;
  }
  EXPECT_EQ(daemon->call("GET", "/v1/services/product/instances/127.0.0.1:8081").status, 200) << "no hidden DELETE ran";
}

TEST_F(Hardening, AnHttp11RequestWithoutHostIs400) {
  const auto answer = raw_exchange(daemon->port, "GET /v1/services HTTP/1.1\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << answer;
  EXPECT_NE(answer.find("Host"), std::string::npos) << answer;
  const auto old = raw_exchange(daemon->port, "GET /v1/services HTTP/1.0\r\n\r\n");
  EXPECT_EQ(old.rfind("HTTP/1.0 200", 0), 0u) << "HTTP/1.0 has no Host requirement:\n" << old;
}

TEST_F(Hardening, TheGatewayNeverForwardsASmuggledRequest) {
  FaultServer orders(io.io(), "orders");
  FaultServer secret(io.io(), "secret");
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("orders", orders.port())).status, 200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("secret", secret.port())).status, 200);
  ASSERT_TRUE(daemon->wait_discovered("orders", 1));
  ASSERT_TRUE(daemon->wait_discovered("secret", 1));
  const std::string hidden = "GET /secret/admin HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  for (const std::string coding : {"gzip", "chunked, identity"}) {
    const auto answer = raw_exchange(
        gateway, "POST /orders/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: " + coding + "\r\n\r\n" + hidden);
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << coding << ":\n" << answer;
    EXPECT_EQ(count_responses(answer), 1) << answer;
  }
  EXPECT_EQ(secret.hits(), 0) << "the hidden request reached another service";
  EXPECT_EQ(orders.hits(), 0);
}

// Before: 503 {"code":"shutting_down","message":"the client went away ..."}; a bare-LF body got
// no answer at all.
TEST_F(Hardening, AMalformedChunkedBodyThroughTheGatewayIs400) {
  FaultServer orders(io.io(), "orders");
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("orders", orders.port())).status, 200);
  ASSERT_TRUE(daemon->wait_discovered("orders", 1));
  const std::string head = "POST /orders/x HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string body : {"ZZ\r\nabc\r\n0\r\n\r\n", "3\nabc\n0\n\n", "3\r\nabcdef\r\n0\r\n\r\n"}) {
    const auto answer = raw_exchange(gateway, head + body);
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << "body " << body << ":\n" << answer;
    EXPECT_NE(answer.find("invalid_argument"), std::string::npos) << answer;
  }
}

// Before: accepted, and the instance stayed `starting` for good with no check that could pass.
TEST_F(Hardening, AConsulTtlCheckOfZeroIsRefused) {
  for (const std::string ttl : {"0s", "0", "-5s"}) {
    auto r = daemon->call("PUT", "/v1/agent/service/register",
                          R"({"Name":"web","ID":"web-1","Port":80,"Check":{"TTL":")" + ttl + R"("}})");
    EXPECT_EQ(r.status, 400) << ttl << ": " << r.body;
    EXPECT_NE(r.body.find("TTL"), std::string::npos) << r.body;
  }
  EXPECT_EQ(daemon->call("GET", "/v1/agent/service/web-1").status, 404);
}

// Before: one Consul deregister by ID removed the instances of both services.
TEST_F(Hardening, AConsulIdSharedByTwoServicesIsNeverActedOnBlindly) {
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("alpha", 9000, R"(,"id":"shared")")).status, 200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("beta", 9000, R"(,"id":"shared")")).status, 200);
  auto r = daemon->call("PUT", "/v1/agent/service/deregister/shared");
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("alpha, beta"), std::string::npos) << r.body;
  EXPECT_EQ(daemon->call("GET", "/v1/services/alpha/instances/shared").status, 200);
  EXPECT_EQ(daemon->call("GET", "/v1/services/beta/instances/shared").status, 200);
  ASSERT_EQ(daemon->call("DELETE", "/v1/services/beta/instances/shared").status, 200);
  EXPECT_EQ(daemon->call("PUT", "/v1/agent/service/deregister/shared").status, 200) << "unique again";
  EXPECT_EQ(daemon->call("GET", "/v1/services/alpha/instances/shared").status, 404);
}

// Before: 30 requests to a path that answers 500 opened the service's breaker and everyone got
// 503 for 60 s. The gateway's breakers now count gateway failures only (connect errors, timeouts,
// 502/503/504), like Envoy's consecutive_gateway_failure.
TEST_F(Hardening, ApplicationErrorsFromOneClientDoNotOpenTheGatewaysBreaker) {
  FaultServer orders(io.io(), "orders");
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("orders", orders.port())).status, 200);
  ASSERT_TRUE(daemon->wait_discovered("orders", 1));
  orders.answer_status(500);
  for (int i = 0; i < 150; ++i) ASSERT_EQ(http_call(gateway, "GET", "/orders/broken").status, 500) << i;
  orders.answer_status(200);
  auto after = http_call(gateway, "GET", "/orders/fine");
  EXPECT_EQ(after.status, 200) << after.body;
}

// Before: a client's X-Forwarded-Host/-Proto reached the upstream ahead of the gateway's own.
TEST_F(Hardening, ForwardedHeadersFromAClientAreReplacedByTheGateways) {
  FaultServer orders(io.io(), "orders");
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("orders", orders.port())).status, 200);
  ASSERT_TRUE(daemon->wait_discovered("orders", 1));
  auto r = http_call(gateway, "GET", "/orders/x", "",
                     {"X-Forwarded-Host: evil.example", "X-Forwarded-Proto: https", "X-Real-IP: 10.9.9.9",
                      "Forwarded: for=10.9.9.9;proto=https", "X-Forwarded-For: 10.9.9.9", "X-Forwarded-Prefix: /evil"});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(orders.last_header("X-Forwarded-Prefix"), "/orders") << "the prefix the gateway removed, only";
  EXPECT_EQ(orders.last_header("X-Forwarded-Host"), "127.0.0.1");
  EXPECT_EQ(orders.last_header("X-Forwarded-Proto"), "http");
  EXPECT_EQ(orders.last_header("X-Real-IP"), "");
  EXPECT_EQ(orders.last_header("Forwarded"), "");
  EXPECT_EQ(orders.last_header("X-Forwarded-For"), "10.9.9.9, 127.0.0.1") << "the chain is appended to";
}

TEST(HardeningTrustedProxy, ATrustedProxysForwardedHeadersPassThrough) {
  TempDir dir;
  const auto port_file = dir.path() / "gateway.port";
  auto daemon =
      SvckitdProcess::start(dir.path(), {"--gateway-port", "0", "--set", "gateway.port_file=" + port_file.string(),
                                         "--set", "gateway.trusted_proxies=127.0.0.1"});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(wait_until([&] { return read_file(port_file).find('\n') != std::string::npos; }, 10s));
  const int gateway = std::atoi(read_file(port_file).c_str());
  IoThread io;
  FaultServer orders(io.io(), "orders");
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("orders", orders.port())).status, 200);
  ASSERT_TRUE(daemon->wait_discovered("orders", 1));
  ASSERT_EQ(http_call(gateway, "GET", "/orders/x", "",
                      {"X-Forwarded-Host: shop.example", "X-Forwarded-Proto: https", "X-Forwarded-Prefix: /shop/"})
                .status,
            200);
  EXPECT_EQ(orders.last_header("X-Forwarded-Prefix"), "/shop/orders") << "the proxy's prefix, then the gateway's";
  EXPECT_EQ(orders.last_header("X-Forwarded-Host"), "shop.example");
  EXPECT_EQ(orders.last_header("X-Forwarded-Proto"), "https");
  EXPECT_EQ(daemon->call("PUT", "/v1/config/keys/x", "1").status, 200);
  io.stop();
}

// Before: with fewer than half healthy, ~2/3 of the traffic went to instances in maintenance or
// down, and a service whose only instance was in maintenance was still served by it.
TEST_F(Hardening, TheGatewayNeverRoutesToAnInstanceInMaintenance) {
  FaultServer live(io.io(), "live");
  FaultServer drained(io.io(), "drained");
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("orders", live.port())).status, 200);
  // Registered drained, so the gateway's discovery knows its status as soon as it counts it.
  auto r = daemon->call("POST", "/v1/instances", instance_body("orders", drained.port(), R"(,"status":"maintenance")"));
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_TRUE(daemon->wait_discovered("orders", 2));
  for (int i = 0; i < 40; ++i) ASSERT_EQ(http_call(gateway, "GET", "/orders/x").status, 200);
  EXPECT_EQ(drained.hits(), 0);
  ASSERT_EQ(daemon
                ->call("PUT", "/v1/services/orders/instances/127.0.0.1:" + std::to_string(live.port()) + "/status",
                       R"({"status":"maintenance"})")
                .status,
            200);
  ASSERT_TRUE(wait_until([&] { return http_call(gateway, "GET", "/orders/x").status == 503; }, 10s))
      << "every instance drained: nothing to route to";
  EXPECT_EQ(drained.hits(), 0);
}

// Before: any registration could make svckitd probe any host every 10 ms.
TEST(HardeningChecks, ChecksAreLimitedToTheInstancesOwnHostAndAMinimumInterval) {
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path(), {"--set", "health.min_interval=1s"});
  ASSERT_NE(daemon, nullptr);
  auto fast = daemon->call(
      "POST", "/v1/instances",
      instance_body("a", 80, R"(,"checks":[{"type":"http","path":"/h","interval":"10ms","timeout":"5ms"}])"));
  EXPECT_EQ(fast.status, 400) << fast.body;
  EXPECT_NE(fast.body.find("checks[0].interval"), std::string::npos) << fast.body;
  auto elsewhere = daemon->call(
      "POST", "/v1/instances",
      instance_body("a", 80, R"(,"checks":[{"type":"tcp","target":"10.1.2.3:22","interval":"5s","timeout":"1s"}])"));
  EXPECT_EQ(elsewhere.status, 400) << elsewhere.body;
  EXPECT_NE(elsewhere.body.find("checks[0].target"), std::string::npos) << elsewhere.body;
  auto consul = daemon->call(
      "PUT", "/v1/agent/service/register",
      R"({"Name":"b","Address":"127.0.0.1","Port":81,"Check":{"HTTP":"http://169.254.169.254:80/latest","Interval":"5s"}})");
  EXPECT_EQ(consul.status, 400) << consul.body;
  auto own = daemon->call(
      "POST", "/v1/instances",
      instance_body("a", 80, R"(,"checks":[{"type":"tcp","target":"localhost:80","interval":"5s","timeout":"1s"}])"));
  EXPECT_EQ(own.status, 200) << "a loopback name for a loopback instance is its own host: " << own.body;
  EXPECT_EQ(daemon->json("GET", "/v1/services")["services"].size(), 1u) << "refused registrations changed nothing";
}

// Before: a cross-origin text/plain POST was accepted (CSRF) and any Host was (DNS rebinding).
TEST_F(Hardening, BrowserPagesCannotWriteAndRebindingNamesAreRefused) {
  const auto body = instance_body("web", 8080);
  auto plain = raw_http(daemon->port,
                        "POST /v1/instances HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                        "Content-Length: " +
                            std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body,
                        10s, false);
  EXPECT_EQ(plain.status, 415) << plain.body;
  EXPECT_NE(plain.body.find("Content-Type"), std::string::npos) << plain.body;
  auto cross = http_call(daemon->port, "DELETE", "/v1/services/web/instances/x", "", {"Origin: http://evil.example"});
  EXPECT_EQ(cross.status, 403) << cross.body;
  EXPECT_NE(cross.body.find("Origin"), std::string::npos) << cross.body;
  auto rebound =
      raw_http(daemon->port, "GET /v1/services HTTP/1.1\r\nHost: attacker.example:8500\r\nConnection: close\r\n\r\n",
               10s, false);
  EXPECT_EQ(rebound.status, 403) << rebound.body;
  EXPECT_NE(rebound.body.find("api.allowed_hosts"), std::string::npos) << rebound.body;
  // Same-origin pages, IP literals, localhost and JSON writes work as before.
  const auto authority = "127.0.0.1:" + std::to_string(daemon->port);
  auto same_origin =
      raw_http(daemon->port,
               "POST /v1/instances HTTP/1.1\r\nHost: " + authority + "\r\nOrigin: http://" + authority +
                   "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                   "\r\nConnection: close\r\n\r\n" + body,
               10s, false);
  EXPECT_EQ(same_origin.status, 200) << same_origin.body;
  EXPECT_EQ(http_call(daemon->port, "POST", "/v1/instances", body).status, 200);
  auto local = raw_http(daemon->port, "GET /v1/services HTTP/1.1\r\nHost: localhost:8500\r\nConnection: close\r\n\r\n",
                        10s, false);
  EXPECT_EQ(local.status, 200) << local.body;
  // The names svckitd's DNS interface gives addresses (its SRV targets, which Prometheus's
  // dns_sd_configs scrapes by) are IP literals in another spelling; look-alikes are not.
  const auto host_status = [&](const std::string& host) {
    return raw_http(daemon->port, "GET /v1/services HTTP/1.1\r\nHost: " + host + "\r\nConnection: close\r\n\r\n", 10s,
                    false)
        .status;
  };
  EXPECT_EQ(host_status("7f000001.addr.svckit:8500"), 200);
  EXPECT_EQ(host_status("7F000001.ADDR.svckit."), 200);
  EXPECT_EQ(host_status("00000000000000000000000000000001.addr.svckit"), 200);
  for (const char* look_alike : {"7f00001.addr.svckit", "7f000001.addr.svckit.attacker.example", "7g000001.addr.svckit",
                                 "x.7f000001.addr.svckit", "7f000001.addr.consul", "addr.svckit"}) {
    EXPECT_EQ(host_status(look_alike), 403) << look_alike;
  }
  EXPECT_EQ(daemon->json("GET", "/v1/services")["services"].size(), 1u) << "refused writes changed nothing";
}

/// Says why not when the server did not close: a rare failure of the idle-timeout test (about 1 in
/// 50 runs once, not reproduced since) must tell a timeout from a reset.
::testing::AssertionResult closed_by_server(int fd, std::chrono::milliseconds within) {
  pollfd p{fd, POLLIN, 0};
  const int ready = ::poll(&p, 1, static_cast<int>(within.count()));
  if (ready <= 0) return ::testing::AssertionFailure() << "not readable within " << within.count() << " ms";
  char byte = 0;
  const auto n = ::recv(fd, &byte, 1, MSG_DONTWAIT);
  if (n == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "readable (revents " << p.revents << ") but recv gave " << n
                                       << (n < 0 ? " errno " + std::to_string(errno) : std::string(" bytes"));
}

// Before: the API held idle connections for 305 s (its idle timeout was tied to the longest long
// poll), and with max_connections 50, 50 idle sockets locked everyone out.
TEST(HardeningConnections, OneClientCannotHoldEveryConnectionAndIdleOnesCloseOnTheirOwnTimeout) {
  TempDir dir;
  auto daemon =
      SvckitdProcess::start(dir.path(), {"--set", "limits.max_connections=50", "--set",
                                         "limits.max_connections_per_peer=10", "--set", "limits.idle_timeout=300ms"});
  ASSERT_NE(daemon, nullptr);
  std::vector<std::unique_ptr<OpenRequest>> idle;
  for (int i = 0; i < 10; ++i) {
    idle.push_back(std::make_unique<OpenRequest>(daemon->port, "", "127.0.0.2"));
    ASSERT_TRUE(idle.back()->ok());
  }
  OpenRequest eleventh(daemon->port, "", "127.0.0.2");
  EXPECT_TRUE(closed_by_server(eleventh.fd(), 5000ms)) << "the 11th from one address is closed at once";
  EXPECT_EQ(daemon->call("GET", "/healthz").status, 200) << "another address is served";
  // The idle ones close after limits.idle_timeout; a long poll longer than that is not idle.
  const auto index = daemon->call("GET", "/v1/services").header("X-Svckit-Index");
  OpenRequest poll(daemon->port, get_request("/v1/watch?index=" + index + "&wait=1500ms"), "127.0.0.3");
  EXPECT_TRUE(closed_by_server(idle.front()->fd(), 5000ms)) << "idle past limits.idle_timeout";
  EXPECT_EQ(poll.status(5s), 200) << "the long poll outlived the idle timeout and was answered";
}

long rss_kb(pid_t pid) {
  const auto status = read_file("/proc/" + std::to_string(pid) + "/status");
  const auto at = status.find("VmRSS:");
  return at == std::string::npos ? -1 : std::atol(status.c_str() + at + 6);
}

// Before: 200 clients that asked for a 7 MB list and never read raised svckitd's RSS from 151 MB
// to 1.5 GB; then a budget (limits.max_buffered_response_bytes) bounded it by refusing large
// answers with 503 past it. Now a list is streamed from the registry's shared records: each slow
// reader holds a pointer per instance and one 64 KiB piece, so all of them are served (this test
// failed on the budget alone: 147 of 150 got 503).
TEST(HardeningMemory, SlowReadersOfALargeListAreStreamedInBoundedMemory) {
  TempDir dir;
  constexpr long kBudgetMb = 32;
#if defined(__SANITIZE_THREAD__)
  // Under ThreadSanitizer svckitd runs far slower: 150 readers took 210-300 s against ctest's
  // 300 s limit. 30 readers of the 10 MB list still put 300 MB of answers against the 32 MB budget
  // (the list must stay large: loopback socket buffers swallow a 3 MB answer whole).
  constexpr int kReaders = 30;
#else
  constexpr int kReaders = 150;
#endif
  constexpr int kInstances = 1500;  // a 10 MB list
  auto daemon = SvckitdProcess::start(
      dir.path(), {"--set", "limits.max_buffered_response_bytes=" + std::to_string(kBudgetMb << 20), "--set",
                   "limits.max_instances_per_service=5000", "--set", "limits.max_body_bytes=1048576"});
  ASSERT_NE(daemon, nullptr);
  std::string metadata;
  for (int m = 0; m < 32; ++m)
    metadata += std::string(m == 0 ? "" : ",") + R"("k)" + std::to_string(m) + R"(":")" + std::string(200, 'v') + "\"";
  std::vector<std::thread> writers;
  for (int w = 0; w < 4; ++w) {
    writers.emplace_back([&, w] {
      for (int i = w; i < kInstances; i += 4) {
        (void)daemon->call("POST", "/v1/instances",
                           instance_body("big", 10000 + i, R"(,"metadata":{)" + metadata + "}"));
      }
    });
  }
  for (auto& t : writers) t.join();
  const auto list = daemon->call("GET", "/v1/services/big/instances");
  ASSERT_EQ(list.status, 200);
  ASSERT_GT(list.body.size(), kInstances * 6000u) << "about 6.6 KB per instance";
  const long before = rss_kb(daemon->process.pid());
  std::vector<std::unique_ptr<OpenRequest>> readers;
  for (int i = 0; i < kReaders; ++i) {
    readers.push_back(std::make_unique<OpenRequest>(daemon->port, get_request("/v1/services/big/instances"),
                                                    "127.0.0." + std::to_string(2 + i % 50)));
  }
  // Every reader has its answer's first bytes waiting (a held 200 or a 503): all were served.
  int refused = 0;
  for (auto& r : readers) {
    pollfd p{r->fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 20000), 1);
    char head[13] = {};
    (void)::recv(r->fd(), head, 12, MSG_PEEK);
    if (std::string(head) == "HTTP/1.1 503") ++refused;
  }
  const long after = rss_kb(daemon->process.pid());
  std::cout << "svckitd RSS " << before / 1024 << " MB -> " << after / 1024 << " MB with " << kReaders
            << " readers of a " << list.body.size() / (1 << 20) << " MB list that never read (" << refused
            << " got 503)\n";
  EXPECT_EQ(refused, 0) << "a streamed list holds ~90 KB per reader, well inside the budget";
  // The bound: per reader one 64 KiB piece and 16 bytes per instance (~13 MB for 150), plus what
  // the allocator keeps — not a 10 MB answer per reader (1.5 GB).
  EXPECT_LT(after - before, 48 * 1024) << "RSS grew from " << before << " kB to " << after << " kB";
  EXPECT_EQ(daemon->call("GET", "/healthz").status, 200) << "small answers always pass";
  // The registry changes under the stalled readers; a reader that finally reads gets the whole list
  // as it was when it asked, byte for byte.
  ASSERT_EQ(
      daemon->call("POST", "/v1/instances", instance_body("big", 10000, R"(,"metadata":{"changed":"yes"})")).status,
      200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("big", 20000)).status, 200);
  ASSERT_NE(daemon->call("GET", "/v1/services/big/instances").body, list.body) << "the registry did change";
  std::string answer;
  char chunk[65536];
  auto& reader = *readers.front();
  for (;;) {
    pollfd p{reader.fd(), POLLIN, 0};
    if (::poll(&p, 1, 10000) != 1) break;
    const auto n = ::recv(reader.fd(), chunk, sizeof chunk, 0);
    if (n <= 0) break;
    answer.append(chunk, static_cast<std::size_t>(n));
    const auto head_end = answer.find("\r\n\r\n");
    if (head_end != std::string::npos && answer.size() - head_end - 4 >= list.body.size()) break;
  }
  ASSERT_NE(answer.find("\r\n\r\n"), std::string::npos);
  EXPECT_NE(answer.find("Content-Length: " + std::to_string(list.body.size())), std::string::npos)
      << answer.substr(0, 300);
  EXPECT_EQ(answer.substr(answer.find("\r\n\r\n") + 4), list.body);
}

// Before: the series of a deregistered service stayed in /metrics for good (2,000 services grew it
// from 56 KB to 6.8 MB), and a family had no bound at all.
TEST(HardeningCardinality, AGoneServicesSeriesExpireAndAFamilyHasABound) {
  TempDir dir;
  IoThread io;
  FaultServer upstream(io.io(), "upstream");
  const auto port_file = dir.path() / "gateway.port";
  auto daemon =
      SvckitdProcess::start(dir.path(), {"--gateway-port", "0", "--set", "gateway.port_file=" + port_file.string(),
                                         "--set", "metrics.series_expiry=300ms", "--set",
                                         "metrics.max_series_per_family=150", "--set", "sweep_interval=50ms"});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(wait_until([&] { return read_file(port_file).find('\n') != std::string::npos; }, 10s));
  const int gateway = std::atoi(read_file(port_file).c_str());
  const auto baseline = daemon->call("GET", "/metrics").body.size();
  constexpr int kServices = 200;
  const auto name = [](int i) { return "svc-" + std::to_string(i); };
  for (int i = 0; i < kServices; ++i) {
    ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body(name(i), upstream.port())).status, 200);
  }
  for (int i = 0; i < kServices; ++i) {
    ASSERT_TRUE(wait_until([&] { return http_call(gateway, "GET", "/" + name(i) + "/x").status == 200; }, 10s))
        << name(i);
  }
  const auto busy = daemon->call("GET", "/metrics").body;
  EXPECT_NE(busy.find("service=\"_overflow\""), std::string::npos) << "200 services, 150 series per family";
  EXPECT_NE(busy.find("service=\"svc-0\""), std::string::npos);
  for (int i = 0; i < kServices; ++i) {
    ASSERT_EQ(
        daemon->call("DELETE", "/v1/services/" + name(i) + "/instances/127.0.0.1:" + std::to_string(upstream.port()))
            .status,
        200);
  }
  std::string text;
  EXPECT_TRUE(wait_until(
      [&] {
        text = daemon->call("GET", "/metrics").body;
        return text.find("svc-") == std::string::npos && text.find("_overflow") == std::string::npos;
      },
      15s))
      << "series of gone services are still exported";
  std::cout << "/metrics: " << baseline << " bytes at start, " << busy.size() << " with " << kServices
            << " services called through the gateway, " << text.size() << " after they left\n";
  EXPECT_LT(text.size(), busy.size() / 20) << text;  // what is left: the API route series
  // A service that comes back gets fresh series.
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("svc-7", upstream.port())).status, 200);
  ASSERT_TRUE(wait_until([&] { return http_call(gateway, "GET", "/svc-7/x").status == 200; }, 10s));
  EXPECT_TRUE(wait_until(
      [&] {
        return daemon->call("GET", "/metrics")
                   .body.find("svckit_gateway_requests_total{service=\"svc-7\",code=\"200\"} 1\n") != std::string::npos;
      },
      5s));
}

// Before: each /metrics scrape cleared the per-service instance gauges and set them again, so a
// scrape running at the same time as another (clients scraping at once) could set a gauge the other
// had just freed.
TEST(HardeningMetrics, ConcurrentScrapesWhileServicesComeAndGo) {
  TempDir dir;
  auto daemon = SvckitdProcess::start(dir.path(), {});
  ASSERT_NE(daemon, nullptr);
  std::atomic<bool> done{false};
  std::atomic<int> failed{0};
  std::mutex first_failure_mutex;
  std::string first_failure;
  const auto failure = [&](const std::string& what, const HttpAnswer& answer) {
    std::lock_guard lock(first_failure_mutex);
    if (first_failure.empty()) first_failure = what + ": status " + std::to_string(answer.status) + " " + answer.error;
  };
  std::vector<std::thread> scrapers;
  for (int t = 0; t < 3; ++t) {
    scrapers.emplace_back([&] {
      while (!done) {
        const auto answer = daemon->call("GET", "/metrics");
        if (answer.status != 200) {
          ++failed;
          failure("GET /metrics", answer);
        }
      }
    });
  }
  // The scrapers stop and are joined however the writes below end (a failed ASSERT returns).
  struct StopScrapers {
    std::atomic<bool>& done;
    std::vector<std::thread>& threads;
    void now() {
      done = true;
      for (auto& t : threads) {
        if (t.joinable()) t.join();
      }
    }
    ~StopScrapers() { now(); }
  } stop{done, scrapers};
  const auto write = [&](const std::string& method, const std::string& target, const std::string& body = {}) {
    const auto answer = daemon->call(method, target, body);
    if (answer.status != 200) failure(method + " " + target, answer);
    return answer.status;
  };
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 40; ++i) {
      ASSERT_EQ(write("POST", "/v1/instances", instance_body("churn-" + std::to_string(i), 7000 + i)), 200)
          << first_failure << "\nsvckitd log:\n"
          << read_file(dir.path() / "svckitd.log");
    }
    for (int i = 0; i < 40; ++i) {
      ASSERT_EQ(write("DELETE",
                      "/v1/services/churn-" + std::to_string(i) + "/instances/127.0.0.1:" + std::to_string(7000 + i)),
                200)
          << first_failure << "\nsvckitd log:\n"
          << read_file(dir.path() / "svckitd.log");
    }
  }
  stop.now();  // every scrape has ended: none can fail after the count is read
  EXPECT_EQ(failed.load(), 0) << first_failure;
  EXPECT_EQ(daemon->call("GET", "/healthz").status, 200);
  EXPECT_EQ(daemon->call("GET", "/metrics").body.find("svckit_instances_active{service=\"churn-"), std::string::npos)
      << "gone services' gauges are removed";
}

std::string post_request(const std::string& target, const std::string& body) {
  return "POST " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

// Before: one client could write as fast as it liked, and no write left a trace.
TEST(HardeningWrites, AClientOverItsWriteRateGets429WhileOthersWriteAndEveryWriteIsAudited) {
  TempDir dir;
  const auto audit = dir.path() / "audit.log";
  auto daemon =
      SvckitdProcess::start(dir.path(), {"--set", "limits.write_rate_per_peer=5", "--set",
                                         "limits.write_burst_per_peer=5", "--set", "audit.file=" + audit.string()});
  ASSERT_NE(daemon, nullptr);
  const auto body = [](int port) { return instance_body("orders", port, R"(,"metadata":{"api_key":"s3cret-value"})"); };
  for (int i = 0; i < 5; ++i) {
    OpenRequest r(daemon->port, post_request("/v1/instances", body(9000 + i)), "127.0.0.2");
    ASSERT_EQ(r.status(), 200) << i;
  }
  OpenRequest flood(daemon->port, post_request("/v1/instances", body(9100)), "127.0.0.2");
  const auto head = flood.head();
  ASSERT_EQ(head.rfind("HTTP/1.1 429", 0), 0u) << head;
  EXPECT_NE(head.find("Retry-After: 1\r\n"), std::string::npos) << head;
  OpenRequest other(daemon->port, post_request("/v1/instances", body(9200)), "127.0.0.3");
  EXPECT_EQ(other.status(), 200) << "another client is unaffected";
  OpenRequest read(daemon->port, get_request("/v1/services/orders/instances?token=abc"), "127.0.0.2");
  EXPECT_EQ(read.status(), 200) << "reads are not rate limited";
  OpenRequest bad(daemon->port, post_request("/v1/instances?token=abc", "{"), "127.0.0.3");
  EXPECT_EQ(bad.status(), 400);
  EXPECT_NE(daemon->call("GET", "/metrics").body.find("svckit_api_writes_throttled_total 1\n"), std::string::npos);

  // One JSON line per write, accepted or refused; never a body or a query.
  std::vector<nlohmann::json> lines;
  ASSERT_TRUE(wait_until(
      [&] {
        lines.clear();
        std::istringstream in(read_file(audit));
        for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line, nullptr, false));
        return lines.size() == 8;
      },
      5s))
      << read_file(audit);
  const auto text = read_file(audit);
  EXPECT_EQ(text.find("s3cret"), std::string::npos) << "no body in the audit log";
  EXPECT_EQ(text.find("token=abc"), std::string::npos) << "no query in the audit log";
  const auto& throttled = lines[5];
  EXPECT_EQ(throttled["peer"], "127.0.0.2");
  EXPECT_EQ(throttled["method"], "POST");
  EXPECT_EQ(throttled["path"], "/v1/instances");
  EXPECT_EQ(throttled["route"], "throttled");
  EXPECT_EQ(throttled["status"], 429);
  EXPECT_EQ(throttled["result"], "refused");
  EXPECT_EQ(lines[0]["result"], "accepted");
  EXPECT_EQ(lines[0]["route"], "/v1/instances");
  EXPECT_EQ(lines[7]["status"], 400);
  EXPECT_EQ(lines[7]["path"], "/v1/instances");
  EXPECT_TRUE(lines[0]["time"].get<std::string>().ends_with("Z")) << lines[0];
}

class WatchLimits : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon = SvckitdProcess::start(dir.path(),
                                   {"--set", "limits.max_watchers=100", "--set", "limits.max_watchers_per_peer=60"});
    ASSERT_NE(daemon, nullptr);
    index = daemon->call("GET", "/v1/services").header("X-Svckit-Index");
  }
  /// Parked watches whose count the daemon reports (the registry's own follower is one more).
  bool parked(int n) {
    return wait_until(
        [&] {
          return daemon->call("GET", "/metrics").body.find("svckit_watchers_active " + std::to_string(n + 1) + "\n") !=
                 std::string::npos;
        },
        10s);
  }

  TempDir dir;
  std::unique_ptr<SvckitdProcess> daemon;
  std::string index;
};

// Before: each abandoned watch kept its slot for its whole wait (up to 5 min), so 100 closed
// sockets locked everyone out with 429.
TEST_F(WatchLimits, AWatchWhoseClientClosedReleasesItsSlotAtOnce) {
  {
    std::vector<std::unique_ptr<OpenRequest>> abandoned;
    for (int i = 0; i < 50; ++i) {
      const std::string from = i < 25 ? "127.0.0.2" : "127.0.0.3";
      abandoned.push_back(
          std::make_unique<OpenRequest>(daemon->port, get_request("/v1/watch?index=" + index + "&wait=5m"), from));
      ASSERT_TRUE(abandoned.back()->ok());
    }
    for (int i = 0; i < 50; ++i) {
      abandoned.push_back(std::make_unique<OpenRequest>(
          daemon->port, get_request("/v1/health/service/web?index=" + index + "&wait=5m"), "127.0.0.4"));
    }
    ASSERT_TRUE(parked(100));
    EXPECT_EQ(http_call(daemon->port, "GET", "/v1/watch?index=" + index + "&wait=50ms").status, 429);
  }  // every socket closes here
  ASSERT_TRUE(parked(0)) << "the closed watches let go of their slots";
  EXPECT_EQ(http_call(daemon->port, "GET", "/v1/watch?index=" + index + "&wait=50ms").status, 200);
}

// Before: config watches were not counted at all (3,000 parked with a limit of 100).
TEST_F(WatchLimits, ConfigWatchesCountAgainstTheSameLimit) {
  std::vector<std::unique_ptr<OpenRequest>> held;
  for (int i = 0; i < 100; ++i) {
    held.push_back(std::make_unique<OpenRequest>(daemon->port, get_request("/v1/config?index=0&wait=5m"),
                                                 i % 2 == 0 ? "127.0.0.2" : "127.0.0.3"));
  }
  // All 100 parked before any probe: a probe holds a slot for its 50 ms too.
  ASSERT_TRUE(wait_until(
      [&] { return daemon->call("GET", "/metrics").body.find("svckit_long_polls_active 100\n") != std::string::npos; },
      10s));
  EXPECT_EQ(http_call(daemon->port, "GET", "/v1/config?index=0&wait=50ms").status, 429);
  auto refused = http_call(daemon->port, "GET", "/v1/watch?index=" + index + "&wait=50ms");
  EXPECT_EQ(refused.status, 429);
  EXPECT_NE(refused.body.find("limits.max_watchers"), std::string::npos) << refused.body;
  held.clear();
  int last = 0;
  EXPECT_TRUE(wait_until(
      [&] { return (last = http_call(daemon->port, "GET", "/v1/config?index=0&wait=50ms").status) == 304; }, 10s))
      << last;
}

TEST_F(WatchLimits, OneClientCannotTakeEverySlot) {
  std::vector<std::unique_ptr<OpenRequest>> greedy;
  for (int i = 0; i < 60; ++i) {
    greedy.push_back(
        std::make_unique<OpenRequest>(daemon->port, get_request("/v1/watch?index=" + index + "&wait=5m"), "127.0.0.2"));
  }
  ASSERT_TRUE(parked(60));
  // The 61st from the same address is refused at once; another address still gets in.
  OpenRequest one_more(daemon->port, get_request("/v1/watch?index=" + index + "&wait=5m"), "127.0.0.2");
  EXPECT_EQ(one_more.status(), 429);
  EXPECT_EQ(http_call(daemon->port, "GET", "/v1/watch?index=" + index + "&wait=50ms").status, 200)
      << "127.0.0.1 is another peer";
}

}  // namespace
}  // namespace svckit::testing
