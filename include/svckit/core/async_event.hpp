// AsyncEvent: a one-shot, awaitable flag for coroutines on one executor (e.g. "first sync done",
// "all loops finished").
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <list>

namespace svckit {

/// Not thread-safe: set() and wait() must run on the same strand / single-threaded executor.
class AsyncEvent {
 public:
  /// Wakes every waiter; later waits return at once.
  void set() {
    set_ = true;
    for (auto* timer : waiters_) timer->cancel();
  }
  bool is_set() const { return set_; }

  /// True when set before `timeout` ran out.
  boost::asio::awaitable<bool> wait(std::chrono::milliseconds timeout) {
    if (set_) co_return true;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, timeout);
    auto position = waiters_.insert(waiters_.end(), &timer);
    boost::system::error_code ec;
    co_await timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
    waiters_.erase(position);
    co_return set_;
  }

 private:
  bool set_ = false;
  std::list<boost::asio::steady_timer*> waiters_;
};

}  // namespace svckit
