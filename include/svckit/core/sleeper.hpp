// Sleeper: how logic waits (retry backoff, hedging delay, injected latency, drain polling).
// Injected like TimeSource and Random, so a simulation can run the same code in virtual time.
// WakeableWait: a wait that another thread can end early.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>

#include "svckit/core/cancel_token.hpp"

namespace svckit {

/// Implementations state their thread-safety. The awaiting coroutine resumes on its own executor.
class Sleeper {
 public:
  virtual ~Sleeper() = default;
  /// Completes after `duration` on the clock this sleeper pairs with, or early when `cancel`
  /// (may be null) fires. Returns true when the full duration passed, false when cancelled.
  /// `cancel`'s hook is taken for the wait and cleared after it.
  virtual boost::asio::awaitable<bool> sleep_for(std::chrono::nanoseconds duration, CancelToken* cancel = nullptr) = 0;
};

/// Real time: an Asio steady_timer on the awaiting coroutine's executor. Stateless, thread-safe.
class AsioSleeper final : public Sleeper {
 public:
  boost::asio::awaitable<bool> sleep_for(std::chrono::nanoseconds duration, CancelToken* cancel = nullptr) override;
};

/// A one-shot wait on a steady_timer that wake() ends early, from any thread, with no lost
/// wake-up: a wake() that comes before the wait starts makes it return at once. (Posting
/// timer.cancel() to a multi-threaded executor is not enough: it may run before async_wait.)
/// The timer lives on a strand; wake() posts to it. Copies share one state.
class WakeableWait {
 public:
  explicit WakeableWait(const boost::asio::any_io_executor& executor);
  /// Waits until `until` or wake(). Returns true when woken. Call once.
  boost::asio::awaitable<bool> wait_until(std::chrono::steady_clock::time_point until) const;
  /// Thread-safe; idempotent.
  void wake() const;
  /// True when both are copies of one wait.
  bool same(const WakeableWait& other) const { return state_ == other.state_; }

  struct State;  // public for the strand coroutine in sleeper.cpp; opaque to callers

 private:
  std::shared_ptr<State> state_;
};

}  // namespace svckit
