// WorkerPool in virtual time: heartbeats at lease/3 keep a long task's lease through several
// leases, and a handler past its timeout is cancelled and its task ends dead with the reason. On
// the injected clock, so the verdict never depends on how loaded the machine is (it did when this
// ran on real 1 s leases).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "svckit/queue/task_queue.hpp"
#include "svckit/queue/worker_pool.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/virtual_time.hpp"

namespace svckit::queue {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

TaskSpec sleepy(int ms, int max_retries) {
  TaskSpec s;
  s.name = "sleepy";
  s.payload = nlohmann::json{{"ms", ms}};
  s.max_retries = max_retries;
  return s;
}

TEST(WorkerPoolVirtualTime, AHandlerIsCancelledAtItsTimeoutWhileHeartbeatsKeepLongOnesAlive) {
  asio::io_context io;
  testing::VirtualTime time(io);
  testing::FakeRandom random;
  TaskStoreOptions options;
  options.lease = 1s;
  options.retry_backoff = {BackoffKind::full_jitter, 1ms, 5ms, 2.0};
  MemoryTaskQueue queue(time, random, options, &time);
  WorkerPool pool(io.get_executor(), queue, random, {"default", 2, "w"}, &time);
  int cancelled = 0;
  pool.handle("sleepy", [&](const TaskRecord& task, CancelToken& cancel) -> Awaitable<Result<nlohmann::json>> {
    const std::chrono::nanoseconds nap = std::chrono::milliseconds(task.spec.payload.at("ms").get<int>());
    CancelToken* const token = &cancel;
    const bool slept = co_await time.sleep_for(nap, token);
    if (!slept) {
      ++cancelled;
      co_return make_error(ErrorCode::cancelled, "cancelled");
    }
    co_return nlohmann::json{{"slept", task.spec.payload.at("ms")}};
  });
  std::string timed_out, long_one;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        auto slow = sleepy(10'000, 0);
        slow.timeout = 200ms;
        auto first = co_await queue.enqueue(slow);
        auto second = co_await queue.enqueue(sleepy(3'200, 3));  // over three leases of 1 s
        EXPECT_TRUE(first && second);
        if (first && second) {
          timed_out = first->id;
          long_one = second->id;
        }
      },
      asio::detached);
  time.run_until(time.steady_now());
  ASSERT_FALSE(timed_out.empty());
  pool.start();
  time.run_until(time.steady_now() + 10s);

  std::optional<TaskRecord> dead, kept;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        auto a = co_await queue.get(timed_out);
        auto b = co_await queue.get(long_one);
        if (a) dead = *a;
        if (b) kept = *b;
      },
      asio::detached);
  time.run_until(time.steady_now());
  ASSERT_TRUE(dead && kept);
  EXPECT_EQ(dead->state, TaskState::dead);
  EXPECT_NE(dead->last_error.find("timeout"), std::string::npos) << dead->last_error;
  EXPECT_EQ(cancelled, 1) << "the handler past its timeout saw its token cancelled";
  EXPECT_EQ(kept->state, TaskState::succeeded);
  EXPECT_EQ(kept->attempts, 1) << "heartbeats kept its lease: never redelivered";
  EXPECT_EQ(pool.stats().succeeded, 1u);
  EXPECT_EQ(pool.stats().lost_leases, 0u);

  bool stopped = false;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        co_await pool.stop(0ms);
        stopped = true;
      },
      asio::detached);
  time.run_until(time.steady_now() + 5s);
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace svckit::queue
