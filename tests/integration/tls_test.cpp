// TLS: a test CA (openssl CLI) signs a certificate for "localhost"; a real HTTPS server (Python's
// ssl module) serves it. The client trusts the CA through ca_file, refuses without it, refuses a
// host name the certificate does not name, and ServiceClient calls https:// URLs.
#include <gtest/gtest.h>

#include <fstream>

#include "svckit/client/service_client.hpp"
#include "svckit/http/client.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/servers.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

constexpr const char* kServer = R"PY(
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = b'{"tls":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
open(sys.argv[3] + ".tmp", "w").write(str(srv.server_address[1]) + "\n")
import os; os.rename(sys.argv[3] + ".tmp", sys.argv[3])
srv.serve_forever()
)PY";

class Tls : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto d = dir.path();
    auto pki = testing::make_test_pki(d, "DNS:localhost");  // not 127.0.0.1: a name check is tested
    ASSERT_TRUE(pki) << pki.error().describe();
    std::ofstream(d / "server.py") << kServer;
    auto child = testing::ChildProcess::spawn({"python3", (d / "server.py").string(), (d / "server.pem").string(),
                                               (d / "server.key").string(), (d / "port").string()},
                                              d / "server.log");
    ASSERT_TRUE(child.ok());
    server = std::move(*child);
    ASSERT_TRUE(testing::wait_until([&] { return !testing::read_file(d / "port").empty(); }, 20s))
        << testing::read_file(d / "server.log");
    port = static_cast<std::uint16_t>(std::stoi(testing::read_file(d / "port")));
  }

  Result<http::Response> get(http::ClientOptions options, const std::string& host) {
    http::HttpClient client(io.executor(), options);
    return io.run([&]() {
      return client.send(net::HostPort{host, port, true}, http::Request{http::Verb::get, "/", 11}, 5s);
    });
  }

  testing::TempDir dir;
  testing::ChildProcess server;
  std::uint16_t port = 0;
  testing::IoThread io;
};

TEST_F(Tls, TrustsTheTestCaAndRefusesWithoutItOrForAnotherName) {
  http::ClientOptions trusted;
  trusted.ca_file = (dir.path() / "ca.pem").string();
  auto ok = get(trusted, "localhost");
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_EQ(ok->body(), R"({"tls":true})");

  auto unknown_ca = get(http::ClientOptions{}, "localhost");  // system trust store only
  ASSERT_FALSE(unknown_ca.ok());
  EXPECT_EQ(unknown_ca.error().code, ErrorCode::unavailable);
  EXPECT_NE(unknown_ca.error().message.find("certificate verify failed"), std::string::npos)
      << unknown_ca.error().message;

  auto wrong_name = get(trusted, "127.0.0.1");  // the certificate names localhost only
  ASSERT_FALSE(wrong_name.ok());
  EXPECT_NE(wrong_name.error().message.find("TLS handshake"), std::string::npos) << wrong_name.error().message;

  http::ClientOptions missing;
  missing.ca_file = (dir.path() / "nope.pem").string();
  auto bad = get(missing, "localhost");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().field, "ca_file");
}

TEST_F(Tls, ServiceClientCallsHttpsUrlsOverPooledConnections) {
  BalancerPlugins::Builder b;
  register_builtin_balancers(b);
  const auto balancers = std::move(b).build();
  RealRandom random;
  RealTimeSource time;
  ServiceClientOptions options;
  options.pool.ca_file = (dir.path() / "ca.pem").string();
  options.services["secure"].static_urls = {"https://localhost:" + std::to_string(port)};
  auto client = std::move(ServiceClient::create(options, {io.executor(), nullptr, balancers, random, time}).value());
  for (int i = 0; i < 5; ++i) {
    auto r = io.run([&]() { return client->try_call("secure", http::Verb::get, "/"); });
    ASSERT_TRUE(r.ok()) << (r.error ? r.error->what() : "");
  }
  EXPECT_EQ(client->stats().pool.connections_opened, 1u) << "one TLS handshake, then keep-alive";
  io.run([&]() { return client->shutdown(1s); });
}

}  // namespace
}  // namespace svckit
