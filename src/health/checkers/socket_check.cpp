#include "health/checkers/socket_check.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace svckit::health_detail {

DeadlineSocket::DeadlineSocket(const asio::any_io_executor& executor)
    : socket_(executor), resolver_(executor), timer_(executor) {}

DeadlineSocket::~DeadlineSocket() = default;

void DeadlineSocket::arm(std::chrono::milliseconds timeout) {
  timeout_ = timeout;
  timer_.expires_after(timeout);
  timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    auto self = weak.lock();
    if (ec || !self) return;
    self->timed_out_ = true;
    boost::system::error_code ignored;
    self->resolver_.cancel();
    self->socket_.close(ignored);
  });
}

asio::awaitable<std::string> DeadlineSocket::connect(const CheckTarget& target) {
  boost::system::error_code ec;
  auto endpoints = co_await resolver_.async_resolve(target.host, std::to_string(target.port),
                                                    asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return "resolve " + target.host + ": " + ec.message();
  if (timed_out_) co_return "resolve " + target.host + ": timed out";
  co_await asio::async_connect(socket_, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return "connect: " + ec.message();
  co_return std::string{};
}

CheckResult DeadlineSocket::failure(const std::string& what) const {
  CheckResult r;
  r.ok = false;
  r.message = timed_out_ ? "timed out after " + std::to_string(timeout_.count()) + "ms" : what;
  r.latency = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_);
  return r;
}

CheckResult DeadlineSocket::success(std::string message) const {
  CheckResult r;
  r.ok = true;
  r.message = std::move(message);
  r.latency = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started_);
  return r;
}

}  // namespace svckit::health_detail
