#include <utility>  // before Asio 1.74 awaitable.hpp

#include <algorithm>
#include <optional>

#include "svckit/queue/task_queue.hpp"

namespace svckit::queue {

MemoryTaskQueue::MemoryTaskQueue(const TimeSource& time, Random& random, TaskStoreOptions options, Sleeper* sleeper)
    : time_(time),
      options_(options),
      store_(time, random, options),
      sleeper_(sleeper != nullptr ? *sleeper : real_sleeper_),
      injected_sleeper_(sleeper != nullptr) {}

SteadyTime MemoryTaskQueue::wait_clock_now() const {
  return injected_sleeper_ ? time_.steady_now() : std::chrono::steady_clock::now();
}

void MemoryTaskQueue::wake_all_locked() { waiters_.notify_all(); }

Awaitable<Result<TaskRecord>> MemoryTaskQueue::enqueue(TaskSpec spec) {
  std::lock_guard lock(mutex_);
  auto r = store_.enqueue(std::move(spec));
  if (r) wake_all_locked();
  co_return r;
}

Awaitable<Result<std::optional<TaskRecord>>> MemoryTaskQueue::fetch(std::string queue, std::string worker,
                                                                    std::chrono::milliseconds wait) {
  const auto give_up = wait_clock_now() + wait;
  for (;;) {
    std::optional<WaitList::Ticket> ticket;  // leaves the line however this coroutine ends
    auto until = give_up;
    {
      std::lock_guard lock(mutex_);
      if (store_.recover_expired() > 0) wake_all_locked();  // retried tasks may be due for others
      // Retention is in hours and unique keys are checked on enqueue: sweeping (it walks every
      // unique key) once a second is enough.
      if (const auto now = time_.system_now(); now >= next_sweep_ || now < next_sweep_ - std::chrono::seconds(1)) {
        store_.sweep();
        next_sweep_ = now + std::chrono::seconds(1);
      }
      if (auto task = store_.fetch(queue, worker)) co_return std::optional<TaskRecord>(std::move(*task));
      const auto now = wait_clock_now();
      if (now >= give_up) co_return std::optional<TaskRecord>{};
      if (auto due = store_.next_due(queue)) {  // wake up when the next scheduled task is due
        until = std::min(until, now + std::chrono::duration_cast<SteadyTime::duration>(*due - time_.system_now()));
      }
      // An active task's lease may run out while we wait: look again by then at the latest.
      until = std::min(until, now + options_.lease);
      ticket.emplace(waiters_.park());  // under mutex_: an enqueue after the fetch above finds it
    }
    const auto left = std::max(until - wait_clock_now(), SteadyTime::duration::zero());
    (void)co_await ticket->wait_for(left, sleeper_);
  }
}

Awaitable<Result<SystemTime>> MemoryTaskQueue::renew(std::string id, std::string worker) {
  std::lock_guard lock(mutex_);
  co_return store_.renew(id, worker);
}

Awaitable<Result<void>> MemoryTaskQueue::complete(std::string id, std::string worker, nlohmann::json result) {
  std::lock_guard lock(mutex_);
  co_return store_.complete(id, worker, std::move(result));
}

Awaitable<Result<TaskState>> MemoryTaskQueue::fail(std::string id, std::string worker, std::string error,
                                                   bool retryable) {
  std::lock_guard lock(mutex_);
  auto r = store_.fail(id, worker, error, retryable);
  if (r && *r == TaskState::retry) wake_all_locked();  // its backoff may be zero
  co_return r;
}

Awaitable<Result<TaskRecord>> MemoryTaskQueue::get(std::string id) {
  std::lock_guard lock(mutex_);
  co_return store_.get(id);
}

Awaitable<Result<std::vector<TaskRecord>>> MemoryTaskQueue::list(std::string queue, TaskState state,
                                                                 std::size_t limit) {
  std::lock_guard lock(mutex_);
  co_return store_.list(queue, state, limit);
}

Awaitable<Result<std::map<TaskState, std::size_t>>> MemoryTaskQueue::counts(std::string queue) {
  std::lock_guard lock(mutex_);
  co_return store_.counts(queue);
}

Awaitable<Result<void>> MemoryTaskQueue::run_now(std::string id) {
  std::lock_guard lock(mutex_);
  auto r = store_.run_now(id);
  if (r) wake_all_locked();
  co_return r;
}

Awaitable<Result<void>> MemoryTaskQueue::remove(std::string id) {
  std::lock_guard lock(mutex_);
  co_return store_.remove(id);
}

Awaitable<Result<void>> MemoryTaskQueue::pause(std::string queue) {
  std::lock_guard lock(mutex_);
  store_.pause(queue);
  co_return Result<void>{};
}

Awaitable<Result<void>> MemoryTaskQueue::resume(std::string queue) {
  std::lock_guard lock(mutex_);
  store_.resume(queue);
  wake_all_locked();
  co_return Result<void>{};
}

std::uint64_t MemoryTaskQueue::redeliveries() const {
  std::lock_guard lock(mutex_);
  return store_.redeliveries();
}

}  // namespace svckit::queue
