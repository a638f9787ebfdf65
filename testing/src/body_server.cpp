#include "svckit/testing/body_server.hpp"

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <string>
#include <vector>

namespace svckit::testing {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct BodyServer::Impl {
  explicit Impl(asio::io_context& io) : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
  tcp::acceptor acceptor;
};

namespace {

// NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
asio::awaitable<void> answer(tcp::socket socket, std::shared_ptr<BodyServer::State> state) {
  boost::system::error_code ec;
  asio::streambuf request;
  co_await asio::async_read_until(socket, request, "\r\n\r\n", asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  ++state->requests;
  const std::uint64_t total = state->body;
  const std::uint64_t cut = state->reset_after;
  const std::string head =
      "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: " + std::to_string(total) +
      "\r\nConnection: close\r\n\r\n";
  co_await asio::async_write(socket, asio::buffer(head), asio::redirect_error(asio::use_awaitable, ec));
  std::vector<char> piece(std::size_t{64} * 1024, 'x');
  std::uint64_t sent = 0;
  while (!ec && sent < total) {
    std::uint64_t n = std::min<std::uint64_t>(piece.size(), total - sent);
    if (cut > 0) n = std::min(n, cut - sent);
    co_await asio::async_write(socket, asio::buffer(piece.data(), n), asio::redirect_error(asio::use_awaitable, ec));
    sent += n;
    if (cut > 0 && sent >= cut) {
      socket.set_option(asio::socket_base::linger(true, 0), ec);  // close → RST
      socket.close(ec);
      co_return;
    }
    if (const int pause = state->pause_ms; pause > 0) {
      asio::steady_timer t(socket.get_executor(), std::chrono::milliseconds(pause));
      co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
  }
  socket.shutdown(tcp::socket::shutdown_send, ec);
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
asio::awaitable<void> accept_loop(std::shared_ptr<BodyServer::Impl> impl, std::shared_ptr<BodyServer::State> state) {
  for (;;) {
    boost::system::error_code ec;
    auto socket = co_await impl->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    asio::co_spawn(impl->acceptor.get_executor(), answer(std::move(socket), state), asio::detached);
  }
}

}  // namespace

BodyServer::BodyServer(asio::io_context& io)
    : state_(std::make_shared<State>()),
      impl_(std::make_shared<Impl>(io)),
      port_(impl_->acceptor.local_endpoint().port()) {
  asio::co_spawn(io, accept_loop(impl_, state_), asio::detached);
}

BodyServer::~BodyServer() {
  asio::post(impl_->acceptor.get_executor(), [impl = impl_] {
    boost::system::error_code ec;
    impl->acceptor.close(ec);
  });
}

}  // namespace svckit::testing
