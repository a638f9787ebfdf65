#include "svckit/testing/websocket_echo.hpp"

#include <mutex>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket.hpp>

#include "svckit/http/types.hpp"

namespace svckit::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

struct WebSocketEchoServer::State {
  explicit State(asio::io_context& io) : acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {}
  tcp::acceptor acceptor;
  mutable std::mutex mutex;
  std::string forwarded_for;    // guarded by mutex
  std::string forwarded_proto;  // guarded by mutex
};

namespace {

http::Awaitable<void> echo_session(std::shared_ptr<WebSocketEchoServer::State> state, tcp::socket socket) {
  boost::system::error_code ec;
  beast::flat_buffer buffer;
  http::Request request;
  co_await http::beast_http::async_read(socket, buffer, request, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return;
  if (!beast::websocket::is_upgrade(request)) {  // readiness probes
    http::Response ok{http::Status::ok, 11};
    ok.body() = "ready";
    ok.prepare_payload();
    co_await http::beast_http::async_write(socket, ok, asio::redirect_error(asio::use_awaitable, ec));
    co_return;
  }
  {
    std::lock_guard lock(state->mutex);
    state->forwarded_for = std::string(request["X-Forwarded-For"]);
    state->forwarded_proto = std::string(request["X-Forwarded-Proto"]);
  }
  beast::websocket::stream<tcp::socket> ws(std::move(socket));
  co_await ws.async_accept(request, asio::redirect_error(asio::use_awaitable, ec));
  while (!ec) {
    beast::flat_buffer message;
    co_await ws.async_read(message, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    const std::string echo = "echo:" + beast::buffers_to_string(message.data());
    co_await ws.async_write(asio::buffer(echo), asio::redirect_error(asio::use_awaitable, ec));
  }
}

http::Awaitable<void> echo_accept_loop(std::shared_ptr<WebSocketEchoServer::State> state) {
  for (;;) {
    boost::system::error_code ec;
    auto socket = co_await state->acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
    asio::co_spawn(state->acceptor.get_executor(), echo_session(state, std::move(socket)), asio::detached);
  }
}

}  // namespace

WebSocketEchoServer::WebSocketEchoServer(asio::io_context& io) : state_(std::make_shared<State>(io)) {
  asio::co_spawn(io, echo_accept_loop(state_), asio::detached);
}

WebSocketEchoServer::~WebSocketEchoServer() {
  asio::post(state_->acceptor.get_executor(), [state = state_] {
    boost::system::error_code ignored;
    state->acceptor.close(ignored);
  });
}

std::uint16_t WebSocketEchoServer::port() const { return state_->acceptor.local_endpoint().port(); }

std::string WebSocketEchoServer::forwarded_for() const {
  std::lock_guard lock(state_->mutex);
  return state_->forwarded_for;
}

std::string WebSocketEchoServer::forwarded_proto() const {
  std::lock_guard lock(state_->mutex);
  return state_->forwarded_proto;
}

}  // namespace svckit::testing
