// Completion: one result handed from another thread (a client library's callback, a worker
// thread) to a coroutine waiting on its own executor, with no lost wake-up.
#pragma once

#include <chrono>
#include <mutex>
#include <optional>

#include "svckit/core/sleeper.hpp"

namespace svckit {

/// set() from any thread, once (later sets are ignored); wait_until() once, from a coroutine.
template <class T>
class Completion {
 public:
  explicit Completion(const boost::asio::any_io_executor& executor) : wake_(executor) {}

  void set(T value) {
    {
      std::lock_guard lock(mutex_);
      if (value_) return;
      value_ = std::move(value);
    }
    wake_.wake();
  }

  /// The value, or nullopt when `deadline` came first.
  boost::asio::awaitable<std::optional<T>> wait_until(std::chrono::steady_clock::time_point deadline) {
    co_await wake_.wait_until(deadline);
    std::lock_guard lock(mutex_);
    co_return value_;
  }

 private:
  WakeableWait wake_;
  std::mutex mutex_;
  std::optional<T> value_;  // guarded by mutex_
};

}  // namespace svckit
