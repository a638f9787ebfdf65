#include "svckit/queue/metered_task_queue.hpp"

namespace svckit::queue {

namespace {

constexpr std::chrono::seconds kDepthRefresh{1};
/// Queue waits and runs: 1 ms .. 10 min.
std::vector<double> task_buckets() { return {0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 600}; }

std::string_view outcome_of(TaskState state) {
  switch (state) {
    case TaskState::dead:
      return "dead";
    case TaskState::failed:
      return "failed";
    case TaskState::succeeded:
      return "succeeded";
    default:
      return "retried";  // pending, scheduled or retry: it runs again
  }
}

}  // namespace

MeteredTaskQueue::MeteredTaskQueue(TaskQueue& inner, MetricsRegistry& metrics, const TimeSource& time,
                                   const trace::Tracer* tracer)
    : inner_(inner),
      time_(time),
      tracer_(tracer),
      enqueued_(
          metrics.counter("svckit_tasks_enqueued_total", "Tasks enqueued, by queue and result.", {"queue", "result"})),
      finished_(metrics.counter("svckit_tasks_finished_total",
                                "Task attempts finished by workers: succeeded, retried, failed, dead.",
                                {"queue", "task", "outcome"})),
      leases_lost_(metrics.counter("svckit_tasks_leases_lost_total",
                                   "Heartbeats that found the task's lease gone (it was recovered).", {"queue"})),
      run_seconds_(metrics.histogram("svckit_task_run_seconds", "Task attempt run time (fetch to outcome).",
                                     {"queue", "task"}, task_buckets())),
      wait_seconds_(metrics.histogram("svckit_task_wait_seconds", "Time from a task's due time to its fetch.",
                                      {"queue"}, task_buckets())),
      depth_(metrics.gauge("svckit_task_queue_depth", "Tasks in the queue, by state.", {"queue", "state"})) {}

void MeteredTaskQueue::started(TaskRecord& task) {
  const auto waited = std::chrono::duration<double>(time_.system_now() - task.run_at).count();
  wait_seconds_.with({task.spec.queue}).observe(std::max(0.0, waited));
  trace::Span span;
  if (tracer_ != nullptr) {
    span = tracer_->start_span("run " + task.spec.name, trace::SpanKind::consumer,
                               trace::parse_trace_context(task.spec.traceparent, task.spec.tracestate));
    span.set_attribute("messaging.system", "svckit");
    span.set_attribute("messaging.operation.type", "process");
    span.set_attribute("messaging.destination.name", task.spec.queue);
    span.set_attribute("messaging.message.id", task.id);
    span.set_attribute("svckit.task.name", task.spec.name);
    span.set_attribute("svckit.task.attempt", static_cast<std::int64_t>(task.attempts));
    task.spec.traceparent = span.context().traceparent();  // the handler's calls: the run's children
  }
  std::lock_guard lock(mutex_);
  running_[task.id] = Running{task.spec.queue, task.spec.name, time_.steady_now(), std::move(span)};
}

void MeteredTaskQueue::finished(const std::string& id, std::string_view outcome, const std::string& error) {
  Running run;
  {
    std::lock_guard lock(mutex_);
    auto it = running_.find(id);
    if (it == running_.end()) return;  // fetched through another decorator or process
    run = std::move(it->second);
    running_.erase(it);
  }
  if (outcome.empty()) {  // the report failed: nothing is known about the attempt
    run.span.set_status(trace::StatusCode::error, "the attempt's outcome was not stored");
    return;
  }
  run.span.set_attribute("svckit.task.outcome", std::string(outcome));
  if (outcome != "succeeded") run.span.set_status(trace::StatusCode::error, error);
  run_seconds_.with({run.queue, run.name})
      .observe(std::chrono::duration<double>(time_.steady_now() - run.started).count());
  finished_.with({run.queue, run.name, std::string(outcome)}).inc();
}

Awaitable<void> MeteredTaskQueue::refresh_depth(std::string queue) {
  {
    std::lock_guard lock(mutex_);
    auto& last = refreshed_[queue];
    const auto now = time_.steady_now();
    if (last != SteadyTime{} && now - last < kDepthRefresh) co_return;
    last = now;
  }
  (void)co_await counts(std::move(queue));
}

Awaitable<Result<std::map<TaskState, std::size_t>>> MeteredTaskQueue::counts(std::string queue) {
  auto counted = co_await inner_.counts(queue);
  if (counted) {
    for (auto state : {TaskState::pending, TaskState::scheduled, TaskState::active, TaskState::retry,
                       TaskState::succeeded, TaskState::failed, TaskState::dead}) {
      auto it = counted->find(state);
      depth_.with({queue, std::string(to_string(state))})
          .set(it == counted->end() ? 0.0 : static_cast<double>(it->second));
    }
  }
  co_return counted;
}

Awaitable<Result<TaskRecord>> MeteredTaskQueue::enqueue(TaskSpec spec) {
  std::string queue = spec.queue;
  trace::Span span;
  if (tracer_ != nullptr) {
    span = tracer_->start_span("enqueue " + spec.name, trace::SpanKind::producer,
                               trace::parse_trace_context(spec.traceparent, spec.tracestate));
    span.set_attribute("messaging.system", "svckit");
    span.set_attribute("messaging.operation.type", "publish");
    span.set_attribute("messaging.destination.name", queue);
    span.set_attribute("svckit.task.name", spec.name);
    spec.traceparent = span.context().traceparent();  // the runs' parent
    spec.tracestate = span.context().tracestate;
  }
  auto enqueued = co_await inner_.enqueue(std::move(spec));
  enqueued_.with({queue, enqueued ? "ok" : "error"}).inc();
  if (enqueued) {
    span.set_attribute("messaging.message.id", enqueued->id);
  } else {
    span.set_attribute("error.type", std::string(to_string(enqueued.error().code)));
    span.set_status(trace::StatusCode::error, enqueued.error().message);
  }
  span.end();
  co_await refresh_depth(std::move(queue));
  co_return enqueued;
}

Awaitable<Result<std::optional<TaskRecord>>> MeteredTaskQueue::fetch(std::string queue, std::string worker,
                                                                     std::chrono::milliseconds wait) {
  auto fetched = co_await inner_.fetch(queue, std::move(worker), wait);
  if (fetched && *fetched) started(**fetched);
  co_await refresh_depth(std::move(queue));
  co_return fetched;
}

Awaitable<Result<SystemTime>> MeteredTaskQueue::renew(std::string id, std::string worker) {
  auto renewed = co_await inner_.renew(id, std::move(worker));
  if (!renewed && renewed.error().code == ErrorCode::not_found) {
    Running lost;
    {
      std::lock_guard lock(mutex_);
      if (auto it = running_.find(id); it != running_.end()) {
        lost = std::move(it->second);
        running_.erase(it);
      }
    }
    if (!lost.queue.empty()) leases_lost_.with({lost.queue}).inc();
    lost.span.set_status(trace::StatusCode::error, "the task's lease was lost");
  }
  co_return renewed;
}

Awaitable<Result<void>> MeteredTaskQueue::complete(std::string id, std::string worker, nlohmann::json result) {
  auto done = co_await inner_.complete(id, std::move(worker), std::move(result));
  finished(id, done ? "succeeded" : "");
  co_return done;
}

Awaitable<Result<std::optional<TaskRecord>>> MeteredTaskQueue::complete_and_fetch(std::string id, std::string worker,
                                                                                  nlohmann::json result,
                                                                                  std::string queue) {
  auto next = co_await inner_.complete_and_fetch(id, std::move(worker), std::move(result), queue);
  finished(id, next ? "succeeded" : "");
  if (next && *next) started(**next);
  co_await refresh_depth(std::move(queue));
  co_return next;
}

Awaitable<Result<TaskState>> MeteredTaskQueue::fail(std::string id, std::string worker, std::string error,
                                                    bool retryable) {
  auto state = co_await inner_.fail(id, std::move(worker), error, retryable);
  finished(id, state ? outcome_of(*state) : "", error);
  co_return state;
}

}  // namespace svckit::queue
