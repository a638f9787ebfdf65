// svckitd's DNS interface, answer by answer (no sockets): SRV and A/AAAA for healthy instances only,
// tag filters in both name forms, the .addr names SRV targets point at, NXDOMAIN / empty NOERROR with
// an SOA, truncation to the UDP size with TC, EDNS0 sizes, and FORMERR / NOTIMP / REFUSED / silence
// for what a server must not answer normally.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "daemon/dns_server.hpp"
#include "svckit/dns/dns_message.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit::daemon {
namespace {

using dns::RecordType;

std::string query(const std::string& name, RecordType type, std::uint16_t edns = 0, std::uint16_t flags = 0x0100) {
  auto bytes = dns::encode_query(0x4242, name, type, edns == 0 ? 512 : edns);
  bytes[2] = static_cast<char>(flags >> 8);
  bytes[3] = static_cast<char>(flags & 0xff);
  if (edns == 0) {  // no OPT record: drop it (the last 11 bytes) and the additional count
    bytes.resize(bytes.size() - 11);
    bytes[11] = 0;
  }
  return bytes;
}

class DnsServerTest : public ::testing::Test {
 protected:
  DnsServerTest() {
    add("web", "w1", "10.0.0.1", 8001, {"v1"});
    add("web", "w2", "10.0.0.2", 8002, {"v2"});
    add("web", "w3", "fd00::3", 8003, {"v2"});
    add("web", "sick", "10.0.0.4", 8004, {"v2"}, InstanceStatus::unhealthy);
    add("web", "drained", "10.0.0.5", 8005, {}, InstanceStatus::healthy, 0);
    add("named", "n1", "host.example.org", 9000, {});
    add("dead", "d1", "10.0.0.9", 9009, {}, InstanceStatus::down);
  }
  void add(const std::string& service, const std::string& id, const std::string& host, int port,
           std::vector<std::string> tags, InstanceStatus status = InstanceStatus::healthy, int weight = 100) {
    ServiceInstance in;
    in.service = service;
    in.id = id;
    in.host = host;
    in.port = port;
    in.tags = std::move(tags);
    in.status = status;
    in.weight = weight;
    ASSERT_TRUE(registry.register_now(in));
  }
  dns::Message ask(const std::string& name, RecordType type, std::size_t limit = 512, std::uint16_t edns = 0) {
    const auto bytes = server.answer(query(name, type, edns), limit, true);
    auto m = dns::decode_message(bytes);
    EXPECT_TRUE(m) << name;
    return m ? *m : dns::Message{};
  }
  static std::set<std::uint16_t> ports(const dns::Message& m) {
    std::set<std::uint16_t> out;
    for (const auto& r : m.answers) out.insert(r.port);
    return out;
  }

  testing::SimulatedClock clock;
  MemoryRegistry registry{clock, {}};
  boost::asio::io_context io;
  MetricsRegistry metrics;
  DnsServer server{io, registry, DnsOptions{}, metrics, clock};
};

TEST_F(DnsServerTest, SrvAnswersHealthyInstancesWithTheirPortsWeightsAndAddressTargets) {
  const auto m = ask("web.service.svckit", RecordType::srv);
  EXPECT_EQ(m.id, 0x4242);
  EXPECT_TRUE(m.response);
  EXPECT_EQ(m.rcode, 0);
  EXPECT_EQ(ports(m), (std::set<std::uint16_t>{8001, 8002, 8003})) << "unhealthy and weight-0 instances are left out";
  for (const auto& r : m.answers) {
    EXPECT_EQ(r.type, static_cast<std::uint16_t>(RecordType::srv));
    EXPECT_EQ(r.weight, 100);
    EXPECT_EQ(r.ttl, 5u);
  }
  const auto w1 = std::find_if(m.answers.begin(), m.answers.end(), [](const auto& r) { return r.port == 8001; });
  ASSERT_NE(w1, m.answers.end());
  EXPECT_EQ(w1->target, "0a000001.addr.svckit");
  // Each target's address rides along, and the .addr name answers it on its own too.
  ASSERT_EQ(m.additional.size(), 3u);
  EXPECT_EQ(ask("0a000001.addr.svckit", RecordType::a).answers.at(0).address, "10.0.0.1");
  EXPECT_EQ(ask("fd000000000000000000000000000003.addr.svckit", RecordType::aaaa).answers.at(0).address, "fd00::3");
}

TEST_F(DnsServerTest, TagsFilterInBothNameFormsAndAddressQueriesAnswerTheRightFamily) {
  EXPECT_EQ(ports(ask("v2.web.service.svckit", RecordType::srv)), (std::set<std::uint16_t>{8002, 8003}));
  EXPECT_EQ(ports(ask("_web._v2.service.svckit", RecordType::srv)), (std::set<std::uint16_t>{8002, 8003}));
  EXPECT_EQ(ports(ask("_web._tcp.service.svckit", RecordType::srv)), (std::set<std::uint16_t>{8001, 8002, 8003}));
  EXPECT_EQ(ports(ask("WEB.Service.SVCKIT", RecordType::srv)).size(), 3u) << "names are case-insensitive";
  const auto a = ask("web.service.svckit", RecordType::a);
  ASSERT_EQ(a.answers.size(), 2u);
  EXPECT_EQ(ask("web.service.svckit", RecordType::aaaa).answers.at(0).address, "fd00::3");
  // A host name (not an IP) is its own SRV target, with no address of ours.
  const auto named = ask("named.service.svckit", RecordType::srv);
  ASSERT_EQ(named.answers.size(), 1u);
  EXPECT_EQ(named.answers[0].target, "host.example.org");
  EXPECT_TRUE(named.additional.empty());
}

TEST_F(DnsServerTest, UnknownNamesAreNxdomainAndKnownServicesWithNoHealthyInstanceAreEmptyWithAnSoa) {
  const auto unknown = ask("nope.service.svckit", RecordType::srv);
  EXPECT_EQ(unknown.rcode, static_cast<std::uint8_t>(dns::Rcode::name_error));
  ASSERT_TRUE(unknown.negative_ttl());
  EXPECT_EQ(*unknown.negative_ttl(), 5u);
  const auto dead = ask("dead.service.svckit", RecordType::srv);
  EXPECT_EQ(dead.rcode, 0);
  EXPECT_TRUE(dead.answers.empty());
  EXPECT_TRUE(dead.negative_ttl());
  EXPECT_EQ(ask("a.b.c.d.service.svckit", RecordType::srv).rcode, static_cast<std::uint8_t>(dns::Rcode::name_error));
  EXPECT_EQ(ask("zz.addr.svckit", RecordType::a).rcode, static_cast<std::uint8_t>(dns::Rcode::name_error));
  EXPECT_EQ(ask("example.org", RecordType::a).rcode, static_cast<std::uint8_t>(dns::Rcode::refused))
      << "not a recursive resolver";
}

TEST_F(DnsServerTest, AnswersLargerThanTheUdpSizeAreCutAndFlaggedAndTcpCarriesThemWhole) {
  for (int i = 0; i < 60; ++i) add("big", "b" + std::to_string(i), "10.1.0." + std::to_string(i + 1), 7000 + i, {});
  const auto cut = ask("big.service.svckit", RecordType::srv, 512);
  EXPECT_TRUE(cut.truncated);
  EXPECT_LT(cut.answers.size(), 60u);
  EXPECT_LE(server.answer(query("big.service.svckit", RecordType::srv), 512, true).size(), 512u);
  // An EDNS0 offer of 4096 bytes fits them all; TCP has room for them all.
  const auto offered = ask("big.service.svckit", RecordType::srv, 512, 4096);
  EXPECT_FALSE(offered.truncated);
  EXPECT_EQ(offered.answers.size(), 60u);
  auto whole = dns::decode_message(server.answer(query("big.service.svckit", RecordType::srv), 65535, false));
  ASSERT_TRUE(whole);
  EXPECT_FALSE(whole->truncated);
  EXPECT_EQ(whole->answers.size(), 60u);
  EXPECT_EQ(whole->additional.size(), 60u);
}

TEST_F(DnsServerTest, MalformedQueriesGetFormerrOtherOpcodesNotimpAndAnswersAreNeverAnswered) {
  auto garbage = server.answer(std::string("\x12\x34\xff\xff", 4), 512, true);
  auto m = dns::decode_message(garbage);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->id, 0x1234);
  EXPECT_EQ(m->rcode, static_cast<std::uint8_t>(dns::Rcode::format_error));
  EXPECT_TRUE(server.answer("x", 512, true).empty()) << "no id to answer to";
  const auto notify =
      dns::decode_message(server.answer(query("web.service.svckit", RecordType::srv, 0, 0x2000), 512, true));
  ASSERT_TRUE(notify);
  EXPECT_EQ(notify->rcode, static_cast<std::uint8_t>(dns::Rcode::not_implemented));
  EXPECT_TRUE(server.answer(query("web.service.svckit", RecordType::srv, 0, 0x8000), 512, true).empty());
}

}  // namespace
}  // namespace svckit::daemon
