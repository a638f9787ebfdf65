// The Redis and RabbitMQ task queues under crashes, with real processes: worker processes
// (tests/tools/task_worker.cpp) SIGKILLed mid-task, and redis-server (AOF, fsync always) killed and
// restarted mid-run. Every task must end exactly once in succeeded (or dead), none lost. (The
// handlers leave their traces in Redis whichever queue they run on.)
#include <gtest/gtest.h>

#include <csignal>
#include <memory>

#include "svckit/queue/amqp_task_queue.hpp"
#include "svckit/queue/redis_task_queue.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"

namespace svckit::queue {
namespace {

using namespace std::chrono_literals;

// Under ThreadSanitizer (every process instrumented, 5-10x slower) the crash tests run a fifth of
// the tasks: the point there is races in the same code paths; the full counts run in the main build.
#if defined(__SANITIZE_THREAD__)
constexpr int kScale = 5;
#else
constexpr int kScale = 1;
#endif

class TaskQueueCrashTest : public ::testing::Test {
 protected:
  // Background loops (claims, heartbeats) use the client and the queue or bus: the io thread
  // stops before those members go.
  void TearDown() override { io.stop(); }
  void start_redis(const std::vector<std::string>& extra = {}) {
    auto started = testing::start_redis(dir.path(), port, extra);
    ASSERT_TRUE(started) << started.error().message;
    redis = std::move(*started);
    if (!client) {
      redis::RedisOptions o;
      o.server = {"127.0.0.1", static_cast<std::uint16_t>(port), false};
      client = std::make_unique<redis::RedisClient>(io.executor(), o);
      queue = std::make_unique<RedisTaskQueue>(*client, time, random);
    }
  }
  /// A worker process on the Redis queue, or on `queue_url`'s.
  testing::ChildProcess worker(const std::string& id, int concurrency, int lease_ms,
                               const std::string& queue_url = {}) {
    std::vector<std::string> args{TASK_WORKER_BIN, std::to_string(port), id, std::to_string(concurrency),
                                  std::to_string(lease_ms)};
    if (!queue_url.empty()) args.push_back(queue_url);
    auto child = testing::ChildProcess::spawn(args, dir.path() / ("worker-" + id + ".log"));
    EXPECT_TRUE(child) << child.error().message;
    return child ? std::move(*child) : testing::ChildProcess{};
  }
  std::vector<std::string> enqueue_counts(int n, int max_retries) {
    return io.run([&]() -> Awaitable<std::vector<std::string>> {
      std::vector<std::string> ids;
      for (int i = 0; i < n; ++i) {
        TaskSpec s;
        s.name = "count";
        s.payload = {{"n", i}};
        s.max_retries = max_retries;
        auto r = co_await queue->enqueue(std::move(s));
        EXPECT_TRUE(r) << r.error().describe();
        if (r) ids.push_back(r->id);
      }
      co_return ids;
    });
  }
  /// The queue's counts; empty while Redis is unreachable.
  std::map<TaskState, std::size_t> counts() {
    auto r = io.run(
        [&]() -> Awaitable<Result<std::map<TaskState, std::size_t>>> { co_return co_await queue->counts("default"); });
    return r ? *r : std::map<TaskState, std::size_t>{};
  }
  Result<redis::Reply> command(std::vector<std::string> args) {
    return io.run([&]() -> Awaitable<Result<redis::Reply>> { co_return co_await client->command(std::move(args)); });
  }
  /// How many of `ids` are in the succeeded set (one script: 10,000 ids in one round trip).
  long long succeeded_of(const std::vector<std::string>& ids) {
    const redis::RedisScript script{R"lua(
      local n = 0
      for i = 2, #ARGV do
        if redis.call('ZSCORE', ARGV[1], ARGV[i]) then n = n + 1 end
      end
      return n)lua"};
    std::vector<std::string> args{std::string(RedisTaskQueueOptions{}.prefix) + ":q:default:succeeded"};
    args.insert(args.end(), ids.begin(), ids.end());
    auto r = io.run([&]() -> Awaitable<Result<redis::Reply>> {
      std::vector<std::string> keys;
      co_return co_await client->eval(script, std::move(keys), std::move(args));
    });
    EXPECT_TRUE(r) << r.error().describe();
    return r ? r->integer : -1;
  }

  testing::TempDir dir;
  int port = 0;
  testing::ChildProcess redis;
  RealTimeSource time;
  testing::FakeRandom random{7};
  testing::IoThread io;
  std::unique_ptr<redis::RedisClient> client;
  std::unique_ptr<RedisTaskQueue> queue;
};

TEST_F(TaskQueueCrashTest, AWorkerKilledMidTaskLeavesItToAnotherAfterTheLeaseDoneOnce) {
  start_redis();
  auto a = worker("a", 1, 1000);
  TaskSpec s;
  s.name = "slow";
  const auto task = io.run([&]() -> Awaitable<Result<TaskRecord>> { co_return co_await queue->enqueue(s); });
  ASSERT_TRUE(task) << task.error().describe();
  const std::vector<std::string> started_key{"GET", "{crash}:started:" + task->id};
  ASSERT_TRUE(testing::wait_until(
      [&] {
        auto r = command(started_key);
        return r && r->text == "a";
      },
      20s))
      << "worker a took the task";
  EXPECT_NE(a.stop(SIGKILL), -1);
  auto b = worker("b", 1, 1000);
  ASSERT_TRUE(testing::wait_until([&] { return counts()[TaskState::succeeded] == 1; }, 30s));
  const auto done = io.run([&]() -> Awaitable<Result<TaskRecord>> { co_return co_await queue->get(task->id); });
  ASSERT_TRUE(done);
  EXPECT_EQ(done->attempts, 2);
  EXPECT_EQ(done->result["by"], "b");
  EXPECT_NE(done->last_error.find("lease expired"), std::string::npos) << done->last_error;
  auto finished = command({"GET", "{crash}:finished:" + task->id});
  EXPECT_EQ(finished->text, "1") << "completed exactly once";
  const auto redeliveries =
      io.run([&]() -> Awaitable<Result<std::uint64_t>> { co_return co_await queue->redeliveries("default"); });
  EXPECT_EQ(*redeliveries, 1u);
  b.stop(SIGTERM);
}

TEST_F(TaskQueueCrashTest, TenThousandTasksAcrossFourWorkersWithRandomKillsAreEachDoneOnce) {
  start_redis();
  constexpr int kTasks = 10'000 / kScale;
  constexpr int kWorkers = 4;
  constexpr int kKills = 6;
  std::vector<testing::ChildProcess> workers;
  for (int i = 0; i < kWorkers; ++i) workers.push_back(worker("w" + std::to_string(i), 8, 1000));
  const auto ids = enqueue_counts(kTasks, 10);
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(kTasks));
  for (int kill = 0; kill < kKills; ++kill) {
    const auto progress = static_cast<std::size_t>((kill + 1) * kTasks / (kKills + 2));
    ASSERT_TRUE(testing::wait_until([&] { return counts()[TaskState::succeeded] >= progress; }, 60s))
        << "kill " << kill;
    const auto victim = random.uniform(kWorkers);
    EXPECT_NE(workers[victim].stop(SIGKILL), -1);
    workers[victim] = worker("w" + std::to_string(victim) + "-" + std::to_string(kill), 8, 1000);
  }
  ASSERT_TRUE(testing::wait_until(
      [&] {
        auto c = counts();
        return c[TaskState::succeeded] + c[TaskState::dead] == static_cast<std::size_t>(kTasks);
      },
      120s))
      << "every task ends";
  auto c = counts();
  EXPECT_EQ(c[TaskState::dead], 0u) << "10 retries are more than the kills can use";
  EXPECT_EQ(succeeded_of(ids), kTasks) << "each enqueued task is in the succeeded set (a set: once)";
  auto executed = command({"HLEN", "{crash}:runs"});
  EXPECT_EQ(executed->integer, kTasks) << "every task's handler ran";
  const auto redeliveries =
      io.run([&]() -> Awaitable<Result<std::uint64_t>> { co_return co_await queue->redeliveries("default"); });
  EXPECT_LE(*redeliveries, static_cast<std::uint64_t>(kKills * 8)) << "at most the killed workers' leases";
  for (auto& w : workers) w.stop(SIGTERM);
}

TEST_F(TaskQueueCrashTest, ARedisRestartWithAofMidRunLosesNoTask) {
  const std::vector<std::string> aof{"--appendonly", "yes", "--appendfsync", "always"};
  start_redis(aof);
  constexpr int kTasks = 3000 / kScale;
  const auto ids = enqueue_counts(kTasks, 10);
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(kTasks));
  auto a = worker("a", 4, 1000);
  auto b = worker("b", 4, 1000);
  ASSERT_TRUE(testing::wait_until([&] { return counts()[TaskState::succeeded] >= kTasks / 3; }, 60s));
  EXPECT_NE(redis.stop(SIGKILL), -1);
  start_redis(aof);  // same port, same directory: the AOF is replayed
  ASSERT_TRUE(testing::wait_until([&] { return counts()[TaskState::succeeded] == kTasks; }, 120s))
      << "succeeded: " << counts()[TaskState::succeeded];
  EXPECT_EQ(succeeded_of(ids), kTasks);
  EXPECT_EQ(command({"HLEN", "{crash}:runs"})->integer, kTasks);
  a.stop(SIGTERM);
  b.stop(SIGTERM);
}

/// The same crashes on the amqp:// queue: the broker hands a dead worker's deliveries back when its
/// connection drops (at once, not after the lease), counting each return as an attempt.
class AmqpTaskQueueCrashTest : public TaskQueueCrashTest {
 protected:
  void SetUp() override {
    start_redis();  // the handlers' traces
    auto started = testing::start_rabbitmq(rabbit_dir.path(), rabbit);
    ASSERT_TRUE(started) << started.error().message;
    url = rabbit.url() + "?prefix=crash";
    auto options = AmqpTaskQueueOptions::from_url(url);
    ASSERT_TRUE(options) << options.error().describe();
    auto created = AmqpTaskQueue::create(time, random, *options);
    ASSERT_TRUE(created) << created.error().describe();
    amqp_queue = std::move(*created);
  }
  void TearDown() override {
    amqp_queue.reset();
    TaskQueueCrashTest::TearDown();
  }
  std::map<TaskState, std::size_t> amqp_counts() {
    auto r = io.run([&]() -> Awaitable<Result<std::map<TaskState, std::size_t>>> {
      co_return co_await amqp_queue->counts("default");
    });
    return r ? *r : std::map<TaskState, std::size_t>{};
  }
  testing::TempDir rabbit_dir;
  testing::RabbitMq rabbit;
  std::string url;
  std::unique_ptr<AmqpTaskQueue> amqp_queue;
};

TEST_F(AmqpTaskQueueCrashTest, AWorkerKilledMidTaskHandsItToAnotherDoneOnce) {
  auto a = worker("a", 1, 1000, url);
  TaskSpec s;
  s.name = "slow";
  const auto task = io.run([&]() -> Awaitable<Result<TaskRecord>> { co_return co_await amqp_queue->enqueue(s); });
  ASSERT_TRUE(task) << task.error().describe();
  const std::vector<std::string> started_key{"GET", "{crash}:started:" + task->id};
  ASSERT_TRUE(testing::wait_until(
      [&] {
        auto r = command(started_key);
        return r && r->text == "a";
      },
      20s))
      << "worker a took the task";
  EXPECT_NE(a.stop(SIGKILL), -1);
  auto b = worker("b", 1, 1000, url);
  ASSERT_TRUE(testing::wait_until([&] { return amqp_counts()[TaskState::succeeded] == 1; }, 30s));
  const auto done = io.run([&]() -> Awaitable<Result<TaskRecord>> { co_return co_await amqp_queue->get(task->id); });
  ASSERT_TRUE(done);
  EXPECT_EQ(done->attempts, 2) << "the broker's return counts as an attempt";
  EXPECT_EQ(done->result["by"], "b");
  EXPECT_EQ(command({"GET", "{crash}:finished:" + task->id})->text, "1") << "completed exactly once";
  b.stop(SIGTERM);
}

TEST_F(AmqpTaskQueueCrashTest, TwoThousandTasksAcrossFourWorkersWithRandomKillsAreEachDoneOnce) {
  constexpr int kTasks = 2'000 / kScale;
  constexpr int kWorkers = 4;
  constexpr int kKills = 6;
  std::vector<testing::ChildProcess> workers;
  for (int i = 0; i < kWorkers; ++i) workers.push_back(worker("w" + std::to_string(i), 8, 1000, url));
  const auto ids = io.run([&]() -> Awaitable<std::vector<std::string>> {
    std::vector<std::string> out;
    for (int i = 0; i < kTasks; ++i) {
      TaskSpec s;
      s.name = "count";
      s.payload = {{"n", i}};
      s.max_retries = 10;
      auto r = co_await amqp_queue->enqueue(std::move(s));
      EXPECT_TRUE(r) << r.error().describe();
      if (r) out.push_back(r->id);
    }
    co_return out;
  });
  ASSERT_EQ(ids.size(), static_cast<std::size_t>(kTasks));
  for (int kill = 0; kill < kKills; ++kill) {
    const auto progress = static_cast<std::size_t>((kill + 1) * kTasks / (kKills + 2));
    ASSERT_TRUE(testing::wait_until([&] { return amqp_counts()[TaskState::succeeded] >= progress; }, 60s))
        << "kill " << kill;
    const auto victim = random.uniform(kWorkers);
    EXPECT_NE(workers[victim].stop(SIGKILL), -1);
    workers[victim] = worker("w" + std::to_string(victim) + "-" + std::to_string(kill), 8, 1000, url);
  }
  ASSERT_TRUE(testing::wait_until([&] { return amqp_counts()[TaskState::succeeded] == kTasks; }, 120s))
      << "succeeded: " << amqp_counts()[TaskState::succeeded];
  EXPECT_EQ(amqp_counts()[TaskState::dead], 0u) << "10 retries are more than the kills can use";
  EXPECT_EQ(command({"HLEN", "{crash}:runs"})->integer, kTasks) << "every task's handler ran";
  for (auto& w : workers) w.stop(SIGTERM);
}

TEST_F(TaskQueueCrashTest, AnEvictingRedisIsReportedAtStart) {
  const std::vector<std::string> lru{"--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru"};
  start_redis(lru);
  auto policy = io.run([&]() -> Awaitable<Result<std::string>> { co_return co_await queue->check_server(); });
  ASSERT_TRUE(policy) << policy.error().describe();
  EXPECT_EQ(*policy, "allkeys-lru");
}

}  // namespace
}  // namespace svckit::queue
