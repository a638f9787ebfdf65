// MemoryTaskQueue with WorkerPools on a two-thread io_context: many tasks across workers each done
// exactly once; retries into the dead set; non-retryable failures; a worker that vanished leaves
// its task to be recovered after the lease. Timeouts and heartbeats: tests/unit/queue/worker_pool_test.cpp
// (virtual time).
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <set>
#include <thread>

#include "svckit/queue/worker_pool.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/process.hpp"

namespace svckit::queue {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

struct Numbered {
  int n = 0;
};
void from_json(const nlohmann::json& j, Numbered& out) { out.n = j.at("n").get<int>(); }

class TaskQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 2; ++i) threads.emplace_back([this] { io.run(); });
  }
  void TearDown() override {
    work.reset();
    io.stop();
    for (auto& t : threads) t.join();
  }
  /// Millisecond retry backoff; the lease as each test needs it (short where it is awaited, long
  /// where a slow machine must not make a busy worker look dead).
  static TaskStoreOptions fast(std::chrono::milliseconds lease) {
    TaskStoreOptions o;
    o.lease = lease;
    o.retry_backoff = {BackoffKind::full_jitter, 1ms, 5ms, 2.0};
    return o;
  }
  template <class F>
  auto run(F&& make) {
    return asio::co_spawn(io, std::forward<F>(make)(), asio::use_future).get();
  }
  TaskRecord enqueue(TaskQueue& q, TaskSpec spec) {
    auto r = run([&]() -> Awaitable<Result<TaskRecord>> { co_return co_await q.enqueue(spec); });
    EXPECT_TRUE(r) << r.error().describe();
    return r ? *r : TaskRecord{};
  }
  TaskRecord get(TaskQueue& q, const std::string& id) {
    auto r = run([&]() -> Awaitable<Result<TaskRecord>> { co_return co_await q.get(id); });
    EXPECT_TRUE(r) << r.error().describe();
    return r ? *r : TaskRecord{};
  }
  static TaskSpec spec(const std::string& name, nlohmann::json payload = {}, int max_retries = 3) {
    TaskSpec s;
    s.name = name;
    s.payload = std::move(payload);
    s.max_retries = max_retries;
    return s;
  }

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> work{io.get_executor()};
  std::vector<std::thread> threads;
  RealTimeSource time;
  testing::FakeRandom random;
};

TEST_F(TaskQueueTest, ManyTasksAcrossWorkersAreEachDoneExactlyOnce) {
  MemoryTaskQueue queue(time, random, fast(30s));
  std::mutex mutex;
  std::multiset<int> done;
  // Each pool's first tasks wait until the other pool has started one too, so the test shows the
  // work is shared however the two io threads are scheduled (a loaded machine once let one pool's
  // four workers drain all 2,000 tasks before the other woke).
  std::array<std::atomic<int>, 2> started{};
  auto make_pool = [&](const std::string& id, int self) {
    auto pool = std::make_unique<WorkerPool>(io.get_executor(), queue, random, WorkerPoolOptions{"default", 4, id});
    pool->handle<Numbered>("count", [&, self](Numbered args, CancelToken&) -> Awaitable<Result<nlohmann::json>> {
      started[self].fetch_add(1);
      asio::steady_timer pause(co_await asio::this_coro::executor);
      for (int i = 0; i < 30'000 && started[1 - self].load() == 0; ++i) {
        pause.expires_after(1ms);
        co_await pause.async_wait(asio::use_awaitable);
      }
      std::lock_guard lock(mutex);
      done.insert(args.n);
      co_return nlohmann::json{{"twice", args.n * 2}};
    });
    pool->start();
    return pool;
  };
  auto a = make_pool("a", 0);
  auto b = make_pool("b", 1);
  constexpr int kTasks = 2000;
  std::string last;
  for (int i = 0; i < kTasks; ++i) last = enqueue(queue, spec("count", {{"n", i}})).id;
  ASSERT_TRUE(testing::wait_until([&] { return a->stats().succeeded + b->stats().succeeded == kTasks; }, 60s));
  {
    std::lock_guard lock(mutex);
    ASSERT_EQ(done.size(), static_cast<std::size_t>(kTasks));
    for (int i = 0; i < kTasks; ++i) ASSERT_EQ(done.count(i), 1u) << i;
  }
  EXPECT_GT(a->stats().succeeded, 0u) << "both pools shared the work";
  EXPECT_GT(b->stats().succeeded, 0u);
  EXPECT_EQ(get(queue, last).result["twice"], 2 * (kTasks - 1));
  run([&]() -> Awaitable<void> {
    co_await a->stop(1s);
    co_await b->stop(1s);
  });
}

TEST_F(TaskQueueTest, FailuresRetryIntoTheDeadSetAndBadTasksFailAtOnce) {
  MemoryTaskQueue queue(time, random, fast(30s));
  std::atomic<int> calls{0};
  WorkerPool pool(io.get_executor(), queue, random, {"default", 2, "w"});
  pool.handle("flaky", [&](const TaskRecord&, CancelToken&) -> Awaitable<Result<nlohmann::json>> {
    ++calls;
    co_return make_error(ErrorCode::unavailable, "downstream is down");
  });
  pool.handle<Numbered>(
      "typed", [](Numbered, CancelToken&) -> Awaitable<Result<nlohmann::json>> { co_return nlohmann::json{}; });
  pool.start();
  const auto flaky = enqueue(queue, spec("flaky", {}, 2)).id;
  const auto unknown = enqueue(queue, spec("nobody-handles-this")).id;
  const auto undecodable = enqueue(queue, spec("typed", {{"n", "not a number"}})).id;
  ASSERT_TRUE(testing::wait_until([&] { return pool.stats().dead == 1 && pool.stats().failed == 2; }, 20s));
  EXPECT_EQ(calls.load(), 3) << "the first attempt and two retries";
  EXPECT_EQ(pool.stats().retried, 2u);
  const auto dead = get(queue, flaky);
  EXPECT_EQ(dead.state, TaskState::dead);
  EXPECT_NE(dead.last_error.find("downstream is down"), std::string::npos);
  EXPECT_EQ(get(queue, unknown).state, TaskState::failed);
  EXPECT_NE(get(queue, unknown).last_error.find("no handler"), std::string::npos);
  EXPECT_EQ(get(queue, undecodable).state, TaskState::failed) << "a payload that does not decode is not retried";
  EXPECT_EQ(get(queue, undecodable).attempts, 1);
  run([&] { return pool.stop(1s); });
}

TEST_F(TaskQueueTest, AVanishedWorkersTaskIsRecoveredAfterItsLeaseAndDoneOnce) {
  MemoryTaskQueue queue(time, random, fast(300ms));
  const auto id = enqueue(queue, spec("job")).id;
  // A worker leases the task and dies: no heartbeat, no result.
  auto leased = run([&]() -> Awaitable<Result<std::optional<TaskRecord>>> {
    co_return co_await queue.fetch("default", "ghost", 0ms);
  });
  ASSERT_TRUE(leased && *leased);
  std::atomic<int> runs{0};
  WorkerPool pool(io.get_executor(), queue, random, {"default", 1, "survivor"});
  pool.handle("job", [&](const TaskRecord& task, CancelToken&) -> Awaitable<Result<nlohmann::json>> {
    ++runs;
    co_return nlohmann::json{{"attempt", task.attempts}};
  });
  pool.start();
  ASSERT_TRUE(testing::wait_until([&] { return pool.stats().succeeded == 1; }, 10s));
  EXPECT_EQ(runs.load(), 1);
  EXPECT_EQ(queue.redeliveries(), 1u) << "one lease ran out";
  const auto record = get(queue, id);
  EXPECT_EQ(record.state, TaskState::succeeded);
  EXPECT_EQ(record.result["attempt"], 2);
  auto late = run([&]() -> Awaitable<Result<void>> { co_return co_await queue.complete(id, "ghost", {}); });
  EXPECT_FALSE(late) << "the ghost's late result is refused";
  run([&] { return pool.stop(1s); });
}

}  // namespace
}  // namespace svckit::queue
