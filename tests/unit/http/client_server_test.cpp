// HttpClient against HttpServer in one process (loopback, port 0).
#include <gtest/gtest.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/asio/write.hpp>
#include <thread>

#include "svckit/http/client.hpp"
#include "svckit/http/server.hpp"
#include "svckit/testing/http_call.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/raw_server.hpp"

namespace svckit::http {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

class ClientServer : public ::testing::Test {
 protected:
  void start(ServerOptions options = {}) {
    server = std::make_unique<HttpServer>(io.io(), options, [](Request& req) -> Awaitable<Response> {
      if (req.target() == "/pause") {
        asio::steady_timer t(co_await asio::this_coro::executor, 100ms);
        co_await t.async_wait(asio::use_awaitable);
      }
      if (req.target() == "/slow") {
        asio::steady_timer t(co_await asio::this_coro::executor, 2s);
        co_await t.async_wait(asio::use_awaitable);
      }
      Response res{Status::ok, 11};
      res.body() = req.target() == "/big" ? std::string(4096, 'x') : std::string(req.target());
      co_return res;
    });
    ASSERT_TRUE(server->listen().ok());
  }

  Result<Response> get(HttpClient& client, const std::string& target, std::chrono::milliseconds timeout = 5s,
                       std::shared_ptr<CancelToken> cancel = nullptr) {
    return io.run([&]() {
      return client.send({"127.0.0.1", server->port()}, Request{Verb::get, target, 11}, timeout, cancel);
    });
  }

  testing::IoThread io;
  std::unique_ptr<HttpServer> server;
};

TEST_F(ClientServer, KeepAliveConnectionIsReused) {
  start();
  HttpClient client(io.executor());
  for (int i = 0; i < 10; ++i) {
    auto r = get(client, "/n" + std::to_string(i));
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->body(), "/n" + std::to_string(i));
  }
  EXPECT_EQ(client.stats().connections_opened, 1u);
  EXPECT_EQ(client.stats().connections_reused, 9u);
  EXPECT_EQ(server->requests_served(), 10u);
}

/// Sends `bytes` to the server `chunk` bytes per write and reads until the server closes.
std::string raw_exchange(std::uint16_t port, const std::string& bytes, std::size_t chunk) {
  asio::io_context sync;
  asio::ip::tcp::socket socket(sync);
  socket.connect({asio::ip::make_address("127.0.0.1"), port});
  socket.set_option(asio::ip::tcp::no_delay(true));
  for (std::size_t i = 0; i < bytes.size(); i += chunk) {
    asio::write(socket, asio::buffer(bytes.data() + i, std::min(chunk, bytes.size() - i)));
  }
  std::string out;
  boost::system::error_code ec;
  char piece[4096];
  while (!ec) out.append(piece, socket.read_some(asio::buffer(piece), ec));
  return out;
}

TEST_F(ClientServer, PlainRequestsArriveWholeWhetherPipelinedOrAByteAtATime) {
  start();
  // Three requests in one stream (the last one closes): the one-pass head parser takes the plain
  // ones, Beast's parser the one with a body, and each is answered in order, whole.
  const std::string requests =
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi"
      "GET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  for (const std::size_t chunk : {requests.size(), std::size_t{1}, std::size_t{7}}) {
    const auto answers = raw_exchange(server->port(), requests, chunk);
    const auto a = answers.find("\r\n\r\n/a");
    const auto b = answers.find("\r\n\r\n/b");
    const auto c = answers.find("\r\n\r\n/c");
    ASSERT_NE(a, std::string::npos) << chunk << ": " << answers;
    ASSERT_NE(b, std::string::npos) << chunk << ": " << answers;
    ASSERT_NE(c, std::string::npos) << chunk << ": " << answers;
    EXPECT_LT(a, b);
    EXPECT_LT(b, c);
    EXPECT_TRUE(answers.ends_with("/c")) << answers;
  }
}

TEST_F(ClientServer, AHeadPastTheHeaderLimitIs431AndAHeadCutShortIsNotAnswered) {
  ServerOptions options;
  options.max_header_bytes = 256;
  start(options);
  const auto too_big =
      raw_exchange(server->port(), "GET / HTTP/1.1\r\nX-Big: " + std::string(400, 'a') + "\r\n\r\n", 64);
  EXPECT_TRUE(too_big.starts_with("HTTP/1.1 431 ")) << too_big;
  const auto malformed = raw_exchange(server->port(), "GET / HTTP/1.1\r\nX-A: a\nb\r\n\r\n", 5);
  EXPECT_TRUE(malformed.starts_with("HTTP/1.1 400 ")) << malformed;
  asio::io_context sync;  // a head that never ends: the connection closes, nothing is answered
  asio::ip::tcp::socket socket(sync);
  socket.connect({asio::ip::make_address("127.0.0.1"), server->port()});
  asio::write(socket, asio::buffer(std::string_view("GET / HTTP/1.1\r\nHost: h\r\n")));
  socket.shutdown(asio::ip::tcp::socket::shutdown_send);
  boost::system::error_code ec;
  char piece[64];
  EXPECT_EQ(socket.read_some(asio::buffer(piece), ec), 0U);
  EXPECT_TRUE(ec);
}

TEST_F(ClientServer, ResolvedAddressesAreCachedForTheDnsTtl) {
  start();
  ClientOptions options;
  options.max_idle_per_endpoint = 0;  // every request opens a new connection
  options.dns_ttl = 100ms;
  HttpClient client(io.executor(), options);
  auto via_name = [&] {
    return io.run([&]() { return client.send({"localhost", server->port()}, Request{Verb::get, "/", 11}, 5s); });
  };
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(via_name().ok());
  EXPECT_EQ(client.stats().connections_opened, 3u);
  EXPECT_EQ(client.stats().dns_lookups, 1u) << "one lookup, then the cache";
  ASSERT_TRUE(svckit::testing::wait_until(
      [&] {
        (void)via_name();
        return client.stats().dns_lookups == 2u;
      },
      5s))
      << "looked up again after the TTL";
}

TEST_F(ClientServer, ConnectionsPerEndpointAreCappedAndRequestsWaitForOne) {
  start();
  ClientOptions options;
  options.max_connections_per_endpoint = 2;
  HttpClient client(io.executor(), options);
  std::vector<std::future<Result<Response>>> pending;
  for (int i = 0; i < 6; ++i) {
    pending.push_back(asio::co_spawn(io.executor(),
                                     client.send({"127.0.0.1", server->port()}, Request{Verb::get, "/pause", 11}, 5s),
                                     asio::use_future));
  }
  for (auto& f : pending) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.error().describe();
  }
  const auto stats = client.stats();
  EXPECT_EQ(stats.connections_opened, 2u);  // six requests, two connections
  EXPECT_EQ(stats.connections_reused, 4u);
  EXPECT_GE(stats.pool_waits, 4u);
  EXPECT_EQ(stats.open, 2u);
  EXPECT_EQ(stats.idle, 2u);
}

TEST_F(ClientServer, FullPoolRefusesPastMaxPendingAndTimesOutWaiters) {
  start();
  ClientOptions options;
  options.max_connections_per_endpoint = 1;
  options.max_pending_per_endpoint = 1;
  HttpClient client(io.executor(), options);
  const net::HostPort at{"127.0.0.1", server->port()};
  auto busy = asio::co_spawn(io.executor(), client.send(at, Request{Verb::get, "/slow", 11}, 5s), asio::use_future);
  ASSERT_TRUE(svckit::testing::wait_until([&] { return client.stats().open == 1; }, 5s));
  auto waiter = asio::co_spawn(io.executor(), client.send(at, Request{Verb::get, "/", 11}, 200ms), asio::use_future);
  ASSERT_TRUE(svckit::testing::wait_until([&] { return client.stats().pool_waits == 1; }, 5s));
  auto refused = get(client, "/", 5s);  // a second waiter is one too many
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::limit_exceeded);
  auto timed_out = waiter.get();
  ASSERT_FALSE(timed_out.ok());
  EXPECT_EQ(timed_out.error().code, ErrorCode::timeout);
  EXPECT_NE(timed_out.error().message.find("no free connection"), std::string::npos);
  auto first = busy.get();
  ASSERT_TRUE(first.ok()) << first.error().describe();
  EXPECT_TRUE(get(client, "/after", 5s).ok()) << "the slot came back";
  EXPECT_EQ(client.stats().connections_opened, 1u);
}

TEST_F(ClientServer, ConnectionClosedByServerIsRetriedOnceTransparently) {
  ServerOptions options;
  options.idle_timeout = 50ms;
  start(options);
  HttpClient client(io.executor());
  ASSERT_TRUE(get(client, "/a").ok());
  ASSERT_TRUE(svckit::testing::wait_until([&] { return server->connections() == 0; },
                                          5s));  // server dropped the idle connection
  auto r = get(client, "/b");
  ASSERT_TRUE(r.ok()) << r.error().describe();
  // The close is seen before the connection is used (or, in a race, retried once).
  EXPECT_LE(client.stats().stale_retries, 1u);
  EXPECT_EQ(client.stats().connections_opened, 2u);
}

std::string target_of(const std::string& head) {
  const auto start = head.find(' ') + 1;
  return head.substr(start, head.find(' ', start) - start);
}

std::string answer_with(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// An upstream that writes a second answer right behind the first (or more bytes than its
// Content-Length): those bytes must never be read as the next caller's answer. Before the fix the
// pooled connection went back with them buffered and every later answer was shifted by one.
TEST(HttpClientFraming, BytesAfterAFramedAnswerAreNeverHandedToTheNextCaller) {
  testing::RawServer upstream(
      [](const std::string& head, int) { return answer_with(target_of(head)) + answer_with("/injected"); });
  testing::IoThread io;
  HttpClient client(io.executor());
  for (const std::string target : {"/a", "/b", "/c"}) {
    auto r = io.run([&] { return client.send({"127.0.0.1", upstream.port()}, Request{Verb::get, target, 11}, 5s); });
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ(r->body(), target);
  }
  EXPECT_EQ(client.stats().connections_reused, 0u) << "a connection with unread bytes is closed";
}

TEST(HttpClientFraming, BytesThatArriveWhileAConnectionIsIdleRetireIt) {
  testing::RawServer upstream([](const std::string& head, int) { return answer_with(target_of(head)); });
  testing::IoThread io;
  HttpClient client(io.executor());
  const net::HostPort at{"127.0.0.1", upstream.port()};
  auto get_target = [&](const std::string& target) {
    return io.run([&] { return client.send(at, Request{Verb::get, target, 11}, 5s); });
  };
  auto first = get_target("/a");
  ASSERT_TRUE(first.ok()) << first.error().describe();
  ASSERT_EQ(upstream.push(answer_with("/injected")), 1) << "an unsolicited answer on the idle connection";
  auto second = get_target("/b");
  ASSERT_TRUE(second.ok()) << second.error().describe();
  EXPECT_EQ(second->body(), "/b");
  EXPECT_EQ(client.stats().connections_opened, 2u);
  auto third = get_target("/c");
  ASSERT_TRUE(third.ok()) << third.error().describe();
  EXPECT_EQ(third->body(), "/c");
  EXPECT_EQ(client.stats().connections_reused, 1u) << "a clean connection is still reused";
}

// The same past a body too large for the connection's buffer (read straight into the answer's
// string, up to its declared length): the bytes behind it stay on the socket, and the check before
// reuse retires the connection.
TEST(HttpClientFraming, BytesPastALargeBodyAreNeverHandedToTheNextCaller) {
  const std::string big(300 * 1024, 'b');
  testing::RawServer upstream(
      [&big](const std::string& head, int) { return answer_with(big + target_of(head)) + answer_with("/injected"); });
  testing::IoThread io;
  HttpClient client(io.executor());
  for (const std::string target : {"/a", "/b"}) {
    auto r = io.run([&] { return client.send({"127.0.0.1", upstream.port()}, Request{Verb::get, target, 11}, 5s); });
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_TRUE(r->body() == big + target) << "got " << r->body().size() << " bytes";
  }
  EXPECT_EQ(client.stats().connections_reused, 0u) << "a connection with unread bytes is closed";
}

// Before: an error answer's Content-Length was not held against max_response_bytes until its body
// had been read (100 MB of RSS per request through the gateway); here the body never comes, so the
// old client waited for it until the timeout.
TEST(HttpClientFraming, AnErrorAnswerOverTheLimitFailsBeforeItsBodyIsRead) {
  testing::RawServer upstream([](const std::string&, int) {
    return std::string("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 104857600\r\n\r\npartial");
  });
  testing::IoThread io;
  ClientOptions options;
  options.max_response_bytes = 1024;
  HttpClient client(io.executor(), options);
  Streaming streaming;
  streaming.on_body = [](std::string_view) -> Awaitable<Result<void>> { co_return Result<void>{}; };
  auto r = io.run([&] {
    return client.send_streaming({"127.0.0.1", upstream.port()}, Request{Verb::get, "/", 11}, 10s, nullptr, streaming);
  });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::payload_too_large) << r.error().describe();
}

// Answers with a declared length are read straight into the answer's string (the part that came
// with the head, then the rest): one larger than the client's read piece, written by the server in
// several pieces, arrives whole, over send() and over send_streaming()'s buffered path alike, and
// the connection is reused after it.
TEST(HttpClientFraming, ALargeAnswerReadStraightIntoTheBodyArrivesWhole) {
  std::string big(700 * 1024 + 13, 'x');
  for (std::size_t i = 0; i < big.size(); i += 997) big[i] = static_cast<char>('a' + i % 26);
  testing::RawServer upstream([&big](const std::string&, int) { return answer_with(big); });
  testing::IoThread io;
  HttpClient client(io.executor());
  const net::HostPort at{"127.0.0.1", upstream.port()};
  auto whole = io.run([&] { return client.send(at, Request{Verb::get, "/", 11}, 10s); });
  ASSERT_TRUE(whole.ok()) << whole.error().describe();
  EXPECT_TRUE(whole->body() == big) << "got " << whole->body().size() << " bytes";
  Streaming streaming;
  streaming.buffer_up_to = big.size();
  streaming.on_body = [](std::string_view) -> Awaitable<Result<void>> { co_return Result<void>{}; };
  auto buffered = io.run([&] {
    return client.send_streaming(at, Request{Verb::get, "/", 11}, 10s, nullptr, streaming);
  });
  ASSERT_TRUE(buffered.ok()) << buffered.error().describe();
  EXPECT_TRUE(buffered->body() == big) << "got " << buffered->body().size() << " bytes";
  EXPECT_EQ(client.stats().connections_reused, 1u);
}

// A server that ends the connection before the declared length is an error, never a short body.
TEST(HttpClientFraming, AnAnswerCutBeforeItsDeclaredLengthIsAnError) {
  asio::io_context server_io;
  asio::ip::tcp::acceptor acceptor(server_io, {asio::ip::make_address("127.0.0.1"), 0});
  const auto at = acceptor.local_endpoint();  // read before the server thread uses the acceptor
  std::thread server([&] {                    // one connection: an answer that began is not sent again
    boost::system::error_code ec;
    auto socket = acceptor.accept(ec);
    if (ec) return;
    std::array<char, 4096> head{};
    (void)socket.read_some(asio::buffer(head), ec);
    const std::string cut = "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + std::string(70000, 'y');
    asio::write(socket, asio::buffer(cut), ec);
    socket.close(ec);
  });
  testing::IoThread io;
  HttpClient client(io.executor());
  auto r = io.run([&] { return client.send({"127.0.0.1", at.port()}, Request{Verb::post, "/", 11}, 5s); });
  {  // had the client never connected, this wakes the server thread's accept (else it waits in the backlog)
    boost::system::error_code ec;
    asio::ip::tcp::socket poke(server_io);
    poke.connect(at, ec);
    server.join();
  }
  ASSERT_FALSE(r.ok()) << "a body of " << r->body().size() << " bytes was taken for 100000";
  EXPECT_EQ(r.error().code, ErrorCode::unavailable) << r.error().describe();
}

// The limit holds for answers read whole too, before a byte of their body is read.
TEST(HttpClientFraming, AnAnswerOverTheLimitIsRefusedFromItsHead) {
  testing::RawServer upstream(
      [](const std::string&, int) { return std::string("HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\nabc"); });
  testing::IoThread io;
  ClientOptions options;
  options.max_response_bytes = 4096;
  HttpClient client(io.executor(), options);
  auto r = io.run([&] { return client.send({"127.0.0.1", upstream.port()}, Request{Verb::get, "/", 11}, 10s); });
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::payload_too_large) << r.error().describe();
}

}  // namespace
}  // namespace svckit::http
