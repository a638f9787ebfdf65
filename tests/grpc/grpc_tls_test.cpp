// gRPC over TLS: GrpcTransport opens TLS channels to instances registered with scheme https,
// trusting the CA it is given and presenting a client certificate to servers that ask for one.
// A real gRPC server (grpc::SslServerCredentials) with a throw-away PKI.
#include <gtest/gtest.h>

#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <fstream>
#include <iterator>

#include "svckit/grpc/grpc_health.hpp"
#include "svckit/grpc/grpc_health_checker.hpp"
#include "svckit/grpc/grpc_transport.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/servers.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

class GrpcTls : public ::testing::Test {
 protected:
  void SetUp() override {
    auto made = make_test_pki(dir.path());
    ASSERT_TRUE(made) << made.error().message;
    pki = *made;
    health.set_status(InstanceStatus::healthy);
    ::grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    tls.pem_root_certs = read_text(pki.ca);
    tls.pem_key_cert_pairs.push_back({read_text(pki.server_key), read_text(pki.server_cert)});
    ::grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", ::grpc::SslServerCredentials(tls), &port);
    builder.RegisterService(&health);
    server = builder.BuildAndStart();
    ASSERT_TRUE(server);
  }
  void TearDown() override {
    health.shutdown();
    if (server) server->Shutdown();
    io.stop();
  }
  /// grpc.health.v1 Check through a transport with `options`, over TLS or not.
  Result<http::Response> check(const rpc::GrpcTransportOptions& options, bool tls) {
    rpc::GrpcTransport transport(options);
    http::Request request{http::Verb::post, "/grpc.health.v1.Health/Check", 11};
    request.body() = ::grpc::health::v1::HealthCheckRequest().SerializeAsString();
    const net::HostPort endpoint{"127.0.0.1", static_cast<std::uint16_t>(port), tls};
    auto answer = io.run([&]() { return transport.send(endpoint, request, 3s); });
    transport.close_idle();
    return answer;
  }
  rpc::GrpcTransportOptions trusted(bool with_client_cert = true) const {
    rpc::GrpcTransportOptions o;
    o.ca_file = pki.ca.string();
    if (with_client_cert) {
      o.cert_file = pki.client_cert.string();
      o.key_file = pki.client_key.string();
    }
    return o;
  }

  TempDir dir;
  TestPki pki;
  IoThread io;
  rpc::HealthService health;
  std::unique_ptr<::grpc::Server> server;
  int port = 0;
};

TEST_F(GrpcTls, ACallTrustsTheGivenCaAndPresentsItsCertificate) {
  auto answer = check(trusted(), true);
  ASSERT_TRUE(answer) << answer.error().describe();
  EXPECT_EQ(answer->result_int(), 200);
  ::grpc::health::v1::HealthCheckResponse reply;
  ASSERT_TRUE(reply.ParseFromString(answer->body()));
  EXPECT_EQ(reply.status(), ::grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(GrpcTls, WhatTheServerOrTheClientWouldNotTrustFails) {
  auto no_client_cert = check(trusted(false), true);
  EXPECT_FALSE(no_client_cert) << "the server requires a client certificate";
  auto default_roots = check(rpc::GrpcTransportOptions{}, true);
  EXPECT_FALSE(default_roots) << "the test CA is not among gRPC's default roots";
  auto cleartext = check(trusted(), false);
  EXPECT_FALSE(cleartext) << "a cleartext channel to a TLS port";

  auto half = trusted();
  half.key_file.clear();
  auto refused = check(half, true);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(refused.error().field, "cert_file");
  auto missing = trusted();
  missing.ca_file = (dir.path() / "nope.pem").string();
  refused = check(missing, true);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().field, "ca_file");
}

TEST_F(GrpcTls, TheGrpcHealthCheckOverTlsTrustsWhatTheOperatorConfigured) {
  const auto run = [&](const rpc::GrpcCheckerTls& tls, bool over_tls) {
    auto checker = rpc::make_grpc_health_checker(tls);
    CheckTarget target;
    target.host = "127.0.0.1";
    target.port = port;
    HealthCheckSpec spec;
    spec.type = "grpc";
    spec.timeout = 3s;
    if (over_tls) spec.params["tls"] = "true";
    return io.run([&]() { return checker->check(target, spec); });
  };
  const rpc::GrpcCheckerTls operator_tls{pki.ca.string(), pki.client_cert.string(), pki.client_key.string()};
  auto ok = run(operator_tls, true);
  EXPECT_TRUE(ok.ok) << ok.message;
  EXPECT_EQ(ok.message, "gRPC health SERVING");
  EXPECT_FALSE(run(operator_tls, false).ok) << "a check without params.tls speaks cleartext";
  EXPECT_FALSE(run(rpc::GrpcCheckerTls{}, true).ok) << "the test CA is not among the default roots";
  auto unreadable = run(rpc::GrpcCheckerTls{(dir.path() / "gone.pem").string(), "", ""}, true);
  EXPECT_FALSE(unreadable.ok);
  EXPECT_NE(unreadable.message.find("cannot read"), std::string::npos) << unreadable.message;
}

}  // namespace
}  // namespace svckit::testing
