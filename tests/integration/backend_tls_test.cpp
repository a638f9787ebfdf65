// TLS to the stores, against the real servers with a test PKI: rediss:// to a redis-server that
// speaks TLS only (server certificate verified, client certificate when the server demands one),
// and etcd:// with ?tls=true to an etcd that requires client certificates (--client-cert-auth).
// Each refuses an untrusted server and a missing client certificate.
#include <gtest/gtest.h>

#include "svckit/redis/redis_client.hpp"
#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/servers.hpp"
#include "test_instance.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

class BackendTls : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = make_test_pki(dir.path());
    ASSERT_TRUE(made) << made.error().describe();
    pki = *made;
    RegistryPlugins::Builder builder;
    register_builtin_plugins(builder);
    plugins = std::make_unique<RegistryPlugins>(std::move(builder).build());
  }
  Result<std::unique_ptr<Registry>> open(const std::string& url) {
    return plugins->create(url, RegistryDeps{io.executor(), time, random});
  }
  /// A register + list round trip through `url`; the error of the first step that failed.
  Result<std::size_t> round_trip(const std::string& url) {
    auto made = open(url);
    if (!made) return made.error();
    auto& registry = **made;
    return io.run([&]() -> Awaitable<Result<std::size_t>> {
      auto registered = co_await registry.register_instance(test_instance("secure", 8443));
      if (!registered) co_return registered.error();
      InstanceFilter all;
      auto listed = co_await registry.list("secure", all);
      if (!listed) co_return listed.error();
      co_return listed->size();
    });
  }
  std::string files(bool client_cert) const {
    std::string q = "ca_file=" + pki.ca.string();
    if (client_cert) q += "&cert_file=" + pki.client_cert.string() + "&key_file=" + pki.client_key.string();
    return q;
  }

  TempDir dir;
  TestPki pki;
  IoThread io;
  RealTimeSource time;
  FakeRandom random;
  std::unique_ptr<RegistryPlugins> plugins;
};

TEST_F(BackendTls, RedissVerifiesTheServerAndPresentsTheClientCertificate) {
  int port = 0;
  auto server = start_redis_tls(dir.path(), pki, /*require_client_cert=*/true, port);
  ASSERT_TRUE(server) << server.error().describe();
  const auto base = "rediss://127.0.0.1:" + std::to_string(port) + "/0?timeout=2s&";

  auto ok = round_trip(base + files(true));
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_EQ(*ok, 1u);

  auto untrusted = round_trip(base.substr(0, base.size() - 1));  // the system's CAs do not know ours
  ASSERT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error().code, ErrorCode::unavailable);
  EXPECT_NE(untrusted.error().message.find("TLS handshake"), std::string::npos) << untrusted.error().message;

  auto anonymous = round_trip(base + files(false));  // trusted server, but no client certificate
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.error().code, ErrorCode::unavailable) << anonymous.error().describe();

  // The client directly, by name: the certificate names localhost and 127.0.0.1, not 127.0.0.2.
  auto options = redis::redis_options_from_url(*net::parse_backend_url(base + files(true), 6379));
  ASSERT_TRUE(options) << options.error().describe();
  EXPECT_TRUE(options->tls.enabled);
  options->server.host = "localhost";
  redis::RedisClient by_name(io.executor(), *options);
  auto pong = io.run([&]() -> Awaitable<Result<redis::Reply>> {
    std::vector<std::string> ping{"PING"};  // named: GCC 12 mishandles braced lists in co_await
    co_return co_await by_name.command(ping);
  });
  ASSERT_TRUE(pong) << pong.error().describe();
  EXPECT_EQ(pong->text, "PONG");
}

TEST_F(BackendTls, EtcdWithClientCertificateAuthentication) {
  int port = 0;
  auto server = start_etcd(dir.path(), port, &pki);
  ASSERT_TRUE(server) << server.error().describe();
  const auto base = "etcd://127.0.0.1:" + std::to_string(port) + "?timeout=3s&tls=true&";
  Result<std::size_t> ok = make_error(ErrorCode::unavailable, "not tried");
  // The port opens a moment before etcd has elected itself leader: retry the first round trip.
  ASSERT_TRUE(wait_until([&] { return (ok = round_trip(base + files(true))).ok(); }, 20s)) << ok.error().describe();
  EXPECT_EQ(*ok, 1u);

  auto anonymous = round_trip(base + files(false));
  ASSERT_FALSE(anonymous);
  EXPECT_EQ(anonymous.error().code, ErrorCode::unavailable) << anonymous.error().describe();
  auto untrusted = round_trip(base.substr(0, base.size() - 1));
  ASSERT_FALSE(untrusted);
  EXPECT_EQ(untrusted.error().code, ErrorCode::unavailable) << untrusted.error().describe();
}

TEST_F(BackendTls, TlsOptionsAreCheckedWhenTheUrlIsRead) {
  EXPECT_EQ(open("redis://127.0.0.1:1/0?ca_file=" + pki.ca.string()).error().field, "ca_file") << "needs tls=true";
  EXPECT_EQ(open("rediss://127.0.0.1:1/0?ca_file=/nonexistent.pem").error().field, "ca_file");
  EXPECT_EQ(open("rediss://127.0.0.1:1/0?cert_file=" + pki.client_cert.string()).error().field, "key_file");
  EXPECT_EQ(open("etcd://127.0.0.1:1?tls=yes").error().field, "tls");
  EXPECT_EQ(open("consul://127.0.0.1:1?tls=true&key_file=" + pki.client_key.string()).error().field, "cert_file");
  EXPECT_TRUE(open("consul://127.0.0.1:1?tls=true&" + files(true)));
}

}  // namespace
}  // namespace svckit::testing
