// AsyncEvent: a one-shot, awaitable flag for coroutines (e.g. "first sync done", "all loops
// finished"). On WaitList: a waiter whose coroutine is destroyed leaves nothing behind.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/awaitable.hpp>
#include <chrono>

#include "svckit/core/sleeper.hpp"
#include "svckit/core/wait_list.hpp"

namespace svckit {

/// Thread-safe: set() and wait() may run on any thread.
class AsyncEvent {
 public:
  /// Wakes every waiter; later waits return at once.
  void set() { waiters_.close(); }
  bool is_set() const { return waiters_.closed(); }
  /// Clears the flag for the next round (every earlier waiter was released by set()).
  void reset() { waiters_.reopen(); }

  /// True when set before `timeout` ran out.
  boost::asio::awaitable<bool> wait(std::chrono::milliseconds timeout) {
    auto ticket = waiters_.park();
    if (!waiters_.closed()) (void)co_await ticket.wait_for(timeout, sleeper_);
    co_return waiters_.closed();
  }

 private:
  WaitList waiters_;
  AsioSleeper sleeper_;
};

}  // namespace svckit
