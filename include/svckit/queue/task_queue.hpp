// TaskQueue: where tasks are enqueued and where workers lease them. Backends: in memory
// (MemoryTaskQueue, below: one process, for tests and single-process apps); Redis next (the same
// transitions as atomic Lua scripts). Workers: worker_pool.hpp.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <list>
#include <map>
#include <mutex>
#include <optional>
#include <vector>

#include "svckit/core/sleeper.hpp"
#include "svckit/core/wait_list.hpp"
#include "svckit/queue/task_store.hpp"

namespace svckit::queue {

template <class T>
using Awaitable = boost::asio::awaitable<T>;

/// Thread-safety: implementations are thread-safe. Errors: those of TaskStore's methods, and
/// unavailable when the backend cannot be reached.
class TaskQueue {
 public:
  virtual ~TaskQueue() = default;

  virtual Awaitable<Result<TaskRecord>> enqueue(TaskSpec spec) = 0;
  /// The next due task of `queue`, leased to `worker`; waits up to `wait` for one (nullopt then).
  virtual Awaitable<Result<std::optional<TaskRecord>>> fetch(std::string queue, std::string worker,
                                                             std::chrono::milliseconds wait) = 0;
  /// Heartbeat: extends the lease; returns when it now runs out. not_found: the lease was lost.
  virtual Awaitable<Result<SystemTime>> renew(std::string id, std::string worker) = 0;
  virtual Awaitable<Result<void>> complete(std::string id, std::string worker, nlohmann::json result) = 0;
  /// complete(), then — when the result was taken — the next due task of `queue` leased to the same
  /// worker, without waiting (nullopt: none due now). Errors are complete()'s. A backend that can
  /// do both in one round trip overrides it (Redis: one script; BullMQ's "finish returns the next
  /// job"); this default makes two calls.
  virtual Awaitable<Result<std::optional<TaskRecord>>> complete_and_fetch(std::string id, std::string worker,
                                                                          nlohmann::json result, std::string queue) {
    auto done = co_await complete(std::move(id), worker, std::move(result));
    if (!done) co_return done.error();
    const std::chrono::milliseconds no_wait{0};
    auto next = co_await fetch(std::move(queue), std::move(worker), no_wait);
    if (!next) co_return std::optional<TaskRecord>{};  // completed; the worker's own fetch will see the error
    co_return std::move(*next);
  }
  virtual Awaitable<Result<TaskState>> fail(std::string id, std::string worker, std::string error, bool retryable) = 0;

  virtual Awaitable<Result<TaskRecord>> get(std::string id) = 0;
  virtual Awaitable<Result<std::vector<TaskRecord>>> list(std::string queue, TaskState state, std::size_t limit) = 0;
  virtual Awaitable<Result<std::map<TaskState, std::size_t>>> counts(std::string queue) = 0;
  virtual Awaitable<Result<void>> run_now(std::string id) = 0;
  virtual Awaitable<Result<void>> remove(std::string id) = 0;
  virtual Awaitable<Result<void>> pause(std::string queue) = 0;
  virtual Awaitable<Result<void>> resume(std::string queue) = 0;

  /// The lease a fetched task gets (workers heartbeat at a third of it).
  virtual std::chrono::milliseconds lease() const = 0;
};

/// TaskStore under a mutex. A waiting fetch parks on a WaitList and is woken by anything that
/// may make a task due (enqueue, run_now, resume, a failure that retries) or by the next
/// scheduled task's time; expired leases are recovered on each fetch, finished tasks swept (at
/// most once a second).
/// Task times use `time`. A fetch waits on `sleeper` when one is given — then `time` must be its
/// clock (testing::VirtualTime is both), and a whole fetch, its wait included, runs in that time;
/// without one it waits on real Asio timers and real steady time.
class MemoryTaskQueue final : public TaskQueue {
 public:
  MemoryTaskQueue(const TimeSource& time, Random& random, TaskStoreOptions options = {}, Sleeper* sleeper = nullptr);

  Awaitable<Result<TaskRecord>> enqueue(TaskSpec spec) override;
  Awaitable<Result<std::optional<TaskRecord>>> fetch(std::string queue, std::string worker,
                                                     std::chrono::milliseconds wait) override;
  Awaitable<Result<SystemTime>> renew(std::string id, std::string worker) override;
  Awaitable<Result<void>> complete(std::string id, std::string worker, nlohmann::json result) override;
  Awaitable<Result<TaskState>> fail(std::string id, std::string worker, std::string error, bool retryable) override;
  Awaitable<Result<TaskRecord>> get(std::string id) override;
  Awaitable<Result<std::vector<TaskRecord>>> list(std::string queue, TaskState state, std::size_t limit) override;
  Awaitable<Result<std::map<TaskState, std::size_t>>> counts(std::string queue) override;
  Awaitable<Result<void>> run_now(std::string id) override;
  Awaitable<Result<void>> remove(std::string id) override;
  Awaitable<Result<void>> pause(std::string queue) override;
  Awaitable<Result<void>> resume(std::string queue) override;
  std::chrono::milliseconds lease() const override { return options_.lease; }

  std::uint64_t redeliveries() const;

 private:
  void wake_all_locked();
  /// The waits' clock: the injected TimeSource with an injected Sleeper, else real steady time.
  SteadyTime wait_clock_now() const;

  const TimeSource& time_;
  TaskStoreOptions options_;
  mutable std::mutex mutex_;
  TaskStore store_;           // guarded by mutex_
  SystemTime next_sweep_{};   // guarded by mutex_
  WaitList waiters_;          // fetches waiting for a task; parked under mutex_
  AsioSleeper real_sleeper_;  // when none is injected
  Sleeper& sleeper_;          // fetches wait on it
  const bool injected_sleeper_;
};

}  // namespace svckit::queue
