// Watchdog: a lazy deadline for the operations on one connection (internal to http/).
//
// Beast's tcp_stream arms a timer for every read and every write. A watchdog only records the
// deadline in arm(); its timer, once started, fires at most once per deadline period: when it
// finds the deadline passed while the connection is busy, it calls `expire` (which shuts the
// socket down, so the operation in progress fails — or the next one, whatever the interleaving of
// threads); when it finds the connection idle, it stops until the next arm().
//
// Thread-safe (a small mutex). Create with make(); `expire` runs on the timer's executor.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>

namespace svckit::http::detail {

class Watchdog : public std::enable_shared_from_this<Watchdog> {
 public:
  using Clock = std::chrono::steady_clock;

  static std::shared_ptr<Watchdog> make(const boost::asio::any_io_executor& executor, std::function<void()> expire) {
    return std::shared_ptr<Watchdog>(new Watchdog(executor, std::move(expire)));
  }
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;

  /// The operations from now on must end by `deadline`.
  void arm(Clock::time_point deadline) {
    std::lock_guard lock(mutex_);
    deadline_ = deadline;
    busy_ = true;
    if (!watching_ || deadline < timer_at_) {  // not running, or a sooner deadline than the timer's
      watching_ = true;
      start_locked();
    }
  }
  /// No operation pending: the watchdog lets the connection be (and stops at its next wake-up).
  void disarm() {
    std::lock_guard lock(mutex_);
    busy_ = false;
  }
  /// Stops for good (the connection is closing); `expire` is not called after this returns.
  void stop() {
    std::lock_guard lock(mutex_);
    busy_ = false;
    stopped_ = true;
    timer_.cancel();
  }

 private:
  Watchdog(const boost::asio::any_io_executor& executor, std::function<void()> expire)
      : timer_(executor), expire_(std::move(expire)) {}

  void start_locked() {
    timer_at_ = deadline_;
    timer_.expires_at(deadline_);  // a wait still pending completes as aborted, and is ignored
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      self->on_timer();
    });
  }

  void on_timer() {
    std::unique_lock lock(mutex_);
    if (!busy_ || stopped_) {
      watching_ = false;
      return;
    }
    if (Clock::now() < deadline_) {
      start_locked();  // the deadline moved on since the timer was set
      return;
    }
    watching_ = false;
    lock.unlock();
    expire_();
  }

  boost::asio::steady_timer timer_;
  std::function<void()> expire_;
  std::mutex mutex_;
  Clock::time_point deadline_{};  // guarded by mutex_
  Clock::time_point timer_at_{};  // guarded by mutex_: when the pending wait ends
  bool busy_ = false;             // guarded by mutex_
  bool watching_ = false;         // guarded by mutex_: the timer has a wait pending
  bool stopped_ = false;          // guarded by mutex_
};

}  // namespace svckit::http::detail
