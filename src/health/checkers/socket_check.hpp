// What the socket-based checkers share: resolve + connect under one deadline, and how a failed
// check is reported. Must run on a strand (HealthMonitor spawns each check loop on its own): the
// deadline's handler and the check's operations then never run at the same time.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "svckit/health/health_checker.hpp"

namespace svckit::health_detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// A socket whose pending operations fail once the deadline passes (the timer closes it).
class DeadlineSocket : public std::enable_shared_from_this<DeadlineSocket> {
 public:
  explicit DeadlineSocket(const asio::any_io_executor& executor);
  ~DeadlineSocket();
  void arm(std::chrono::milliseconds timeout);
  /// Resolves and connects; empty on success, else what went wrong.
  asio::awaitable<std::string> connect(const CheckTarget& target);
  tcp::socket& socket() { return socket_; }
  bool timed_out() const { return timed_out_; }
  /// A failed result: "timed out after 2000ms" when the deadline fired, else `what`.
  CheckResult failure(const std::string& what) const;
  CheckResult success(std::string message) const;

 private:
  tcp::socket socket_;
  tcp::resolver resolver_;
  asio::steady_timer timer_;
  std::chrono::milliseconds timeout_{0};
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  bool timed_out_ = false;
};

}  // namespace svckit::health_detail
