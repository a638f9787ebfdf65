#include <gtest/gtest.h>

#include "svckit/http/url.hpp"

namespace svckit::http {
namespace {

TEST(Url, TargetDecodesPathAndQuery) {
  auto t = parse_target("/v1/services/a%20b/instances?tag=x&tag=y&meta.version=1%2B2&q=a+b");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->path, "/v1/services/a b/instances");
  EXPECT_EQ(t->query.count("tag"), 2u);
  EXPECT_EQ(*t->param("meta.version"), "1+2");
  EXPECT_EQ(*t->param("q"), "a b");
  EXPECT_EQ(t->param("nope"), nullptr);
  EXPECT_FALSE(parse_target("/x?a=%zz").ok());
  EXPECT_FALSE(parse_target("/x?a=%2").ok());
  EXPECT_FALSE(parse_target("nope").ok());
}

TEST(Url, BackendUrlWithSeveralHostsAndDefaults) {
  auto u = net::parse_backend_url("etcd://10.0.0.1:2379,10.0.0.2,[::1]:2380/prefix?timeout=5s", 2379);
  ASSERT_TRUE(u.ok()) << u.error().describe();
  EXPECT_EQ(u->scheme, "etcd");
  ASSERT_EQ(u->hosts.size(), 3u);
  EXPECT_EQ(u->hosts[1], (net::HostPort{"10.0.0.2", 2379}));
  EXPECT_EQ(u->hosts[2], (net::HostPort{"::1", 2380}));
  EXPECT_EQ(u->path, "/prefix");
  EXPECT_EQ(u->query.find("timeout")->second, "5s");
  auto memory = net::parse_backend_url("memory://", 0);
  ASSERT_TRUE(memory.ok());
  EXPECT_TRUE(memory->hosts.empty());
  for (const char* bad : {"nohost", "x://h:0", "x://h:99999", "x://h:12ab", "x://[::1", "://h"}) {
    auto r = net::parse_backend_url(bad, 1);
    EXPECT_FALSE(r.ok()) << bad;
  }
}

TEST(Url, EncodeRoundTrips) {
  const std::string text = "a b/c?d=e&f%";
  auto back = net::url_decode(net::url_encode(text), false);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(*back, text);
}

}  // namespace
}  // namespace svckit::http
