// FaultServer: an in-process HTTP server for client tests whose answers the test steers at run
// time — status code, delay, hang (never answer) — and which counts the requests it got.
// Runs on the io_context it is given (an IoThread's); atomics make it safe to steer from the test.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "svckit/http/server.hpp"

namespace svckit::testing {

class FaultServer {
 public:
  /// Listens on 127.0.0.1, port 0. `name` comes back in every 2xx body ({"server": name}).
  FaultServer(boost::asio::io_context& io, std::string name);
  std::uint16_t port() const { return server_->port(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  const std::string& name() const { return state_->name; }

  void answer_status(int status) { state_->status = status; }
  void delay_ms(int ms) { state_->delay_ms = ms; }
  void hang(bool on) { state_->hang = on; }
  int hits() const { return state_->hits; }
  /// The last request's header value (e.g. "traceparent"), for propagation tests.
  std::string last_header(const std::string& name) const;
  std::string last_target() const;

 private:
  struct State {
    std::string name;
    std::atomic<int> status{200};
    std::atomic<int> delay_ms{0};
    std::atomic<bool> hang{false};
    std::atomic<int> hits{0};
    mutable std::mutex mutex;
    std::map<std::string, std::string> last_headers;
    std::string last_target;
  };
  std::shared_ptr<State> state_;
  std::unique_ptr<http::HttpServer> server_;
};

}  // namespace svckit::testing
