// WatchSlots: admission for svckitd's long polls — registry watches, Consul blocking queries and
// config watches share one budget (limits.max_watchers) and each client address gets at most
// limits.max_watchers_per_peer of it, so one client cannot lock every other out of watching.
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "svckit/core/result.hpp"

namespace svckit::daemon {

/// Thread-safe. Tickets may outlive nothing but the WatchSlots itself.
class WatchSlots {
 public:
  WatchSlots(std::size_t total, std::size_t per_peer) : total_(total), per_peer_(per_peer) {}
  WatchSlots(const WatchSlots&) = delete;
  WatchSlots& operator=(const WatchSlots&) = delete;

  /// A held slot; released when destroyed (however the long poll ends).
  class Ticket {
   public:
    Ticket() = default;
    Ticket(WatchSlots* owner, std::string peer) : owner_(owner), peer_(std::move(peer)) {}
    Ticket(Ticket&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)), peer_(std::move(other.peer_)) {}
    Ticket& operator=(Ticket&& other) noexcept {
      if (this != &other) {
        release();
        owner_ = std::exchange(other.owner_, nullptr);
        peer_ = std::move(other.peer_);
      }
      return *this;
    }
    Ticket(const Ticket&) = delete;
    Ticket& operator=(const Ticket&) = delete;
    ~Ticket() { release(); }

   private:
    void release() {
      if (owner_ != nullptr) owner_->release(peer_);
      owner_ = nullptr;
    }
    WatchSlots* owner_ = nullptr;
    std::string peer_;
  };

  /// A slot for a long poll from `peer` (an address; empty = unknown, counted as one peer), or
  /// limit_exceeded (HTTP 429) naming the limit that was reached.
  Result<Ticket> take(const std::string& peer) {
    std::lock_guard lock(mutex_);
    if (in_use_ >= total_) {
      return make_error(ErrorCode::limit_exceeded,
                        "too many concurrent watches (limits.max_watchers " + std::to_string(total_) + ")", "wait");
    }
    auto& mine = per_peer_count_[peer];
    if (mine >= per_peer_) {
      if (mine == 0) per_peer_count_.erase(peer);
      return make_error(ErrorCode::limit_exceeded,
                        "too many concurrent watches from " + (peer.empty() ? std::string("this client") : peer) +
                            " (limits.max_watchers_per_peer " + std::to_string(per_peer_) + ")",
                        "wait");
    }
    ++mine;
    ++in_use_;
    return Ticket(this, peer);
  }

  std::size_t in_use() const {
    std::lock_guard lock(mutex_);
    return in_use_;
  }

 private:
  void release(const std::string& peer) {
    std::lock_guard lock(mutex_);
    --in_use_;
    auto it = per_peer_count_.find(peer);
    if (it != per_peer_count_.end() && --it->second == 0) per_peer_count_.erase(it);
  }

  const std::size_t total_;
  const std::size_t per_peer_;
  mutable std::mutex mutex_;
  std::size_t in_use_ = 0;                             // guarded by mutex_
  std::map<std::string, std::size_t> per_peer_count_;  // guarded by mutex_
};

}  // namespace svckit::daemon
