// AmqpTaskQueue: the task queue on RabbitMQ (AMQP 0-9-1 through rabbitmq-c), for teams whose
// broker is RabbitMQ — the way Celery runs its tasks on it. Queues of task queue Q (prefix P):
//
//   P.Q.high / P.Q.medium / P.Q.low   durable queues holding the due tasks, one per priority
//   P.Q.<priority>.wait.<ms>          classic queues with a message TTL of <ms> that dead-letter
//                                     into P.Q.<priority>: delays, run_at and retry backoffs
//   P.Q.dead / P.Q.failed             retries used up / not retryable (bounded by max_dead,
//                                     kept dead_max_age)
//   P.Q.paused                        holds a message while the queue is paused
//   P.Q.unique.<ms>.<key>             holds one marker for <ms> while a unique_key is taken
//
// A task is one persistent message (its JSON); an enqueue returns once the broker confirmed it
// (publisher confirms: the broker confirms a persistent message once it is on disk). A fetch is a basic.get
// that leaves the delivery unacknowledged: that is the lease. complete() acknowledges it; fail()
// publishes the next attempt (into the wait queue of its backoff, or straight back when the
// backoff is 0) or the dead letter, and only then acknowledges — a crash in between runs the task
// once more, never loses it. A worker process that dies loses its connection, and the broker
// puts its unacknowledged tasks back, marked redelivered: the process that takes one counts the
// lost attempt into the message (publishing it again, then acknowledging the returned one), so a
// task that kills its workers goes dead after max_retries instead of looping. (Classic queues:
// a quorum queue would count the returns itself, but its basic.get and acknowledgements are Raft
// commands written to disk: 695 vs 1,587 tasks/s end to end in bench/task_queue_bench.sh.)
//
// Where it differs from Redis and memory (RabbitMQ keeps no index of its messages):
// - get(id) and the succeeded/scheduled/retry/active states are what this process knows: tasks
//   it enqueued or leased. Outcomes travel back to the enqueuing process as messages on its
//   exclusive reply queue (Celery's rpc:// result backend); when that process is gone, so is the
//   result. counts() takes pending, dead and failed from the broker (every process's), the rest
//   from this process.
// - list() reads dead and failed tasks by taking and returning them (an O(n) walk) and refuses
//   pending ones (a task taken and returned is marked redelivered: a lost attempt); run_now() and
//   remove() work on dead and failed tasks only.
// - A delay is rounded up to 10 ms below 1 s, 100 ms below 10 s, 1 s below 10 min, 10 s above;
//   a paused queue is noticed by other processes within `pause_check`.
// - A lease that runs out while this process lives is recovered by this process's next fetch,
//   renew or sweep; RabbitMQ's own consumer_timeout (30 min by default) closes a channel that
//   holds a delivery longer — raise it for tasks that run longer.
#pragma once

#include <memory>

#include "svckit/amqp/amqp_server.hpp"
#include "svckit/queue/task_queue.hpp"

namespace svckit::queue {

struct AmqpTaskQueueOptions : amqp::AmqpServerOptions {
  /// lease, priorities (weights or strict), retry_backoff, max_dead and dead_max_age (per dead
  /// and failed queue), retention (of this process's records of finished tasks).
  TaskStoreOptions store;
  std::string prefix = "svckit-tasks";              // a name's first part: [A-Za-z0-9_-]+
  std::chrono::milliseconds poll{10};               // a waiting fetch asks the broker again after this long,
  std::chrono::milliseconds max_poll{100};          // growing to this while the queue stays empty
  std::chrono::milliseconds broker_timeout{5'000};  // a round trip to the broker (a confirm)
  std::chrono::milliseconds pause_check{1'000};     // how old this process's view of "paused" may be
  std::size_t max_records = 100'000;                // tasks this process remembers for get() ...
  std::size_t max_record_bytes = 64 << 20;          // ... and their payloads' and results' size; oldest go first

  /// amqp://host[:port][/vhost] with ?user=, ?password_env= or ?password_file=, ?prefix=,
  /// ?lease=, ?poll=, ?max_poll=, ?timeout= (broker round trip). Errors name the option.
  static Result<AmqpTaskQueueOptions> from_url(std::string_view url);
};

/// Thread-safe. One connection, owned by one thread of the queue's (rabbitmq-c is blocking); every
/// operation is a job on it. `time` and `random` are used on that thread and must outlive the
/// queue; the queue must outlive its operations. The connection opens on first use and again
/// after a failure (then the leases it held are gone: the broker returns those tasks).
class AmqpTaskQueue final : public TaskQueue {
 public:
  /// Errors: invalid_argument naming the option (prefix, lease, ...). Does not connect yet.
  static Result<std::unique_ptr<AmqpTaskQueue>> create(const TimeSource& time, Random& random,
                                                       AmqpTaskQueueOptions options = {});
  ~AmqpTaskQueue() override;
  AmqpTaskQueue(const AmqpTaskQueue&) = delete;
  AmqpTaskQueue& operator=(const AmqpTaskQueue&) = delete;

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
  std::chrono::milliseconds lease() const override;

  /// Attempts that ended without an outcome: leases this process saw run out, and deliveries the
  /// broker returned after a worker's connection was lost.
  std::uint64_t redeliveries() const;

  struct Broker;  // the thread and what only it touches; public for the .cpp

 private:
  explicit AmqpTaskQueue(std::unique_ptr<Broker> broker);
  std::unique_ptr<Broker> broker_;
};

}  // namespace svckit::queue
