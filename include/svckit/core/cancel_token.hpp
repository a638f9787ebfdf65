// A one-shot cancellation signal for long operations (watches, long polls).
#pragma once

#include <functional>
#include <memory>
#include <mutex>

namespace svckit {

/// Thread-safe. The operation that can be cancelled installs a hook; cancel() sets the flag and
/// runs the hook once (on the cancelling thread: hooks must only post work to their executor).
class CancelToken {
 public:
  void cancel() {
    std::function<void()> hook;
    {
      std::lock_guard lock(mutex_);
      if (cancelled_) return;
      cancelled_ = true;
      hook = std::move(hook_);
    }
    if (hook) hook();
  }

  bool cancelled() const {
    std::lock_guard lock(mutex_);
    return cancelled_;
  }

  /// Installs the hook. Returns false (and does not install it) when already cancelled.
  bool set_hook(std::function<void()> hook) {
    std::lock_guard lock(mutex_);
    if (cancelled_) return false;
    hook_ = std::move(hook);
    return true;
  }

  void clear_hook() {
    std::lock_guard lock(mutex_);
    hook_ = nullptr;
  }

 private:
  mutable std::mutex mutex_;
  bool cancelled_ = false;
  std::function<void()> hook_;
};

}  // namespace svckit
