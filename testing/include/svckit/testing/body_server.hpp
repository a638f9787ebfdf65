// BodyServer: a raw HTTP/1.1 server for transfer tests — answers every request with a body of a
// chosen size, written in pieces, optionally slowly (a pause between pieces) and optionally cut
// by a TCP reset after some bytes. One request per connection (Connection: close).
// Runs on the io_context it is given (an IoThread's); atomics make it safe to steer from the test.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>

namespace svckit::testing {

class BodyServer {
 public:
  /// Listens on 127.0.0.1, port 0.
  explicit BodyServer(boost::asio::io_context& io);
  ~BodyServer();
  BodyServer(const BodyServer&) = delete;
  BodyServer& operator=(const BodyServer&) = delete;
  std::uint16_t port() const { return port_; }

  void body_bytes(std::uint64_t n) { state_->body = n; }
  void piece_pause_ms(int ms) { state_->pause_ms = ms; }
  /// > 0: after this many body bytes, the connection is reset (RST), the body unfinished.
  void reset_after(std::uint64_t n) { state_->reset_after = n; }
  int requests() const { return state_->requests; }

  struct State {
    std::atomic<std::uint64_t> body{0};
    std::atomic<int> pause_ms{0};
    std::atomic<std::uint64_t> reset_after{0};
    std::atomic<int> requests{0};
  };
  struct Impl;  // public for the accept loop in body_server.cpp

 private:
  std::shared_ptr<State> state_;
  std::shared_ptr<Impl> impl_;
  std::uint16_t port_;
};

}  // namespace svckit::testing
