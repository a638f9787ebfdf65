// svckitd's API over TLS, with certificates from a test CA made at test time (openssl CLI): a
// client that trusts the CA gets answers and one that does not is refused; plain HTTP on the TLS
// port gets a plain 400 naming https; under mutual TLS a client without a certificate, or with one
// from another CA, is refused; a certificate rotated on disk is picked up while a connection made
// before keeps working; svckit's own svckitd:// client speaks it.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "svckit/http/client.hpp"
#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"
#include "svckitd_process.hpp"
#include "test_instance.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

class SvckitdTls : public ::testing::Test {
 protected:
  void start(bool mutual) {
    fs::create_directories(dir.path() / "pki");
    auto made = make_test_pki(dir.path() / "pki");
    ASSERT_TRUE(made) << made.error().describe();
    pki = *made;
    std::vector<std::string> args{"--log-level", "debug",
                                  "--set",       "tls.cert_file=" + pki.server_cert.string(),
                                  "--set",       "tls.key_file=" + pki.server_key.string(),
                                  "--set",       "tls.reload_interval=50ms"};
    if (mutual) args.insert(args.end(), {"--set", "tls.client_ca_file=" + pki.ca.string()});
    daemon = SvckitdProcess::start(dir.path(), args);
    ASSERT_NE(daemon, nullptr);
  }

  Result<http::Response> get(http::HttpClient& client, const std::string& target = "/healthz") {
    return io.run([&]() {
      return client.send(net::HostPort{"127.0.0.1", static_cast<std::uint16_t>(daemon->port), true},
                         http::Request{http::Verb::get, target, 11}, 5s);
    });
  }

  TempDir dir;
  IoThread io;
  TestPki pki;
  std::unique_ptr<SvckitdProcess> daemon;
};

TEST_F(SvckitdTls, ServesHttpsToClientsThatTrustItsCaAndRefusesPlainHttp) {
  start(false);
  http::HttpClient client(io.executor(), trusting(pki.ca));
  auto ok = get(client);
  ASSERT_TRUE(ok) << ok.error().describe();
  EXPECT_EQ(ok->result_int(), 200);

  http::HttpClient untrusting(io.executor(), http::ClientOptions{});  // the system's CAs only
  auto refused = get(untrusting);
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("certificate verify failed"), std::string::npos) << refused.error().describe();

  const auto plain = daemon->call("GET", "/healthz");
  EXPECT_EQ(plain.status, 400) << plain.body;
  EXPECT_NE(plain.body.find("https://"), std::string::npos) << plain.body;

  // svckit's own client: svckitd:// with ?tls=true&ca_file=.
  RealTimeSource time;
  FakeRandom random;
  RegistryPlugins::Builder builder;
  register_builtin_plugins(builder);
  const auto plugins = std::move(builder).build();
  auto registry =
      plugins.create("svckitd://127.0.0.1:" + std::to_string(daemon->port) + "?tls=true&ca_file=" + pki.ca.string(),
                     RegistryDeps{io.executor(), time, random});
  ASSERT_TRUE(registry) << registry.error().describe();
  const auto stored = io.run([&]() -> Awaitable<Result<ServiceInstance>> {
    co_return co_await (*registry)->register_instance(test_instance("web", 9000));
  });
  EXPECT_TRUE(stored) << stored.error().describe();

  // A list larger than one 64 KiB piece is streamed, inside TLS like in clear.
  const auto registered = io.run([&]() -> Awaitable<int> {
    int n = 0;
    for (int i = 0; i < 400; ++i) {
      auto instance = test_instance("big", 10000 + i);
      instance.metadata["pad"] = std::string(300, 'p');
      if (co_await (*registry)->register_instance(std::move(instance))) ++n;
    }
    co_return n;
  });
  ASSERT_EQ(registered, 400);
  auto list = get(client, "/v1/services/big/instances");
  ASSERT_TRUE(list) << list.error().describe();
  ASSERT_EQ(list->result_int(), 200);
  EXPECT_GT(list->body().size(), 400u * 300);
  EXPECT_EQ(nlohmann::json::parse(list->body())["instances"].size(), 400u);
}

TEST_F(SvckitdTls, MutualTlsRefusesClientsWithoutACertificateFromItsCa) {
  start(true);
  http::HttpClient with_cert(io.executor(), trusting(pki.ca, pki.client_cert, pki.client_key));
  auto ok = get(with_cert);
  ASSERT_TRUE(ok) << ok.error().describe() << "\n" << read_file(dir.path() / "svckitd.log");
  EXPECT_EQ(ok->result_int(), 200);

  http::HttpClient no_cert(io.executor(), trusting(pki.ca));
  EXPECT_FALSE(get(no_cert)) << "a client without a certificate";

  fs::create_directories(dir.path() / "other-pki");
  auto other = make_test_pki(dir.path() / "other-pki");
  ASSERT_TRUE(other) << other.error().describe();
  http::HttpClient foreign(io.executor(), trusting(pki.ca, other->client_cert, other->client_key));
  EXPECT_FALSE(get(foreign)) << "a client certificate from another CA";
}

TEST_F(SvckitdTls, ARotatedCertificateIsPickedUpAndOpenConnectionsKeepWorking) {
  start(false);
  http::ClientOptions keep = trusting(pki.ca);
  keep.max_idle_per_endpoint = 1;
  http::HttpClient before(io.executor(), keep);  // keeps its connection open across the rotation
  ASSERT_TRUE(get(before));

  fs::create_directories(dir.path() / "next-pki");
  auto next = make_test_pki(dir.path() / "next-pki");
  ASSERT_TRUE(next) << next.error().describe();
  rotate_server_certificate(pki, *next);  // written aside, renamed over, as a certificate manager does

  http::HttpClient trusts_new(io.executor(), trusting(next->ca));
  ASSERT_TRUE(wait_until([&] { return get(trusts_new).ok(); }, 10s)) << read_file(dir.path() / "svckitd.log");
  http::HttpClient trusts_old_only(io.executor(), trusting(pki.ca));
  EXPECT_FALSE(get(trusts_old_only)) << "new connections present the new certificate";
  auto still = get(before);
  EXPECT_TRUE(still) << "the connection made before the rotation: " << still.error().describe();
  EXPECT_NE(read_file(dir.path() / "svckitd.log").find("event=tls_reloaded"), std::string::npos);
}

TEST(SvckitdTlsStart, ACertificateWithoutItsKeyOrAnUnreadableOneIsRefusedNamingTheSetting) {
  TempDir dir;
  auto half = ChildProcess::spawn({SVCKITD_BIN, "--port", "0", "--set", "tls.cert_file=/nonexistent.pem"},
                                  dir.path() / "half.log");
  ASSERT_TRUE(half);
  EXPECT_EQ(WEXITSTATUS(half->wait_exit(10s)), 2);
  EXPECT_NE(read_file(dir.path() / "half.log").find("tls.key_file"), std::string::npos);
  auto missing = ChildProcess::spawn(
      {SVCKITD_BIN, "--port", "0", "--set", "tls.cert_file=/nonexistent.pem", "--set", "tls.key_file=/nonexistent.key"},
      dir.path() / "missing.log");
  ASSERT_TRUE(missing);
  EXPECT_EQ(WEXITSTATUS(missing->wait_exit(10s)), 2);
  EXPECT_NE(read_file(dir.path() / "missing.log").find("tls.cert_file"), std::string::npos);
}

}  // namespace
}  // namespace svckit::testing
