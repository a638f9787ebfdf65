// svckitd's DNS interface from outside: svckit's own dns+srv:// backend (a real stub resolver over
// UDP, retrying over TCP when an answer is truncated) pointed at a running svckitd finds the healthy
// instances registered over HTTP, loses one as soon as it turns unhealthy, and gets a 60-instance
// answer whole over TCP; dig from dnsutils gets the same answers over UDP and TCP; raw datagrams that are not DNS get
// FORMERR or nothing, and svckitd goes on.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <set>

#include <sys/wait.h>

#include "svckit/dns/dns_message.hpp"
#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckitd_process.hpp"
#include "test_instance.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

/// One UDP datagram to 127.0.0.1:`port` and the answer (empty after 2 s of silence).
std::string udp_exchange(int port, const std::string& datagram) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  timeval timeout{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  (void)::sendto(fd, datagram.data(), datagram.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  std::string answer(4096, '\0');
  const auto n = ::recv(fd, answer.data(), answer.size(), 0);
  ::close(fd);
  answer.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
  return answer;
}

class SvckitdDns : public ::testing::Test {
 protected:
  void SetUp() override {
    daemon = SvckitdProcess::start(
        dir.path(), {"--set", "dns.port=0", "--set", "dns.port_file=" + (dir.path() / "dns.port").string(), "--set",
                     "dns.ttl=1s", "--set", "dns.negative_ttl=1s"});
    ASSERT_NE(daemon, nullptr);
    ASSERT_TRUE(wait_until([&] { return !read_file(dir.path() / "dns.port").empty(); }, 10s));
    dns_port = std::stoi(read_file(dir.path() / "dns.port"));
    RegistryPlugins::Builder builder;
    register_builtin_plugins(builder);
    plugins = std::make_unique<RegistryPlugins>(std::move(builder).build());
  }
  void TearDown() override { io.stop(); }

  std::set<int> srv_ports(Registry& registry, const std::string& service) {
    auto list = io.run(
        [&]() -> Awaitable<Result<std::vector<ServiceInstance>>> { co_return co_await registry.list(service, {}); });
    std::set<int> out;
    if (list) {
      for (const auto& in : *list) out.insert(in.port);
    }
    return out;
  }

  TempDir dir;
  std::unique_ptr<SvckitdProcess> daemon;
  int dns_port = 0;
  RealTimeSource time;
  FakeRandom random;
  IoThread io;
  std::unique_ptr<RegistryPlugins> plugins;
};

TEST_F(SvckitdDns, DnsSrvClientsFindHealthyInstancesAndLoseOneThatTurnsUnhealthy) {
  for (int port : {9101, 9102, 9103}) {
    ASSERT_EQ(daemon
                  ->call("POST", "/v1/instances",
                         instance_body("web", port, ",\"id\":\"w" + std::to_string(port) + "\",\"tags\":[\"v2\"]"))
                  .status,
              200);
  }
  auto made = plugins->create("dns+srv://127.0.0.1:" + std::to_string(dns_port) +
                                  "/{service}.service.svckit?min_ttl=100ms&max_ttl=1s&timeout=1s",
                              RegistryDeps{io.executor(), time, random});
  ASSERT_TRUE(made) << made.error().describe();
  auto& registry = **made;
  EXPECT_EQ(srv_ports(registry, "web"), (std::set<int>{9101, 9102, 9103}));
  const auto listed =
      io.run([&]() -> Awaitable<Result<std::vector<ServiceInstance>>> { co_return co_await registry.list("web", {}); });
  ASSERT_TRUE(listed);
  for (const auto& in : *listed) EXPECT_EQ(in.host, "127.0.0.1") << "the SRV target's address came along";
  ASSERT_EQ(daemon->call("PUT", "/v1/services/web/instances/w9102/status", R"({"status":"unhealthy"})").status, 200);
  EXPECT_TRUE(wait_until(
      [&] {
        return srv_ports(registry, "web") == std::set<int>{9101, 9103};
      },
      5s))
      << "an unhealthy instance leaves the answer within a TTL";

  // 60 instances do not fit 512 bytes: the resolver gets TC over UDP and asks again over TCP.
  for (int i = 0; i < 60; ++i) {
    ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("big", 7000 + i)).status, 200);
  }
  EXPECT_EQ(srv_ports(registry, "big").size(), 60u);
  const auto cut = dns::decode_message(
      udp_exchange(dns_port, dns::encode_query(7, "big.service.svckit", dns::RecordType::srv, 512)));
  ASSERT_TRUE(cut);
  EXPECT_TRUE(cut->truncated);
}

TEST_F(SvckitdDns, DigFromDnsutilsGetsSrvAndAddressAnswersOverUdpAndTcp) {
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("web", 9101, R"(,"id":"a","tags":["v2"])")).status,
            200);
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("web", 9102, R"(,"id":"b")")).status, 200);
  int runs = 0;
  const auto dig = [&](std::vector<std::string> args) {
    const auto out = dir.path() / ("dig" + std::to_string(runs++) + ".out");
    args.insert(args.begin(), {"dig", "@127.0.0.1", "-p", std::to_string(dns_port), "+short", "+time=2", "+tries=1"});
    auto child = ChildProcess::spawn(args, out);
    EXPECT_TRUE(child);
    if (!child) return std::string();
    EXPECT_EQ(WEXITSTATUS(child->wait_exit(20s)), 0) << read_file(out);
    return read_file(out);
  };
  const auto srv = dig({"web.service.svckit", "SRV"});
  EXPECT_NE(srv.find("1 100 9101 7f000001.addr.svckit."), std::string::npos) << srv;
  EXPECT_NE(srv.find("1 100 9102 7f000001.addr.svckit."), std::string::npos) << srv;
  EXPECT_EQ(dig({"+tcp", "v2.web.service.svckit", "SRV"}), "1 100 9101 7f000001.addr.svckit.\n");
  EXPECT_EQ(dig({"7f000001.addr.svckit", "A"}), "127.0.0.1\n");
  EXPECT_EQ(dig({"nope.service.svckit", "SRV"}), "") << "NXDOMAIN: nothing to print";
  // 60 instances over plain 512-byte UDP: dig sees TC and asks again over TCP by itself.
  for (int i = 0; i < 60; ++i) {
    ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("big", 7000 + i)).status, 200);
  }
  const auto big = dig({"+noedns", "big.service.svckit", "SRV"});
  EXPECT_EQ(std::count(big.begin(), big.end(), '\n'), 60) << big;
}

TEST_F(SvckitdDns, DatagramsThatAreNotQueriesGetFormerrOrNothingAndTheServerGoesOn) {
  const auto formerr = dns::decode_message(udp_exchange(dns_port, std::string("\x01\x02\x00\x00\x00\x05", 6)));
  ASSERT_TRUE(formerr);
  EXPECT_EQ(formerr->id, 0x0102);
  EXPECT_EQ(formerr->rcode, static_cast<std::uint8_t>(dns::Rcode::format_error));
  EXPECT_TRUE(udp_exchange(dns_port, "\x01").empty());
  EXPECT_TRUE(udp_exchange(dns_port, std::string(3000, '\xff')).size() < 600) << "a huge datagram: a short answer";
  ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("web", 9101)).status, 200);
  const auto fine =
      dns::decode_message(udp_exchange(dns_port, dns::encode_query(9, "web.service.svckit", dns::RecordType::a)));
  ASSERT_TRUE(fine);
  ASSERT_EQ(fine->answers.size(), 1u);
  EXPECT_EQ(fine->answers[0].address, "127.0.0.1");
  EXPECT_NE(daemon->call("GET", "/metrics").body.find("svckit_dns_malformed_total"), std::string::npos);
}

// A flood of UDP queries from one source (as a forged one would be): past dns.rate_limit, answers
// shrink to empty truncated ones no larger than the query, or none — never an amplifier.
TEST(SvckitdDnsRateLimit, AFloodFromOneSourceGetsTruncatedOrNoAnswersPastTheLimit) {
  TempDir dir;
  auto daemon = SvckitdProcess::start(
      dir.path(), {"--set", "dns.port=0", "--set", "dns.port_file=" + (dir.path() / "dns.port").string(), "--set",
                   "dns.rate_limit=5"});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(wait_until([&] { return !read_file(dir.path() / "dns.port").empty(); }, 10s));
  const int port = std::stoi(read_file(dir.path() / "dns.port"));
  for (int i = 0; i < 20; ++i) {
    ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body("big", 9200 + i)).status, 200);
  }
  const auto query = dns::encode_query(7, "big.service.svckit", dns::RecordType::srv, 4096);
  const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  constexpr int kQueries = 60;
  for (int i = 0; i < kQueries; ++i) {
    (void)::sendto(fd, query.data(), query.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof to);
  }
  timeval timeout{1, 0};  // answers stop coming: every query was handled
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  int full = 0;
  int truncated = 0;
  std::string answer(8192, '\0');
  for (;;) {
    const auto n = ::recv(fd, answer.data(), answer.size(), 0);
    if (n <= 0) break;
    const auto message = dns::decode_message(std::string_view(answer.data(), static_cast<std::size_t>(n)));
    ASSERT_TRUE(message);
    if (message->truncated && message->answers.empty()) {
      ++truncated;
      EXPECT_LE(static_cast<std::size_t>(n), query.size()) << "a limited answer is no larger than its query";
    } else {
      ++full;
      EXPECT_EQ(message->answers.size(), 20u);
    }
  }
  ::close(fd);
  EXPECT_GE(full, 1);
  EXPECT_LT(full, kQueries) << "the limit (5/s, bucket 10) held";
  EXPECT_GE(truncated, 1) << "every second limited query slips through truncated";
  EXPECT_LT(full + truncated, kQueries) << "the others are dropped";
  const auto metrics = daemon->call("GET", "/metrics").body;
  const std::string series = "\nsvckit_dns_rate_limited_total ";
  const auto at = metrics.find(series);
  ASSERT_NE(at, std::string::npos);
  EXPECT_GE(std::atoi(metrics.c_str() + at + series.size()), kQueries - full);
  // TCP is not limited (a forged source cannot complete a handshake): dig over TCP still answers.
}

}  // namespace
}  // namespace svckit::testing
