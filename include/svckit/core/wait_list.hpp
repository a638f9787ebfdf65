// WaitList: coroutines waiting for something another party hands out one at a time (a free pooled
// connection, a task, a config change) or all at once (close). The one waiting primitive of svckit.
//
//   auto ticket = list.park();                       // registered now: a notify from here on counts
//   if (!co_await ticket.wait_for(timeout, sleeper)) // notified -> true; timed out -> false
//     ...
//
// Guarantees:
//  - a waiter leaves the list on every exit: woken, timed out, or its coroutine destroyed while
//    suspended (the Ticket's destructor) — nothing points at a dead coroutine afterwards;
//  - no lost wake-up: notify_one() picks the oldest waiter still waiting. A waiter whose timeout
//    fires as it is notified takes the wake-up (wait_for returns true); a notified waiter that never
//    takes it (destroyed first) passes it on to the next one;
//  - close() wakes every waiter and every later park() returns a ticket that is already notified;
//    callers check closed() after waking.
// Waits run on the injected Sleeper (real or virtual time). Thread-safety: every method may be
// called from any thread; a Ticket is used by one coroutine. The list must outlive its tickets.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <mutex>

#include "svckit/core/cancel_token.hpp"
#include "svckit/core/sleeper.hpp"

namespace svckit {

class WaitList {
  struct Entry;

 public:
  class Ticket {
   public:
    Ticket(Ticket&& other) noexcept : list_(other.list_), entry_(std::move(other.entry_)) {}
    Ticket& operator=(Ticket&&) = delete;
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    /// Leaves the list; a wake-up this ticket received and did not take passes on.
    ~Ticket();

    /// Waits until notified or until `timeout` has passed on `sleeper`'s clock. True when notified
    /// (also when the timeout fired at the same moment: the wake-up is never dropped). Call once.
    boost::asio::awaitable<bool> wait_for(std::chrono::nanoseconds timeout, Sleeper& sleeper);
    /// Notified (and not yet taken by wait_for).
    bool notified() const;
    /// Wakes this ticket alone, if it still waits: for cancellation hooks (a client went away).
    /// Callable from any thread, also after the ticket is gone (then it does nothing); the list
    /// must outlive it.
    std::function<void()> waker() const;

   private:
    friend class WaitList;
    Ticket(WaitList& list, std::shared_ptr<Entry> entry) : list_(&list), entry_(std::move(entry)) {}
    WaitList* list_;
    std::shared_ptr<Entry> entry_;
  };

  WaitList() = default;
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;

  /// Registers a waiter at the back of the line.
  Ticket park();
  /// Wakes the oldest waiter still waiting. False when none waits.
  bool notify_one();
  void notify_all();
  /// Wakes everyone; later park() calls return tickets that are already notified.
  void close();
  /// Accepts waiters again after close() (those parked before were all released).
  void reopen();
  bool closed() const;
  /// Waiters parked and not yet woken or gone.
  std::size_t waiting() const;

 private:
  enum class State { waiting, notified, taken, left };
  struct Entry {
    CancelToken wake;  // cancelled = notified: ends the Sleeper's wait
    State state = State::waiting;
    bool handed_out = false;  // notified by notify_one/all (passed on if not taken), not by a waker
    std::list<std::shared_ptr<Entry>>::iterator position;
  };
  /// Marks the oldest waiting entry notified and removes it from the line; null when none.
  std::shared_ptr<Entry> pick_locked();

  /// Publishes line_.size() after a change to the line (mutex_ held).
  void count_locked() { line_size_.store(line_.size(), std::memory_order_release); }

  mutable std::mutex mutex_;
  std::list<std::shared_ptr<Entry>> line_;  // waiting entries only, oldest first
  std::atomic<std::size_t> line_size_{0};   // line_.size(), written under mutex_, read without it
  bool closed_ = false;
};

}  // namespace svckit
