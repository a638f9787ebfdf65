// Header hygiene of the gateway's hops (RFC 9110 7.6.1): which fields cross, in any letter case.
#include <gtest/gtest.h>

#include "daemon/proxy_headers.hpp"

namespace svckit::daemon {
namespace {

namespace beast_http = http::beast_http;

std::vector<std::string> names(const beast_http::fields& fields) {
  std::vector<std::string> out;
  for (const auto& f : fields) out.emplace_back(f.name_string());
  return out;
}

TEST(ProxyHeaders, HopByHopFieldsAreKnownInAnyCaseAndByTheConnectionHeader) {
  for (const char* name : {"Connection", "keep-alive", "PROXY-CONNECTION", "Proxy-Authenticate", "proxy-authorization",
                           "TE", "Trailer", "transfer-ENCODING", "Upgrade"}) {
    EXPECT_TRUE(hop_by_hop(name, "")) << name;
  }
  for (const char* name : {"Content-Type", "X-Custom", "Host", "traceparent", "Te-Extra"}) {
    EXPECT_FALSE(hop_by_hop(name, "")) << name;
  }
  EXPECT_TRUE(hop_by_hop("X-Secret", "keep-alive, x-secret,"));
  EXPECT_TRUE(hop_by_hop("Accept", " accept ,"));  // a known field named by Connection goes too
  EXPECT_FALSE(hop_by_hop("X-Secret", "x-secrets,"));
}

TEST(ProxyHeaders, AnUpstreamAnswerLosesItsHopByHopFields) {
  http::Response answer{http::Status::ok, 11};
  answer.set("Connection", "keep-alive, X-Private");
  answer.set("keep-alive", "timeout=5");
  answer.set("x-private", "1");
  answer.set("Transfer-Encoding", "chunked");
  answer.set("Content-Type", "application/json");
  answer.set("X-Public", "2");
  strip_hop_by_hop(answer);
  EXPECT_EQ(names(answer), (std::vector<std::string>{"Content-Type", "X-Public"}));

  http::Response upgrade{http::Status::switching_protocols, 11};
  upgrade.set("Connection", "Upgrade");
  upgrade.set("Upgrade", "websocket");
  upgrade.set("Keep-Alive", "timeout=5");
  strip_hop_by_hop(upgrade, /*keep_upgrade=*/true);
  EXPECT_EQ(names(upgrade), (std::vector<std::string>{"Connection", "Upgrade"}));

  // The Connection field repeated: the tokens of every one count.
  http::Response repeated{http::Status::ok, 11};
  repeated.insert("Connection", "keep-alive");
  repeated.insert("X-First", "1");
  repeated.insert("connection", "x-first");
  repeated.insert("CONNECTION", "X-Third");
  repeated.insert("X-Third", "3");
  repeated.insert("X-Kept", "2");
  strip_hop_by_hop(repeated);
  EXPECT_EQ(names(repeated), (std::vector<std::string>{"X-Kept"}));
}

TEST(ProxyHeaders, ARequestsRepeatedConnectionFieldsAllNameHopByHopFields) {
  http::RequestHead head;
  head.insert("Host", "shop.example");
  head.insert("Connection", "x-one");
  head.insert("X-One", "1");
  head.insert("Connection", "X-Two, upgrade");
  head.insert("X-Two", "2");
  head.insert("X-Kept", "yes");
  EXPECT_FALSE(wants_upgrade(head)) << "no Upgrade field";
  head.insert("Upgrade", "websocket");
  EXPECT_TRUE(wants_upgrade(head)) << "\"upgrade\" in the second Connection field";
  const auto out = upstream_fields(head, Forwarding{"127.0.0.1", "", false, false, false});
  EXPECT_EQ(names(out),
            (std::vector<std::string>{"X-Kept", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host"}));
}

TEST(ProxyHeaders, OneWalkFindsWhatTheGatewayReadsAsHeadLookupsWould) {
  http::RequestHead head;
  head.insert("HOST", "shop.example");
  head.insert("content-type", "application/json");
  head.insert("TraceParent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  head.insert("traceparent", "00-ffffffffffffffffffffffffffffffff-ffffffffffffffff-01");  // the first counts
  head.insert("x-svckit-deadline-ms", "");
  head.insert("X-Svckit-Deadline-Ms", "250");
  head.insert("Tracestates", "not=this");
  const auto facts = scan_head(head);
  for (const auto& [fact, name] :
       std::vector<std::pair<std::string_view, std::string>>{{facts.host, "Host"},
                                                             {facts.content_type, "Content-Type"},
                                                             {facts.traceparent, "traceparent"},
                                                             {facts.tracestate, "tracestate"},
                                                             {facts.deadline, "X-Svckit-Deadline-Ms"}}) {
    EXPECT_EQ(fact, head[name]) << name;
  }
  EXPECT_NE(facts.deadline.data(), nullptr) << "present though empty: its value is refused, not ignored";
  EXPECT_EQ(facts.tracestate.data(), nullptr) << "absent";
  EXPECT_EQ(scan_head(http::RequestHead{}).host.data(), nullptr);
}

TEST(ProxyHeaders, ForwardingClaimsOfAnUntrustedClientAreDroppedInAnyCase) {
  http::RequestHead head;
  head.set("Host", "shop.example");
  head.set("x-forwarded-for", "10.0.0.1");
  head.set("X-FORWARDED-HOST", "evil.example");
  head.set("x-forwarded-proto", "https");
  head.set("X-Real-Ip", "10.9.9.9");
  head.set("FORWARDED", "for=10.9.9.9");
  head.set("x-forwarded-prefix", "/evil");
  head.set("x-svckit-deadline-ms", "5");
  head.set("Content-Length", "3");
  head.set("X-Kept", "yes");
  const auto out = upstream_fields(head, Forwarding{"127.0.0.1", "/shop", false, false, false});
  EXPECT_EQ(names(out), (std::vector<std::string>{"X-Kept", "X-Forwarded-For", "X-Forwarded-Prefix",
                                                  "X-Forwarded-Proto", "X-Forwarded-Host"}));
  EXPECT_EQ(out["X-Forwarded-For"], "10.0.0.1, 127.0.0.1");
  EXPECT_EQ(out["X-Forwarded-Host"], "shop.example");
  EXPECT_EQ(out["X-Forwarded-Proto"], "http");
  EXPECT_EQ(out["X-Forwarded-Prefix"], "/shop");

  const auto trusted = upstream_fields(head, Forwarding{"127.0.0.1", "/shop", false, true, false});
  EXPECT_EQ(trusted["X-Forwarded-Host"], "evil.example");
  EXPECT_EQ(trusted["X-Forwarded-Proto"], "https");
  EXPECT_EQ(trusted["X-Forwarded-Prefix"], "/evil/shop");
  EXPECT_EQ(trusted["Forwarded"], "for=10.9.9.9");
  EXPECT_EQ(trusted["X-Real-Ip"], "10.9.9.9");
}

}  // namespace
}  // namespace svckit::daemon
