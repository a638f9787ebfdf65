#include "svckit/coord/memory_lock_backend.hpp"

#include <algorithm>

namespace svckit::coord {

void MemoryLockBackend::expire(Entry& entry, SteadyTime now) {
  const auto before = entry.holders.size();
  std::erase_if(entry.holders, [now](const auto& h) { return h.second.expires <= now; });
  if (entry.holders.size() != before) wake_all(entry);
}

bool MemoryLockBackend::grantable(const Entry& entry, LockMode mode) const {
  if (mode == LockMode::exclusive) return entry.holders.empty();
  if (!entry.waiting_writers.empty()) return false;
  return std::none_of(entry.holders.begin(), entry.holders.end(),
                      [](const auto& h) { return h.second.mode == LockMode::exclusive; });
}

void MemoryLockBackend::wake_all(Entry& entry) {
  for (auto& w : entry.waiters) w->cancel();
  entry.waiters.clear();
}

Awaitable<Result<HeldLock>> MemoryLockBackend::acquire(AcquireRequest request) {
  if (auto valid = validate_lock_name(request.name); !valid) co_return valid.error();
  bool contended = false;
  bool waited = false;  // a wait began: running out is a timeout, not a failed try
  bool waiting_writer = false;
  // Leaves the waiting-writers set however the wait ends (readers queue behind it).
  struct WriterIntent {
    MemoryLockBackend& self;
    const AcquireRequest& request;
    bool& registered;
    ~WriterIntent() {
      if (!registered) return;
      std::lock_guard lock(self.mutex_);
      auto& entry = self.entries_[request.name];
      entry.waiting_writers.erase(request.owner);
      self.wake_all(entry);
    }
  } intent{*this, request, waiting_writer};

  for (;;) {
    auto wake = std::make_shared<CancelToken>();
    SteadyTime until{};
    {
      std::lock_guard lock(mutex_);
      const auto now = time_.steady_now();
      auto& entry = entries_[request.name];
      expire(entry, now);
      if (grantable(entry, request.mode)) {
        if (waiting_writer) {
          entry.waiting_writers.erase(request.owner);
          waiting_writer = false;
        }
        entry.holders[request.owner] = Holder{request.mode, now + request.lease};
        HeldLock held;
        held.name = request.name;
        held.mode = request.mode;
        held.owner = request.owner;
        held.fencing_token = ++entry.fence;
        held.contended = contended;
        co_return held;
      }
      contended = true;
      if (request.cancel && request.cancel->cancelled()) {
        co_return make_error(ErrorCode::cancelled, "waiting for lock " + request.name + " was cancelled");
      }
      if (now >= request.wait_until) {
        if (!waited) co_return make_error(ErrorCode::limit_exceeded, "lock " + request.name + " is held");
        co_return make_error(ErrorCode::timeout, "lock " + request.name + " is still held after the wait");
      }
      waited = true;
      if (request.mode == LockMode::exclusive && !waiting_writer) {
        entry.waiting_writers.insert(request.owner);
        waiting_writer = true;
      }
      entry.waiters.push_back(wake);
      until = request.wait_until;
      for (const auto& [owner, h] : entry.holders) until = std::min(until, h.expires);
    }
    if (request.cancel && !request.cancel->set_hook([wake] { wake->cancel(); })) {
      co_return make_error(ErrorCode::cancelled, "waiting for lock " + request.name + " was cancelled");
    }
    const auto nap = std::chrono::duration_cast<std::chrono::nanoseconds>(until - time_.steady_now());
    (void)co_await sleeper_.sleep_for(nap, wake.get());
    if (request.cancel) request.cancel->clear_hook();
  }
}

Awaitable<Result<void>> MemoryLockBackend::extend(const HeldLock& held, std::chrono::milliseconds lease) {
  std::lock_guard lock(mutex_);
  const auto now = time_.steady_now();
  auto it = entries_.find(held.name);
  if (it == entries_.end()) co_return make_error(ErrorCode::not_found, "lock " + held.name + " is not held", "name");
  expire(it->second, now);
  auto holder = it->second.holders.find(held.owner);
  if (holder == it->second.holders.end()) {
    co_return make_error(ErrorCode::not_found, "lock " + held.name + " is no longer held by this owner", "name");
  }
  holder->second.expires = now + lease;
  co_return Result<void>{};
}

Awaitable<Result<void>> MemoryLockBackend::release(const HeldLock& held) {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(held.name);
  if (it == entries_.end()) co_return Result<void>{};
  auto& entry = it->second;
  entry.holders.erase(held.owner);
  wake_all(entry);
  co_return Result<void>{};
}

std::size_t MemoryLockBackend::holders(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = entries_.find(name);
  if (it == entries_.end()) return 0;
  const auto now = time_.steady_now();
  return static_cast<std::size_t>(std::count_if(it->second.holders.begin(), it->second.holders.end(),
                                                [now](const auto& h) { return h.second.expires > now; }));
}

}  // namespace svckit::coord
