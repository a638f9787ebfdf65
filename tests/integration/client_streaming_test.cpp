// ServiceClient streaming large bodies (CallOptions::on_body) against a raw server that can send
// any size, slowly, or reset mid-body.
#include <gtest/gtest.h>

#include <fstream>

#include "svckit/client/service_client.hpp"
#include "svckit/testing/body_server.hpp"
#include "svckit/testing/io_thread.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;
using testing::BodyServer;

std::uint64_t peak_rss_kib() {  // VmHWM: the process's resident-set high-water mark
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6));
  }
  return 0;
}

class Streaming : public ::testing::Test {
 protected:
  void SetUp() override {
    BalancerPlugins::Builder b;
    register_builtin_balancers(b);
    balancers = std::make_unique<BalancerPlugins>(std::move(b).build());
    server = std::make_unique<BodyServer>(io.io());
    ServiceConfig c;
    c.static_urls = {"http://127.0.0.1:" + std::to_string(server->port())};
    c.retry.backoff.base = 1ms;
    c.retry.backoff.cap = 2ms;
    c.per_try_timeout = 10s;
    ServiceClientOptions options;
    options.services["files"] = c;
    options.pool.max_response_bytes = std::size_t{1} << 20;  // 1 MiB: anything larger must stream
    auto created = ServiceClient::create(options, {io.executor(), nullptr, *balancers, random, time, nullptr});
    ASSERT_TRUE(created.ok()) << created.error().describe();
    client = std::move(*created);
  }
  void TearDown() override {
    client.reset();
    server.reset();
    io.stop();
  }
  CallResult get(CallOptions options) {
    return io.run([&]() { return client->try_call("files", http::Verb::get, "/blob", options); });
  }

  testing::IoThread io;
  RealRandom random;
  RealTimeSource time;
  std::unique_ptr<BalancerPlugins> balancers;
  std::unique_ptr<BodyServer> server;
  std::unique_ptr<ServiceClient> client;
};

TEST_F(Streaming, A64MiBBodyStreamsThroughBoundedMemory) {
  constexpr std::uint64_t kSize = std::uint64_t{64} << 20;
  server->body_bytes(kSize);
  std::uint64_t received = 0, pieces = 0, largest = 0;
  CallOptions options;
  options.on_body = [&](std::string_view piece) -> Result<void> {
    received += piece.size();
    largest = std::max<std::uint64_t>(largest, piece.size());
    ++pieces;
    return {};
  };
  const auto before = peak_rss_kib();
  auto r = get(options);
  const auto grew_kib = peak_rss_kib() - before;
  ASSERT_TRUE(r.ok()) << r.error->what();
  EXPECT_EQ(r.response->result_int(), 200u);
  EXPECT_TRUE(r.response->body().empty());
  EXPECT_EQ(r.response->at(http::beast_http::field::content_length), std::to_string(kSize));
  EXPECT_EQ(received, kSize);
  EXPECT_LE(largest, 64u * 1024);
  EXPECT_GE(pieces, kSize / (64 * 1024));
  EXPECT_LT(grew_kib, 16u * 1024) << "the body was buffered: peak RSS grew by " << grew_kib << " KiB";
  std::cout << "streamed " << (kSize >> 20) << " MiB in " << pieces << " pieces; peak RSS grew " << grew_kib
            << " KiB\n";
}

TEST_F(Streaming, WithoutASinkTheSameBodyHitsTheResponseLimit) {
  server->body_bytes(std::uint64_t{4} << 20);
  CallOptions options;
  options.max_attempts = 1;
  auto r = get(options);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.error->what()).find("over the configured limit"), std::string::npos) << r.error->what();
}

TEST_F(Streaming, AResetAfterBytesWereDeliveredIsNotRetried) {
  server->body_bytes(std::uint64_t{8} << 20);
  server->reset_after(std::uint64_t{1} << 20);
  std::uint64_t received = 0;
  CallOptions options;
  options.on_body = [&](std::string_view piece) -> Result<void> {
    received += piece.size();
    return {};
  };
  auto r = get(options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->kind, CallErrorKind::connect);
  EXPECT_EQ(r.attempts, 1);  // a retry would hand the sink the first megabyte twice
  EXPECT_EQ(server->requests(), 1);
  EXPECT_GT(received, 0u);
  EXPECT_LE(received, std::uint64_t{1} << 20);
}

TEST_F(Streaming, ASinkErrorStopsTheTransferAndFailsTheCall) {
  server->body_bytes(std::uint64_t{16} << 20);
  std::uint64_t received = 0;
  CallOptions options;
  options.on_body = [&](std::string_view piece) -> Result<void> {
    received += piece.size();
    if (received > (std::uint64_t{1} << 20)) return make_error(ErrorCode::limit_exceeded, "disk full", "on_body");
    return {};
  };
  auto r = get(options);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(std::string(r.error->what()).find("disk full"), std::string::npos) << r.error->what();
  EXPECT_EQ(r.attempts, 1);
  EXPECT_LT(received, std::uint64_t{2} << 20);
}

TEST_F(Streaming, ASlowBodyIsCutAtTheAttemptTimeout) {
  server->body_bytes(std::uint64_t{4} << 20);  // 64 pieces
  server->piece_pause_ms(20);                  // ≥ 1.28 s in all
  CallOptions options;
  options.timeout = 300ms;
  options.on_body = [](std::string_view) -> Result<void> { return {}; };
  const auto started = std::chrono::steady_clock::now();
  auto r = get(options);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error->kind, CallErrorKind::timeout) << r.error->what();
  EXPECT_LT(std::chrono::steady_clock::now() - started, 1s);
}

}  // namespace
}  // namespace svckit
