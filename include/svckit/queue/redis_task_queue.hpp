// RedisTaskQueue: the task queue in Redis, for workers in many processes and hosts. Every
// transition is one Lua script (src/queue/redis/redis_task_scripts.hpp) doing what TaskStore does
// in memory: fetch leases in the same atomic step that makes a task active; a lease that runs out
// is recovered by the next fetch of any worker of that queue. Survives a Redis restart with AOF.
//
// Redis must not evict queue keys: run it with `maxmemory-policy noeviction` (check_server()
// warns otherwise). Times are the client's TimeSource (hosts keep their clocks in sync with NTP;
// a skew of s makes another host see a lease end s early).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "svckit/core/group_commit.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/queue/task_queue.hpp"
#include "svckit/redis/redis_client.hpp"

namespace svckit::queue {

struct RedisTaskQueueOptions {
  TaskStoreOptions store;
  std::string prefix = "{svckit-tasks}";  // one hash tag: a Redis Cluster keeps every key in one slot
  /// Concurrent enqueues, fetches and completions are sent together (group commit: one script
  /// call per batch, at most this many items; the first is sent at once). Redis's cost is mostly
  /// per call, so this is what the throughput rests on. 1 = one call per operation.
  std::size_t max_batch = 128;
};

/// Thread-safe (RedisClient is; `random` must be too when several threads use the queue). The
/// client must outlive the queue, the queue its operations. Waiting fetches of one queue share one
/// listener per process: a BLPOP on the queue's wake list (tokens pushed by enqueue, run_now,
/// resume and retries) that wakes them all — their fetches then go out as one batch; each also
/// wakes by itself for the next scheduled task and for lease recovery.
class RedisTaskQueue final : public TaskQueue {
 public:
  RedisTaskQueue(redis::RedisClient& client, const TimeSource& time, Random& random,
                 RedisTaskQueueOptions options = {});
  ~RedisTaskQueue() override;
  RedisTaskQueue(const RedisTaskQueue&) = delete;
  RedisTaskQueue& operator=(const RedisTaskQueue&) = delete;

  /// Reads the server's maxmemory-policy; logs a warning (event=redis_eviction_policy) unless it is
  /// noeviction. Returns the policy ("unknown" when CONFIG is disabled on the server).
  Awaitable<Result<std::string>> check_server();

  Awaitable<Result<TaskRecord>> enqueue(TaskSpec spec) override;
  Awaitable<Result<std::optional<TaskRecord>>> fetch(std::string queue, std::string worker,
                                                     std::chrono::milliseconds wait) override;
  Awaitable<Result<SystemTime>> renew(std::string id, std::string worker) override;
  Awaitable<Result<void>> complete(std::string id, std::string worker, nlohmann::json result) override;
  /// One worker operation: the completion and the next lease in the same script run.
  Awaitable<Result<std::optional<TaskRecord>>> complete_and_fetch(std::string id, std::string worker,
                                                                  nlohmann::json result, std::string queue) override;
  Awaitable<Result<TaskState>> fail(std::string id, std::string worker, std::string error, bool retryable) override;
  Awaitable<Result<TaskRecord>> get(std::string id) override;
  /// Pending tasks in fetch order (high first), the others by their time (due, lease end, finish).
  Awaitable<Result<std::vector<TaskRecord>>> list(std::string queue, TaskState state, std::size_t limit) override;
  Awaitable<Result<std::map<TaskState, std::size_t>>> counts(std::string queue) override;
  Awaitable<Result<void>> run_now(std::string id) override;
  Awaitable<Result<void>> remove(std::string id) override;
  Awaitable<Result<void>> pause(std::string queue) override;
  Awaitable<Result<void>> resume(std::string queue) override;
  std::chrono::milliseconds lease() const override { return options_.store.lease; }

  /// Leases of `queue` that ran out and were recovered (kept in Redis: every process sees them).
  Awaitable<Result<std::uint64_t>> redeliveries(std::string queue);

 private:
  /// ARGV[1..3]: prefix, now (ms), a random seed.
  std::vector<std::string> common_args();
  std::string queue_key(const std::string& queue, const char* suffix) const;
  Awaitable<std::vector<Result<redis::Reply>>> flush_enqueues(std::vector<std::vector<std::string>> tasks);
  Awaitable<std::vector<Result<redis::Reply>>> flush_worker_ops(std::vector<std::vector<std::string>> ops);

  struct Doorbell;
  std::shared_ptr<Doorbell> doorbell(const std::string& queue);
  static Awaitable<void> listen(std::shared_ptr<Doorbell> bell, redis::RedisClient& client, std::string key);

  redis::RedisClient& client_;
  const TimeSource& time_;
  Random& random_;
  RedisTaskQueueOptions options_;
  AsioSleeper sleeper_;  // a fetch's wait for a doorbell token (real time, like Redis' BLPOP)
  // Each gives every item its own part of the script's reply (or the call's error).
  GroupCommit<std::vector<std::string>, Result<redis::Reply>> enqueues_;
  // Fetches and completions share batches: ("f", queue, worker, "") and ("c", id, worker, result).
  GroupCommit<std::vector<std::string>, Result<redis::Reply>> worker_ops_;
  std::mutex doorbells_mutex_;
  std::map<std::string, std::shared_ptr<Doorbell>> doorbells_;  // guarded by doorbells_mutex_
};

}  // namespace svckit::queue
