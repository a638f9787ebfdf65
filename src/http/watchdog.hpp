// Watchdog: a lazy deadline for the operations on one connection (internal to http/).
//
// Beast's tcp_stream arms a timer for every read and every write. A watchdog only records the
// deadline in arm(); its timer, once started, fires at most once per deadline period: when it
// finds the deadline passed while the connection is busy, it calls `expire` (which shuts the
// socket down, so the operation in progress fails — or the next one, whatever the interleaving of
// threads); when it finds the connection idle, it stops until the next arm().
//
// Thread-safe. arm() and disarm() — a few per request on every connection — take no lock while the
// timer runs for a deadline no later than the new one (the usual case: each operation's deadline
// is later than the last); starting or restarting the timer, its wake-ups and stop() take a small
// mutex. Create with make(); `expire` runs on the timer's executor.
#pragma once

#include <atomic>
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
    const auto at = deadline.time_since_epoch().count();
    deadline_.store(at, std::memory_order_relaxed);
    busy_.store(true);  // seq_cst: ordered before the load of watching_ (see on_timer)
    if (watching_.load() && at >= timer_at_.load(std::memory_order_relaxed)) return;  // the timer covers it
    std::lock_guard lock(mutex_);
    if (stopped_) return;
    if (!watching_.load() || at < timer_at_.load(std::memory_order_relaxed)) {
      watching_.store(true);
      start_locked();
    }
  }
  /// No operation pending: the watchdog lets the connection be (and stops at its next wake-up).
  void disarm() { busy_.store(false); }
  /// Stops for good (the connection is closing); `expire` is not called after this returns.
  void stop() {
    std::lock_guard lock(mutex_);
    busy_.store(false);
    stopped_ = true;
    timer_.cancel();
  }

 private:
  Watchdog(const boost::asio::any_io_executor& executor, std::function<void()> expire)
      : timer_(executor), expire_(std::move(expire)) {}

  void start_locked() {
    const auto at = deadline_.load(std::memory_order_relaxed);
    timer_at_.store(at, std::memory_order_relaxed);
    timer_.expires_at(Clock::time_point(Clock::duration(at)));  // a pending wait completes as aborted, ignored
    timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      self->on_timer();
    });
  }

  void on_timer() {
    std::unique_lock lock(mutex_);
    if (stopped_) {
      watching_.store(false);
      return;
    }
    if (!busy_.load()) {
      watching_.store(false);
      // An arm() that saw watching_ still true returned without the lock; its busy_ store comes
      // before its watching_ load, and this store before this load (all seq_cst), so one of the
      // two sees the other: here, and the timer goes on.
      if (!busy_.load()) return;
      watching_.store(true);
    }
    if (Clock::now().time_since_epoch().count() < deadline_.load(std::memory_order_relaxed)) {
      start_locked();  // the deadline moved on since the timer was set
      return;
    }
    watching_.store(false);
    lock.unlock();
    expire_();
  }

  boost::asio::steady_timer timer_;
  std::function<void()> expire_;
  std::mutex mutex_;  // serialises starting the timer, its wake-ups and stop()
  std::atomic<Clock::rep> deadline_{0};
  std::atomic<Clock::rep> timer_at_{0};  // written under mutex_: when the pending wait ends
  std::atomic<bool> busy_{false};
  std::atomic<bool> watching_{false};  // written under mutex_: the timer has a wait pending
  bool stopped_ = false;               // guarded by mutex_
};

}  // namespace svckit::http::detail
