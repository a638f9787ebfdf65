// AmqpTaskQueue::Broker: the thread that alone touches a queue's rabbitmq-c connection and the
// state kept with it (leases, records, declared queues, what was found empty or paused). Every
// AmqpTaskQueue operation is a job posted to it. Channel 1 is in confirm mode and carries
// publishes, basic.get and acknowledgements; channel 2 carries the declares, purges and deletes (a
// declare the broker refuses closes its channel — on channel 1 that would hand every leased task
// back) and the outcome messages sent to enqueuing processes. Private to AmqpTaskQueue.
//
// Thread-safety: post() and post_enqueue() from any thread; everything else on the broker thread
// only (the members marked "the thread's only"), except the read-only options, time and random.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>

#include "amqp/amqp_connection.hpp"
#include "queue/amqp/amqp_task_message.hpp"
#include "queue/amqp/amqp_task_records.hpp"
#include "svckit/core/completion.hpp"
#include "svckit/queue/amqp_task_queue.hpp"

namespace svckit::queue {

namespace amqp_tasks {  // what the broker thread and AmqpTaskQueue's operations share

inline constexpr amqp_channel_t kTasks = amqp::kChannel;  // confirms, basic.get, acknowledgements
inline constexpr amqp_channel_t kSide = 2;                // declares, purges, deletes, outcome messages
inline constexpr const char* kLevels[3] = {"high", "medium", "low"};
inline constexpr const char* kErrorHeader = "svckit-error";

inline amqp_bytes_t bytes_of(const std::string& s) { return amqp_bytes_t{s.size(), const_cast<char*>(s.data())}; }

inline bool valid_prefix(const std::string& p) {
  return !p.empty() && p.size() <= 64 &&
         p.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") == std::string::npos;
}

inline Error not_held(const std::string& id) {
  return make_error(ErrorCode::not_found, "task " + id + " is not active under this worker (its lease was lost)", "id");
}

/// One message taken by basic.get.
struct Delivery {
  std::uint64_t tag = 0;
  std::string body;
  std::string message_id;
  bool redelivered = false;  // delivered before, and returned (its holder's connection was lost)
};

}  // namespace amqp_tasks

struct AmqpTaskQueue::Broker {
  using AmqpConnection = amqp::AmqpConnection;
  using Job = std::function<void(Broker&)>;

  struct Lease {
    TaskRecord task;  // active, with worker, lease_until and deadline
    std::uint64_t tag = 0;
    std::string reply_to;
  };

  Broker(const TimeSource& t, Random& r, AmqpTaskQueueOptions o);
  ~Broker();

  void post(Job job);

  /// How long a caller waits for the thread's answer (a job may make a few round trips).
  std::chrono::milliseconds patience() const { return options.broker_timeout * 4 + std::chrono::seconds(1); }
  /// When a caller waiting from now stops waiting (real time: the broker's round trips are real).
  std::chrono::steady_clock::time_point answer_deadline() const;

  struct Enqueue {
    TaskSpec spec;
    std::shared_ptr<Completion<Result<TaskRecord>>> done;
  };
  /// Enqueues without a unique key go out together: all sent, then all confirms awaited (the
  /// broker writes them in one batch; one at a time, each would wait for a disk write of its own).
  void post_enqueue(TaskSpec spec, std::shared_ptr<Completion<Result<TaskRecord>>> done);

  void run();

  // --- enqueueing -------------------------------------------------------------------------------

  /// The record of a new task (declaring its queues first).
  Result<TaskRecord> prepare(TaskSpec spec);

  /// Where a new or retried task goes: its priority's queue when due, else the wait queue.
  Result<std::string> target_of(const TaskRecord& t);

  /// Takes `t`'s unique key for its window: a marker in a queue that holds one message for that
  /// long and refuses a second (limit_exceeded naming the holder).
  Result<void> take_unique_key(const TaskRecord& t);

  void enqueue_batch(std::deque<Enqueue>& batch);

  // --- the connection --------------------------------------------------------------------------

  Result<void> connect();

  /// After a transport failure: the broker returns every delivery this connection held.
  void drop_connection(const Error& why);

  /// Runs `op` connected; a transport failure (unavailable) drops the connection.
  template <class T, class F>
  Result<T> connected(F&& op) {
    if (auto c = connect(); !c) return c.error();
    Result<T> r = op();
    if (!r && r.error().code == ErrorCode::unavailable) drop_connection(r.error());
    return r;
  }

  /// A declare on the side channel. When the broker refuses it (and closes that channel), the
  /// channel is opened again; a queue that exists with other arguments (406: another process
  /// declared it with other options, say another max_dead) is used as it is, with a warning.
  Result<std::uint32_t> declare(const std::string& name, amqp::Table& args);

  std::string name(const std::string& queue, const std::string& suffix) const;
  std::string work_queue(const std::string& queue, Priority p) const;

  /// Declares the queues of task queue `queue`; returns their ready messages: high, medium, low,
  /// dead, failed, paused.
  Result<std::array<std::uint32_t, 6>> declare_queues(const std::string& queue);

  /// declare_queues once per connection.
  Result<void> declare_topology(const std::string& queue);

  /// The wait queue for `delay` into `target`: declared again every minute, which keeps it from
  /// expiring (x-expires counts from the last declare, not from the last publish).
  Result<std::string> wait_queue(const std::string& queue, Priority p, long long delay_ms);

  /// Sends a persistent message on the confirm channel; returns its confirm tag.
  Result<std::uint64_t> send(const std::string& queue, const std::string& body, const std::string& id,
                             const std::string& error = {});

  /// Publishes and waits for the broker's answer: true when stored, false when refused (a full
  /// queue with reject-publish).
  Result<bool> publish(const std::string& queue, const std::string& body, const std::string& id,
                       const std::string& error = {});

  /// Waits until the broker answered every tag of `answers` (each set to ack / nack). An error
  /// means the connection is lost (the answers not yet set are unknown).
  Result<void> wait_confirms(std::map<std::uint64_t, bool>& answers);

  /// One message of `queue` (nullopt: empty), unacknowledged unless `no_ack`.
  Result<std::optional<amqp_tasks::Delivery>> get_one(const std::string& queue, bool no_ack);

  Result<void> settle(std::uint64_t tag, bool ack, bool requeue = true);

  /// Tells the enqueuing process how its task ended (best effort: its reply queue lives as long as
  /// its connection).
  void tell(const std::string& reply_to, const TaskRecord& t);

  /// Applies the outcomes other processes sent to this one's reply queue.
  Result<void> read_outcomes();

  // --- attempts -------------------------------------------------------------------------------

  /// Ends an attempt that did not succeed: the next attempt (after its backoff), or a dead or failed
  /// letter — published before the delivery is acknowledged.
  Result<TaskState> end_attempt(Lease lease, const std::string& error, bool retryable);

  /// Leases that ran out (or whose attempt passed its timeout) end as failed attempts.
  Result<void> sweep();

  Result<bool> paused(const std::string& queue);

  /// The next due task of `queue`, leased to `worker`.
  Result<std::optional<TaskRecord>> fetch(const std::string& queue, const std::string& worker);

  /// Something may be due in `queue` now (enqueued or moved back here): ask the broker again.
  void woke(const std::string& queue);

  /// Takes the first usable task of one priority (nullopt: none).
  Result<std::optional<TaskRecord>> take(const std::string& queue, Priority level, const std::string& worker);

  /// Walks a dead-letter queue for `id` (each other message returned where it was); `found`
  /// decides what happens to the match. Returns whether it was there.
  Result<bool> walk_letters(const std::string& letters, const std::string& id,
                            const std::function<Result<void>(amqp_tasks::Delivery&)>& found);

  /// Runs `act` on dead/failed letter `id` of the queue known for it (this process's record) or
  /// of every queue this process declared.
  Result<void> on_letter(const std::string& id, const std::function<Result<void>(amqp_tasks::Delivery&)>& act);

  const TimeSource& time;
  Random& random;
  const AmqpTaskQueueOptions options;
  std::atomic<std::uint64_t> redeliveries{0};

  // The thread's only.
  std::unique_ptr<AmqpConnection> connection;
  std::uint64_t next_tag = 0;                                     // the confirm channel's last publish
  std::string reply_queue;                                        // this process's outcomes arrive here
  std::set<std::string> warned_arguments;                         // queues found with other arguments (logged once)
  std::set<std::string> declared;                                 // task queues declared on this connection
  std::map<std::string, SteadyTime> wait_queues;                  // wait queue → when last declared
  std::map<std::string, std::pair<bool, SteadyTime>> pause_seen;  // task queue → paused, when seen
  // Task queue → when a fetch last found each of its priorities empty.
  std::map<std::string, std::array<std::optional<SteadyTime>, 3>> empty_seen;
  std::map<std::string, std::chrono::milliseconds> idle_window;  // task queue → how long "found empty" holds
  std::map<std::string, Lease> leases;                           // by task id: deliveries this connection holds
  AmqpTaskRecords records;                                       // tasks this process enqueued or ran
  bool closing = false;

  std::mutex mutex;
  std::condition_variable wakeup;
  std::deque<Job> jobs;          // guarded by mutex
  std::deque<Enqueue> enqueues;  // guarded by mutex
  bool stopping = false;         // guarded by mutex
  std::thread thread;            // last: starts after the rest is built
};

}  // namespace svckit::queue
