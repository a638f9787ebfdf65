// WorkerPool: runs the handlers of one queue's tasks with bounded concurrency. Each worker loop
// leases a task, heartbeats its lease every lease/3 while the handler runs, cancels the handler at
// the task's timeout, and reports the outcome (complete / fail → retry or dead). A task whose
// handler is unknown, or whose payload does not decode, fails without retries.
//
//   WorkerPool pool(io.get_executor(), queue, {.queue = "emails", .concurrency = 8});
//   pool.handle<EmailArgs>("send_email", [&](EmailArgs args, CancelToken& cancel) -> Awaitable<Result<nlohmann::json>>
//   {
//     co_return co_await mailer.send(args.to, args.subject);
//   });
//   pool.start();
//   ...
//   co_await pool.stop(10s);  // no new tasks; running ones get 10 s to finish
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "svckit/core/cancel_token.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/queue/task_queue.hpp"

namespace svckit::queue {

struct WorkerPoolOptions {
  std::string queue = "default";
  std::size_t concurrency = 4;                // handlers running at once
  std::string worker_id;                      // default: "worker-<random hex>"; unique per pool
  std::chrono::milliseconds poll_wait{1000};  // how long one fetch waits for a task
};

/// A handler: the task (payload in task.spec.payload) and a token cancelled at the task's
/// timeout or when the pool stops past its drain time. Returns the result (kept with the task) or
/// an error: `invalid_argument` fails the task without retries, any other error retries it.
using TaskHandler = std::function<Awaitable<Result<nlohmann::json>>(const TaskRecord&, CancelToken&)>;

struct WorkerPoolStats {
  std::uint64_t fetched = 0, succeeded = 0, retried = 0, dead = 0, failed = 0, lost_leases = 0;
};

/// Threading: handle() before start(); start() and stop() from a coroutine on `executor` (any
/// executor: each worker loop runs on a strand of its own). The queue must outlive the pool.
class WorkerPool {
 public:
  /// `sleeper` (may be null: real time) runs the heartbeats, the timeout cancellation and the
  /// fetch-failure backoff; it must outlive the pool (testing::VirtualTime runs a pool in virtual
  /// time).
  WorkerPool(boost::asio::any_io_executor executor, TaskQueue& queue, Random& random, WorkerPoolOptions options,
             Sleeper* sleeper = nullptr);
  ~WorkerPool();

  void handle(std::string name, TaskHandler handler);
  /// A typed handler: the payload is decoded into Args with nlohmann's from_json; a payload that
  /// does not decode fails the task without retries (error names the handler).
  template <class Args, class F>
  void handle(std::string name, F f) {
    handle(std::move(name),
           [f = std::move(f)](const TaskRecord& task, CancelToken& cancel) -> Awaitable<Result<nlohmann::json>> {
             Args args;
             std::string undecodable;
             try {
               args = task.spec.payload.get<Args>();
             } catch (const nlohmann::json::exception& e) {
               undecodable = e.what();  // no co_return in a handler (GCC 12)
             }
             if (!undecodable.empty()) {
               co_return make_error(ErrorCode::invalid_argument, "payload does not decode: " + undecodable, "payload");
             }
             co_return co_await f(std::move(args), cancel);
           });
  }

  void start();
  /// Stops fetching; waits up to `drain` for running handlers, then cancels them (their tasks are
  /// failed and retried — or, if the process dies first, recovered when their leases run out).
  Awaitable<void> stop(std::chrono::milliseconds drain);

  WorkerPoolStats stats() const;
  const std::string& worker_id() const { return options_.worker_id; }

 private:
  struct State;
  static Awaitable<void> worker_loop(std::shared_ptr<State> state);
  /// Runs the task and reports its outcome; returns the next task when completing it leased one.
  static Awaitable<std::optional<TaskRecord>> run_one(std::shared_ptr<State> state, TaskRecord task);
  static Awaitable<void> heartbeat(std::shared_ptr<State> state, std::string id, std::shared_ptr<CancelToken> done,
                                   std::shared_ptr<CancelToken> cancel);
  static Awaitable<void> cancel_at_timeout(std::shared_ptr<State> state, std::chrono::milliseconds timeout,
                                           std::shared_ptr<CancelToken> done, std::shared_ptr<CancelToken> cancel,
                                           std::shared_ptr<std::atomic<bool>> timed_out);

  boost::asio::any_io_executor executor_;
  WorkerPoolOptions options_;
  std::shared_ptr<State> state_;
};

}  // namespace svckit::queue
