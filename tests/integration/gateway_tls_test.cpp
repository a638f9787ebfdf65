// svckitd's gateway listener over TLS (gateway.tls.*), with certificates from a test CA made at
// test time: HTTPS requests reach the upstream marked X-Forwarded-Proto: https, plain HTTP on the
// port gets a 400 naming https, bodies of many MiB stream each way inside TLS, a WebSocket session
// passes through wss://, mutual TLS refuses clients without a certificate from the CA, and a
// certificate rotated on disk is served to new connections.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <map>
#include <nlohmann/json.hpp>

#include "svckit/http/client.hpp"
#include "svckit/testing/body_server.hpp"
#include "svckit/testing/fault_server.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"
#include "svckit/testing/upload_sink.hpp"
#include "svckit/testing/websocket_echo.hpp"
#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

class GatewayTls : public ::testing::Test {
 protected:
  void start(bool mutual = false) {
    fs::create_directories(dir.path() / "pki");
    auto made = make_test_pki(dir.path() / "pki");
    ASSERT_TRUE(made) << made.error().describe();
    pki = *made;
    const auto port_file = dir.path() / "gateway.port";
    std::vector<std::string> args{"--gateway-port", "0",
                                  "--set",          "gateway.port_file=" + port_file.string(),
                                  "--set",          "gateway.tls.cert_file=" + pki.server_cert.string(),
                                  "--set",          "gateway.tls.key_file=" + pki.server_key.string(),
                                  "--set",          "tls.reload_interval=50ms"};
    if (mutual) args.insert(args.end(), {"--set", "gateway.tls.client_ca_file=" + pki.ca.string()});
    daemon = SvckitdProcess::start(dir.path(), args);
    ASSERT_NE(daemon, nullptr);
    ASSERT_TRUE(wait_until([&] { return read_file(port_file).find('\n') != std::string::npos; }, 10s));
    gateway = static_cast<std::uint16_t>(std::atoi(read_file(port_file).c_str()));
    ASSERT_GT(gateway, 0);
  }
  void add(const std::string& service, int port) {
    ASSERT_EQ(daemon->call("POST", "/v1/instances", instance_body(service, port)).status, 200);
    ASSERT_TRUE(daemon->wait_discovered(service, ++added_[service])) << service;
  }
  Result<http::Response> get(http::HttpClient& client, const std::string& target) {
    return io.run([&]() { return client.send(endpoint(), http::Request{http::Verb::get, target, 11}, 10s); });
  }
  net::HostPort endpoint() const { return {"127.0.0.1", gateway, true}; }

  TempDir dir;
  IoThread io;
  TestPki pki;
  std::unique_ptr<SvckitdProcess> daemon;
  std::uint16_t gateway = 0;

 private:
  std::map<std::string, int> added_;
};

TEST_F(GatewayTls, ServesHttpsMarkedForwardedProtoHttpsAndRefusesPlainHttp) {
  start();
  FaultServer web(io.io(), "web-1");
  add("web", web.port());
  http::HttpClient client(io.executor(), trusting(pki.ca));
  ASSERT_TRUE(wait_until([&] { return get(client, "/web/ping").ok(); }, 10s)) << read_file(dir.path() / "svckitd.log");
  auto answer = get(client, "/web/orders?id=7");
  ASSERT_TRUE(answer) << answer.error().describe();
  EXPECT_EQ(answer->result_int(), 200) << answer->body();
  EXPECT_EQ(web.last_target(), "/orders?id=7");
  EXPECT_EQ(web.last_header("x-forwarded-proto"), "https");

  http::HttpClient untrusting(io.executor(), http::ClientOptions{});  // the system's CAs only
  auto refused = get(untrusting, "/web/ping");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("certificate verify failed"), std::string::npos) << refused.error().describe();

  const auto plain = http_call(gateway, "GET", "/web/ping");
  EXPECT_EQ(plain.status, 400) << plain.body;
  EXPECT_NE(plain.body.find("https://"), std::string::npos) << plain.body;
  EXPECT_NE(read_file(dir.path() / "svckitd.log").find("event=gateway_listening"), std::string::npos);
}

TEST_F(GatewayTls, BodiesOfManyMebibytesStreamBothWaysInsideTls) {
  start();
  UploadSink sink(io.io());
  BodyServer source(io.io());
  constexpr std::uint64_t kBytes = std::uint64_t{24} << 20;
  source.body_bytes(kBytes);
  add("sink", sink.port());
  add("source", source.port());
  http::HttpClient client(io.executor(), trusting(pki.ca));
  ASSERT_TRUE(wait_until([&] { return get(client, "/sink/warm-up").ok(); }, 10s));

  std::string piece(std::size_t{64} * 1024, 'z');
  std::uint64_t pulled = 0;
  http::Streaming upload;
  upload.request_body = [&]() -> http::Awaitable<Result<std::string_view>> {
    if (pulled == kBytes) co_return std::string_view{};
    pulled += piece.size();
    co_return std::string_view(piece);
  };
  http::Request post{http::Verb::post, "/sink/upload", 11};
  auto answer = io.run([&] { return client.send_streaming(endpoint(), post, 60s, nullptr, upload); });
  ASSERT_TRUE(answer) << answer.error().describe();
  ASSERT_EQ(answer->result_int(), 200) << answer->body();
  const auto counted = nlohmann::json::parse(answer->body());
  EXPECT_EQ(counted["bytes"], kBytes);
  EXPECT_EQ(counted["sum"], kBytes * static_cast<unsigned char>('z'));

  std::uint64_t received = 0;
  http::BodySink count = [&](std::string_view part) -> Result<void> {
    received += part.size();
    return {};
  };
  http::Request get{http::Verb::get, "/source/file", 11};
  auto download = io.run([&] { return client.send_streaming(endpoint(), get, 60s, nullptr, count); });
  ASSERT_TRUE(download) << download.error().describe();
  EXPECT_EQ(download->result_int(), 200);
  EXPECT_EQ(received, kBytes);
}

TEST_F(GatewayTls, AWebSocketSessionPassesThroughWss) {
  start();
  WebSocketEchoServer echo(io.io());
  add("chat", echo.port());
  http::HttpClient client(io.executor(), trusting(pki.ca));
  ASSERT_TRUE(wait_until([&] { return get(client, "/chat/ready").ok(); }, 10s));

  asio::io_context local;
  asio::ssl::context trust(asio::ssl::context::tls_client);
  trust.load_verify_file(pki.ca.string());
  trust.set_verify_mode(asio::ssl::verify_peer);
  beast::websocket::stream<asio::ssl::stream<tcp::socket>> ws(local, trust);
  beast::get_lowest_layer(ws).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), gateway));
  ws.next_layer().handshake(asio::ssl::stream_base::client);
  ws.handshake("127.0.0.1:" + std::to_string(gateway), "/chat/socket");
  for (const std::string& text : std::vector<std::string>{"hello", std::string(200'000, 'w'), "after"}) {
    ws.write(asio::buffer(text));
    beast::flat_buffer reply;
    ws.read(reply);
    EXPECT_EQ(beast::buffers_to_string(reply.data()), "echo:" + text);
  }
  ws.close(beast::websocket::close_code::normal);
  EXPECT_EQ(echo.forwarded_proto(), "https");
  EXPECT_EQ(echo.forwarded_for(), "127.0.0.1");
}

TEST_F(GatewayTls, MutualTlsRefusesClientsWithoutACertificateFromItsCaAndRotationReachesNewConnections) {
  start(/*mutual=*/true);
  FaultServer web(io.io(), "web-1");
  add("web", web.port());
  http::HttpClient with_cert(io.executor(), trusting(pki.ca, pki.client_cert, pki.client_key));
  ASSERT_TRUE(wait_until([&] { return get(with_cert, "/web/ping").ok(); }, 10s))
      << read_file(dir.path() / "svckitd.log");
  const int hits = web.hits();
  http::HttpClient no_cert(io.executor(), trusting(pki.ca));
  EXPECT_FALSE(get(no_cert, "/web/ping")) << "a client without a certificate";
  fs::create_directories(dir.path() / "other-pki");
  auto other = make_test_pki(dir.path() / "other-pki");
  ASSERT_TRUE(other) << other.error().describe();
  http::HttpClient foreign(io.executor(), trusting(pki.ca, other->client_cert, other->client_key));
  EXPECT_FALSE(get(foreign, "/web/ping")) << "a client certificate from another CA";
  EXPECT_EQ(web.hits(), hits) << "refused clients never reach the upstream";

  rotate_server_certificate(pki, *other);  // new connections get it
  http::HttpClient trusts_new(io.executor(), trusting(other->ca, pki.client_cert, pki.client_key));
  ASSERT_TRUE(wait_until([&] { return get(trusts_new, "/web/ping").ok(); }, 10s))
      << read_file(dir.path() / "svckitd.log");
  EXPECT_NE(read_file(dir.path() / "svckitd.log").find("event=tls_reloaded cert_file=" + pki.server_cert.string()),
            std::string::npos);
}

TEST(GatewayTlsStart, ACertificateWithoutItsKeyIsRefusedNamingTheSetting) {
  TempDir dir;
  auto half = ChildProcess::spawn(
      {SVCKITD_BIN, "--port", "0", "--gateway-port", "0", "--set", "gateway.tls.cert_file=/nonexistent.pem"},
      dir.path() / "half.log");
  ASSERT_TRUE(half);
  EXPECT_EQ(WEXITSTATUS(half->wait_exit(10s)), 2);
  EXPECT_NE(read_file(dir.path() / "half.log").find("gateway.tls.key_file"), std::string::npos);
  auto missing =
      ChildProcess::spawn({SVCKITD_BIN, "--port", "0", "--gateway-port", "0", "--set",
                           "gateway.tls.cert_file=/nonexistent.pem", "--set", "gateway.tls.key_file=/nonexistent.key"},
                          dir.path() / "missing.log");
  ASSERT_TRUE(missing);
  EXPECT_EQ(WEXITSTATUS(missing->wait_exit(10s)), 2);
  EXPECT_NE(read_file(dir.path() / "missing.log").find("gateway.tls.cert_file"), std::string::npos);
}

}  // namespace
}  // namespace svckit::testing
