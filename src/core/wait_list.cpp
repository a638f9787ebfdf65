#include "svckit/core/wait_list.hpp"

#include <vector>

namespace svckit {

WaitList::Ticket WaitList::park() {
  auto entry = std::make_shared<Entry>();
  std::lock_guard lock(mutex_);
  if (closed_) {
    entry->state = State::notified;
    entry->wake.cancel();
  } else {
    entry->position = line_.insert(line_.end(), entry);
    count_locked();
  }
  return Ticket(*this, std::move(entry));
}

std::shared_ptr<WaitList::Entry> WaitList::pick_locked() {
  if (line_.empty()) return nullptr;
  auto entry = std::move(line_.front());
  line_.pop_front();
  count_locked();
  entry->state = State::notified;
  entry->handed_out = true;
  return entry;
}

bool WaitList::notify_one() {
  // Nobody waits (the usual case: a pooled connection given back with no request queued for one):
  // no lock. A park() whose count this does not see yet comes after this call, as if it had
  // waited for the lock; callers that park and notify under a lock of their own see it surely.
  if (line_size_.load(std::memory_order_acquire) == 0) return false;
  std::shared_ptr<Entry> entry;
  {
    std::lock_guard lock(mutex_);
    entry = pick_locked();
  }
  if (!entry) return false;
  entry->wake.cancel();  // outside the lock: the hook may post work
  return true;
}

void WaitList::notify_all() {
  std::vector<std::shared_ptr<Entry>> woken;
  {
    std::lock_guard lock(mutex_);
    while (auto entry = pick_locked()) woken.push_back(std::move(entry));
  }
  for (auto& entry : woken) entry->wake.cancel();
}

void WaitList::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  notify_all();
}

void WaitList::reopen() {
  std::lock_guard lock(mutex_);
  closed_ = false;
}

bool WaitList::closed() const {
  std::lock_guard lock(mutex_);
  return closed_;
}

std::size_t WaitList::waiting() const { return line_size_.load(std::memory_order_acquire); }

WaitList::Ticket::~Ticket() {
  if (!entry_) return;  // moved from
  bool pass_on = false;
  {
    std::lock_guard lock(list_->mutex_);
    if (entry_->state == State::waiting) {
      list_->line_.erase(entry_->position);
      list_->count_locked();
    }
    pass_on = entry_->state == State::notified && entry_->handed_out && !list_->closed_;
    entry_->state = State::left;
  }
  if (pass_on) list_->notify_one();
}

bool WaitList::Ticket::notified() const {
  std::lock_guard lock(list_->mutex_);
  return entry_->state == State::notified;
}

std::function<void()> WaitList::Ticket::waker() const {
  return [list = list_, weak = std::weak_ptr<Entry>(entry_)] {
    auto entry = weak.lock();
    if (!entry) return;
    {
      std::lock_guard lock(list->mutex_);
      if (entry->state != State::waiting) return;
      list->line_.erase(entry->position);
      list->count_locked();
      entry->state = State::notified;
    }
    entry->wake.cancel();
  };
}

boost::asio::awaitable<bool> WaitList::Ticket::wait_for(std::chrono::nanoseconds timeout, Sleeper& sleeper) {
  if (!entry_->wake.cancelled()) (void)co_await sleeper.sleep_for(timeout, &entry_->wake);
  std::lock_guard lock(list_->mutex_);
  if (entry_->state == State::notified) {  // woken — or notified as the timeout fired: take it
    entry_->state = State::taken;
    co_return true;
  }
  if (entry_->state == State::waiting) {
    list_->line_.erase(entry_->position);
    list_->count_locked();
  }
  entry_->state = State::left;  // from now on notify_one() passes this one by
  co_return false;
}

}  // namespace svckit
