// RawServer: a loopback TCP server that answers each HTTP request head it reads with whatever raw
// bytes the test returns — framing errors, extra bytes after a response, a second response. For
// tests of what a client or proxy does when an upstream breaks HTTP's rules.
// It runs on its own thread; the answer function runs there too.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace svckit::testing {

class RawServer {
 public:
  /// `answer(head, n)` gets each request head (request line and headers, CRLF CRLF included; a
  /// request body is not read) and the running count of requests on all connections (1-based),
  /// and returns the bytes to write back. An empty string closes the connection.
  using Answer = std::function<std::string(const std::string& head, int n)>;
  explicit RawServer(Answer answer);
  ~RawServer();
  RawServer(const RawServer&) = delete;
  RawServer& operator=(const RawServer&) = delete;

  std::uint16_t port() const { return port_; }
  /// Requests answered so far (the answer's bytes written).
  int answered() const { return answered_.load(); }
  /// Writes `bytes` on every open connection now, unasked (on loopback they are in the peer's
  /// receive queue when this returns). Returns the number of connections written to.
  int push(const std::string& bytes);

 private:
  void serve(int fd);
  Answer answer_;
  int listener_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<int> answered_{0};
  std::atomic<bool> stopping_{false};
  std::mutex mutex_;
  std::set<int> open_;  // guarded by mutex_
  std::thread thread_;
};

}  // namespace svckit::testing
