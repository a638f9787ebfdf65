#include "svckit/queue/worker_pool.hpp"
#include "svckit/core/log.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstdio>
#include <mutex>
#include <set>

namespace svckit::queue {

namespace asio = boost::asio;
using Steady = std::chrono::steady_clock;

struct WorkerPool::State {
  State(asio::any_io_executor ex, TaskQueue& q, WorkerPoolOptions o, Sleeper* injected)
      : executor(std::move(ex)), queue(q), options(std::move(o)), sleeper(injected != nullptr ? *injected : real) {}

  asio::any_io_executor executor;
  TaskQueue& queue;
  WorkerPoolOptions options;
  std::map<std::string, TaskHandler> handlers;  // filled before start(), then read-only
  AsioSleeper real;
  Sleeper& sleeper;
  std::atomic<bool> stopping{false};
  std::atomic<std::size_t> loops{0};
  std::mutex mutex;
  std::set<std::shared_ptr<CancelToken>> running;  // guarded by mutex: tokens of running handlers
  std::optional<WakeableWait> all_ended;           // guarded by mutex: stop() waits; the last loop wakes it
  std::atomic<std::uint64_t> fetched{0}, succeeded{0}, retried{0}, dead{0}, failed{0}, lost{0};
};

WorkerPool::WorkerPool(asio::any_io_executor executor, TaskQueue& queue, Random& random, WorkerPoolOptions options,
                       Sleeper* sleeper)
    : executor_(std::move(executor)), options_(std::move(options)) {
  if (options_.worker_id.empty()) {
    char id[24];
    std::snprintf(id, sizeof id, "worker-%012llx",
                  static_cast<unsigned long long>(random.next_u64() & 0xffffffffffffULL));
    options_.worker_id = id;
  }
  if (options_.concurrency == 0) options_.concurrency = 1;
  state_ = std::make_shared<State>(executor_, queue, options_, sleeper);
}

WorkerPool::~WorkerPool() {
  state_->stopping = true;
  std::lock_guard lock(state_->mutex);
  for (const auto& token : state_->running) token->cancel();
}

void WorkerPool::handle(std::string name, TaskHandler handler) {
  state_->handlers[std::move(name)] = std::move(handler);
}

void WorkerPool::start() {
  for (std::size_t i = 0; i < options_.concurrency; ++i) {
    state_->loops.fetch_add(1);
    asio::co_spawn(asio::make_strand(executor_), worker_loop(state_), asio::detached);
  }
}

Awaitable<void> WorkerPool::stop(std::chrono::milliseconds drain) {
  state_->stopping = true;
  const auto executor = co_await asio::this_coro::executor;
  // Two waits for the last loop to end: until the drain time, then (running handlers cancelled)
  // for good. A WakeableWait is one-shot, so each phase parks a fresh one under the lock.
  for (int phase = 0; phase < 2; ++phase) {
    std::optional<WakeableWait> parked;
    {
      std::lock_guard lock(state_->mutex);
      if (state_->loops.load() == 0) co_return;
      if (phase == 1) {
        for (const auto& token : state_->running) token->cancel();
      }
      state_->all_ended.emplace(executor);
      parked = state_->all_ended;
    }
    const auto until = phase == 0 ? Steady::now() + drain : Steady::now() + std::chrono::hours(24 * 365);
    co_await parked->wait_until(until);
  }
}

WorkerPoolStats WorkerPool::stats() const {
  return {state_->fetched.load(), state_->succeeded.load(), state_->retried.load(),
          state_->dead.load(),    state_->failed.load(),    state_->lost.load()};
}

Awaitable<void> WorkerPool::worker_loop(std::shared_ptr<State> state) {
  auto backoff = std::chrono::milliseconds(50);
  std::optional<TaskRecord> task;  // leased by the last completion, if it brought one
  while (!state->stopping || task) {
    if (!task) {
      auto next = co_await state->queue.fetch(state->options.queue, state->options.worker_id, state->options.poll_wait);
      if (!next) {
        logs::warn("tasks", "event=task_fetch_failed queue={} error=\"{}\" retry_in_ms={}", state->options.queue,
                   next.error().describe(), backoff.count());
        const std::chrono::nanoseconds pause = backoff;
        co_await state->sleeper.sleep_for(pause);
        backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
        continue;
      }
      backoff = std::chrono::milliseconds(50);
      if (!*next) continue;  // nothing due within poll_wait
      task = std::move(*next);
    }
    state->fetched.fetch_add(1);
    TaskRecord current = std::move(*task);
    task = co_await run_one(state, std::move(current));
  }
  std::lock_guard lock(state->mutex);
  if (state->loops.fetch_sub(1) == 1 && state->all_ended) state->all_ended->wake();
}

Awaitable<void> WorkerPool::heartbeat(std::shared_ptr<State> state, std::string id, std::shared_ptr<CancelToken> done,
                                      std::shared_ptr<CancelToken> cancel) {
  // Named values, not temporaries, inside co_await expressions (GCC 12 coroutine bugs).
  const std::chrono::nanoseconds every = std::max(state->queue.lease() / 3, std::chrono::milliseconds(1));
  CancelToken* const ended = done.get();
  const std::string worker = state->options.worker_id;
  for (;;) {
    const bool slept = co_await state->sleeper.sleep_for(every, ended);
    if (!slept) co_return;  // the handler ended
    auto renewed = co_await state->queue.renew(id, worker);
    if (renewed) continue;
    if (renewed.error().code == ErrorCode::unavailable) continue;  // try again; the lease may still hold
    // Lost (another worker may have it now) or past its timeout: the handler must stop.
    logs::warn("tasks", "event=task_lease_lost id={} error=\"{}\"", id, renewed.error().describe());
    if (renewed.error().code == ErrorCode::not_found) state->lost.fetch_add(1);
    cancel->cancel();
    co_return;
  }
}

Awaitable<void> WorkerPool::cancel_at_timeout(std::shared_ptr<State> state, std::chrono::milliseconds timeout,
                                              std::shared_ptr<CancelToken> done, std::shared_ptr<CancelToken> cancel,
                                              std::shared_ptr<std::atomic<bool>> timed_out) {
  const std::chrono::nanoseconds wait = timeout;
  CancelToken* const ended = done.get();
  const bool slept = co_await state->sleeper.sleep_for(wait, ended);
  if (slept) {
    *timed_out = true;
    cancel->cancel();
  }
}

Awaitable<std::optional<TaskRecord>> WorkerPool::run_one(std::shared_ptr<State> state, TaskRecord task) {
  const auto& worker = state->options.worker_id;
  auto handler = state->handlers.find(task.spec.name);
  if (handler == state->handlers.end()) {
    const auto error = "no handler is registered for '" + task.spec.name + "'";
    auto failed = co_await state->queue.fail(task.id, worker, error, false);
    if (failed) state->failed.fetch_add(1);
    co_return std::nullopt;
  }
  auto cancel = std::make_shared<CancelToken>();
  // One token per waiter: a CancelToken has one hook, and each sleep takes it.
  auto heartbeat_done = std::make_shared<CancelToken>();
  auto timeout_done = std::make_shared<CancelToken>();
  {
    std::lock_guard lock(state->mutex);
    state->running.insert(cancel);
  }
  const auto executor = co_await asio::this_coro::executor;
  asio::co_spawn(executor, heartbeat(state, task.id, heartbeat_done, cancel), asio::detached);
  auto timed_out = std::make_shared<std::atomic<bool>>(false);
  if (task.spec.timeout.count() > 0) {
    asio::co_spawn(executor, cancel_at_timeout(state, task.spec.timeout, timeout_done, cancel, timed_out),
                   asio::detached);
  }
  auto result = co_await handler->second(task, *cancel);
  heartbeat_done->cancel();
  timeout_done->cancel();
  {
    std::lock_guard lock(state->mutex);
    state->running.erase(cancel);
  }
  if (result) {
    // While running, the completion also leases this loop's next task (one round trip per task).
    if (!state->stopping) {
      auto next = co_await state->queue.complete_and_fetch(task.id, worker, std::move(*result), state->options.queue);
      if (!next) {
        logs::warn("tasks", "event=task_result_refused id={} error=\"{}\"", task.id, next.error().describe());
        co_return std::nullopt;
      }
      state->succeeded.fetch_add(1);
      co_return std::move(*next);
    }
    auto completed = co_await state->queue.complete(task.id, worker, std::move(*result));
    if (completed) {
      state->succeeded.fetch_add(1);
    } else {
      logs::warn("tasks", "event=task_result_refused id={} error=\"{}\"", task.id, completed.error().describe());
    }
    co_return std::nullopt;
  }
  const bool retryable = result.error().code != ErrorCode::invalid_argument;
  const auto reason = *timed_out ? "timeout: the handler ran past " + std::to_string(task.spec.timeout.count()) + "ms"
                                 : result.error().describe();
  auto after = co_await state->queue.fail(task.id, worker, reason, retryable);
  if (!after) {
    logs::warn("tasks", "event=task_failure_refused id={} error=\"{}\"", task.id, after.error().describe());
    co_return std::nullopt;
  }
  if (*after == TaskState::retry) state->retried.fetch_add(1);
  if (*after == TaskState::dead) state->dead.fetch_add(1);
  if (*after == TaskState::failed) state->failed.fetch_add(1);
  co_return std::nullopt;
}

}  // namespace svckit::queue
