// MeteredTaskQueue: any TaskQueue (memory, Redis) with Prometheus series, as a decorator —
// producers and WorkerPools use it in place of the queue:
//
//   svckit_tasks_enqueued_total{queue, result}       enqueues (result: ok, error)
//   svckit_tasks_finished_total{queue, task, outcome} outcomes reported by workers: succeeded,
//                                                    retried, failed, dead
//   svckit_tasks_leases_lost_total{queue}            heartbeats that found the lease gone
//   svckit_task_run_seconds{queue, task}             fetch → complete/fail through this decorator
//   svckit_task_wait_seconds{queue}                  due time → fetch (how far workers lag behind)
//   svckit_task_queue_depth{queue, state}            tasks per state (pending, scheduled, active,
//                                                    retry, dead, ...), refreshed from counts() at
//                                                    most once a second per queue, by the
//                                                    operations that pass through (workers' fetches
//                                                    poll every second, so it stays fresh while
//                                                    workers run) and by every counts() call
//
//   RedisTaskQueue redis(...);
//   MeteredTaskQueue queue(redis, metrics, time, &tracer);  // tracer optional
//   WorkerPool pool(executor, queue, random, {.queue = "emails"});
//
// With a tracer, tasks carry the trace on (OpenTelemetry's messaging conventions): an enqueue is a
// producer span "enqueue <name>" (a child of the spec's traceparent, whose context the task stores
// in place of it), and each attempt a consumer span "run <name>" from fetch to outcome, a child of
// the stored context; the record a worker's handler gets carries the run span's traceparent, so
// the handler's calls join the trace. Attributes: messaging.system "svckit",
// messaging.destination.name (the queue), messaging.message.id (the task id), svckit.task.name,
// svckit.task.attempt, svckit.task.outcome; an attempt that failed has status error with its error.
//
// Thread-safe as the inner queue is.
#pragma once

#include <map>
#include <mutex>

#include "svckit/core/metrics.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/queue/task_queue.hpp"
#include "svckit/trace/tracer.hpp"

namespace svckit::queue {

class MeteredTaskQueue final : public TaskQueue {
 public:
  /// `inner`, `metrics`, `time` and `tracer` (may be null: no spans) must outlive the decorator.
  MeteredTaskQueue(TaskQueue& inner, MetricsRegistry& metrics, const TimeSource& time,
                   const trace::Tracer* tracer = nullptr);

  Awaitable<Result<TaskRecord>> enqueue(TaskSpec spec) override;
  Awaitable<Result<std::optional<TaskRecord>>> fetch(std::string queue, std::string worker,
                                                     std::chrono::milliseconds wait) override;
  Awaitable<Result<SystemTime>> renew(std::string id, std::string worker) override;
  Awaitable<Result<void>> complete(std::string id, std::string worker, nlohmann::json result) override;
  Awaitable<Result<std::optional<TaskRecord>>> complete_and_fetch(std::string id, std::string worker,
                                                                  nlohmann::json result, std::string queue) override;
  Awaitable<Result<TaskState>> fail(std::string id, std::string worker, std::string error, bool retryable) override;
  Awaitable<Result<TaskRecord>> get(std::string id) override { return inner_.get(std::move(id)); }
  Awaitable<Result<std::vector<TaskRecord>>> list(std::string queue, TaskState state, std::size_t limit) override {
    return inner_.list(std::move(queue), state, limit);
  }
  Awaitable<Result<std::map<TaskState, std::size_t>>> counts(std::string queue) override;
  Awaitable<Result<void>> run_now(std::string id) override { return inner_.run_now(std::move(id)); }
  Awaitable<Result<void>> remove(std::string id) override { return inner_.remove(std::move(id)); }
  Awaitable<Result<void>> pause(std::string queue) override { return inner_.pause(std::move(queue)); }
  Awaitable<Result<void>> resume(std::string queue) override { return inner_.resume(std::move(queue)); }
  std::chrono::milliseconds lease() const override { return inner_.lease(); }

 private:
  struct Running {
    std::string queue, name;
    SteadyTime started;
    trace::Span span;  // the attempt's "run" span, when tracing
  };
  /// Records the fetch; with a tracer, starts the run span and gives `task` its traceparent.
  void started(TaskRecord& task);
  /// Forgets the task's start; records its run time and `outcome` when it was fetched here and
  /// `outcome` is not empty (empty: the report failed). `error`: the attempt's error, if it failed.
  void finished(const std::string& id, std::string_view outcome, const std::string& error = {});
  /// counts() when the queue's depth was refreshed over a second ago (or never).
  Awaitable<void> refresh_depth(std::string queue);

  TaskQueue& inner_;
  const TimeSource& time_;
  const trace::Tracer* tracer_;
  Family<Counter>& enqueued_;
  Family<Counter>& finished_;
  Family<Counter>& leases_lost_;
  Family<Histogram>& run_seconds_;
  Family<Histogram>& wait_seconds_;
  Family<Gauge>& depth_;
  std::mutex mutex_;
  std::map<std::string, Running> running_;       // guarded by mutex_: fetched here, not finished
  std::map<std::string, SteadyTime> refreshed_;  // guarded by mutex_: per queue, the last depth read
};

}  // namespace svckit::queue
