// TaskStore: the task queue's state machine, with no I/O and no locking — the in-memory queue
// wraps it; tests drive it with a SimulatedClock and a FakeRandom. The Redis queue implements the
// same transitions in Lua scripts.
//
// Leases, not fire-and-forget: fetch() moves a task to `active` and leases it to the worker in one
// step; the worker renews the lease while the handler runs; a lease that runs out (the worker
// died) counts as a failed attempt and the task is retried — or dead after max_retries.
#pragma once

#include <array>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "svckit/core/random.hpp"
#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/queue/task.hpp"
#include "svckit/resilience/backoff.hpp"

namespace svckit::queue {

struct TaskStoreOptions {
  std::chrono::milliseconds lease{30'000};  // Default: 30s; renewed by the worker while it runs.
  /// Default: 24h. How long succeeded and failed tasks (and their results) are kept.
  std::chrono::milliseconds retention{24L * 3600 * 1000};
  std::size_t max_dead = 10'000;                                  // Default: 10000; the oldest go first.
  std::chrono::milliseconds dead_max_age{7L * 24 * 3600 * 1000};  // Default: 7 days.
  /// Weighted fetch (default): a non-empty priority is picked with probability weight / (sum of
  /// the non-empty ones' weights), so low never starves. Strict: always the highest non-empty.
  std::array<int, 3> weights{6, 3, 1};  // high, medium, low; each > 0
  bool strict_priority = false;
  /// Delay before retry n: full jitter, uniform in [0, min(cap, base × 2^(n-1))].
  BackoffPolicy retry_backoff{BackoffKind::full_jitter, std::chrono::milliseconds(1000),
                              std::chrono::milliseconds(600'000), 2.0};
};

/// Errors name the field.
Result<void> validate(const TaskStoreOptions& options);

/// Thread-compatible (callers lock). Every method that looks at due times or leases first
/// promotes scheduled/retry tasks that are due, using the TimeSource.
class TaskStore {
 public:
  TaskStore(const TimeSource& time, Random& random, TaskStoreOptions options);

  /// Validates and adds a task: `pending`, or `scheduled` when it has a delay or a future run_at.
  /// A unique_key already held in the queue → limit_exceeded naming the holder (field unique_key).
  Result<TaskRecord> enqueue(TaskSpec spec);
  /// The next task of `queue` for `worker`, now `active` with a lease (attempts + 1); nullopt when
  /// nothing is due or the queue is paused.
  std::optional<TaskRecord> fetch(const std::string& queue, const std::string& worker);
  /// Extends the lease of an active task by `lease` from now. not_found unless `worker` holds it;
  /// timeout once the task's deadline passed (the worker must stop the handler).
  Result<SystemTime> renew(const std::string& id, const std::string& worker);
  /// The handler succeeded: `succeeded`, with its result, kept for `retention`.
  Result<void> complete(const std::string& id, const std::string& worker, nlohmann::json result);
  /// The handler failed: `retry` after a backoff while attempts ≤ max_retries, else `dead`; a
  /// failure that must not be retried (`retryable` false) is `failed` at once. Returns the state.
  Result<TaskState> fail(const std::string& id, const std::string& worker, const std::string& error,
                         bool retryable = true);

  /// Active tasks whose lease (or deadline) passed: failed attempts ("lease expired"), retried or
  /// dead. Returns how many were recovered.
  std::size_t recover_expired();
  /// Drops succeeded/failed tasks older than retention, and dead ones beyond max_dead or
  /// dead_max_age. Returns how many were dropped.
  std::size_t sweep();

  Result<TaskRecord> get(const std::string& id) const;
  /// Tasks of `queue` in `state`, oldest first, at most `limit`.
  std::vector<TaskRecord> list(const std::string& queue, TaskState state, std::size_t limit = 100) const;
  std::map<TaskState, std::size_t> counts(const std::string& queue) const;

  /// A dead, failed, retry or scheduled task runs now: `pending` (attempts kept for retry and
  /// scheduled; reset for dead and failed).
  Result<void> run_now(const std::string& id);
  /// Deletes a task that is not active.
  Result<void> remove(const std::string& id);
  void pause(const std::string& queue);
  void resume(const std::string& queue);
  bool paused(const std::string& queue) const;

  /// When the next scheduled/retry task of `queue` is due (workers sleep until then).
  std::optional<SystemTime> next_due(const std::string& queue) const;
  /// Leases that ran out and were recovered since construction.
  std::uint64_t redeliveries() const { return redeliveries_; }

 private:
  struct Queue {
    std::array<std::deque<std::string>, 3> ready;    // pending ids per priority, FIFO
    std::multimap<SystemTime, std::string> waiting;  // scheduled + retry, by run_at
  };

  void promote_due();
  void make_pending(TaskRecord& task);
  void park_until(TaskRecord& task, SystemTime when, TaskState state);
  void finish(TaskRecord& task, TaskState state);
  /// Takes `task` out of its current collection (ready, waiting, leases, finished, dead).
  void detach(const TaskRecord& task);
  TaskState after_failure(TaskRecord& task, const std::string& error, bool retryable);
  TaskRecord* active_of(const std::string& id, const std::string& worker, Error& error);

  const TimeSource& time_;
  Random& random_;
  TaskStoreOptions options_;
  std::map<std::string, TaskRecord> tasks_;
  std::map<std::string, Queue> queues_;
  std::multimap<SystemTime, std::string> leases_;    // active, by lease end (or deadline if sooner)
  std::multimap<SystemTime, std::string> finished_;  // succeeded + failed, by finished_at
  std::multimap<SystemTime, std::string> dead_;      // by finished_at
  std::map<std::pair<std::string, std::string>, std::pair<std::string, SystemTime>>
      unique_;  // (queue, key) → id, until
  std::set<std::string> paused_;
  std::uint64_t redeliveries_ = 0;
};

}  // namespace svckit::queue
