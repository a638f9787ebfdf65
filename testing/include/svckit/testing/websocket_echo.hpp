// WebSocketEchoServer: a WebSocket upstream for pass-through tests (Boost.Beast): every message
// comes back with "echo:" before it. A plain GET (a readiness probe) gets 200 "ready". Notes the
// handshake's X-Forwarded-For and X-Forwarded-Proto, as a proxy set them.
// Runs on the io_context it is given (an IoThread's); the accessors are safe from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

namespace svckit::testing {

class WebSocketEchoServer {
 public:
  /// Listens on 127.0.0.1, port 0.
  explicit WebSocketEchoServer(boost::asio::io_context& io);
  ~WebSocketEchoServer();
  WebSocketEchoServer(const WebSocketEchoServer&) = delete;
  WebSocketEchoServer& operator=(const WebSocketEchoServer&) = delete;
  std::uint16_t port() const;
  /// The last WebSocket handshake's header value (empty before the first).
  std::string forwarded_for() const;
  std::string forwarded_proto() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace svckit::testing
