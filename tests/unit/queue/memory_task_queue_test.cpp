// MemoryTaskQueue's waiting fetches: one whose coroutine is destroyed while it waits (its
// io_context went away) leaves nothing behind, so a later enqueue wakes no dead waiter (before:
// the waiter stayed in the queue's list and the enqueue posted to a destroyed strand).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "svckit/queue/task_queue.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/simulated_clock.hpp"
#include "svckit/testing/virtual_time.hpp"

namespace svckit::queue {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST(MemoryTaskQueue, AFetchDestroyedWhileWaitingLeavesNothingBehind) {
  testing::SimulatedClock time;
  testing::FakeRandom random;
  MemoryTaskQueue queue(time, random);
  {
    asio::io_context io;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          (void)co_await queue.fetch("default", "w1", 1h);
          ADD_FAILURE() << "never resumes: its io_context is destroyed first";
        },
        asio::detached);
    io.poll();  // parked, waiting for a task
  }
  // A live fetch after it: the enqueue must wake only live waiters, and the task is fetched.
  asio::io_context io;
  std::optional<TaskRecord> got;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        TaskSpec spec;
        spec.name = "send_email";
        auto enqueued = co_await queue.enqueue(spec);
        EXPECT_TRUE(enqueued) << enqueued.error().message;
        auto fetched = co_await queue.fetch("default", "w2", 1s);
        EXPECT_TRUE(fetched);
        if (fetched) got = *fetched;
      },
      asio::detached);
  io.run();
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->spec.name, "send_email");
}

// With a Sleeper injected, a fetch's whole wait runs in that time: these take no wall-clock time
// (before: the waits were real Asio timers whatever the TimeSource, so this would take 40 s).
TEST(MemoryTaskQueue, AFetchWaitsInVirtualTimeForADelayedTaskOrItsTimeout) {
  asio::io_context io;
  testing::VirtualTime time(io);
  testing::FakeRandom random;
  MemoryTaskQueue queue(time, random, {}, &time);
  const auto start = time.steady_now();
  std::optional<TaskRecord> delayed;
  std::optional<std::chrono::nanoseconds> delayed_at, empty_at;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        TaskSpec spec;
        spec.name = "report";
        spec.delay = 10s;
        auto enqueued = co_await queue.enqueue(spec);
        EXPECT_TRUE(enqueued) << enqueued.error().message;
        auto fetched = co_await queue.fetch("default", "w1", 1min);
        EXPECT_TRUE(fetched && *fetched);
        if (fetched && *fetched) delayed = **fetched;
        delayed_at = time.steady_now() - start;
        auto none = co_await queue.fetch("default", "w1", 30s);
        EXPECT_TRUE(none && !*none);
        empty_at = time.steady_now() - start;
      },
      asio::detached);
  time.run_until(start + 1h);
  ASSERT_TRUE(delayed.has_value());
  EXPECT_EQ(delayed->spec.name, "report");
  ASSERT_TRUE(delayed_at && empty_at);
  EXPECT_EQ(*delayed_at, std::chrono::nanoseconds(10s)) << "woken when the delayed task fell due";
  EXPECT_EQ(*empty_at, std::chrono::nanoseconds(40s)) << "gave up after its 30 s";
}

TEST(MemoryTaskQueue, AnEnqueueWakesAVirtualTimeFetchAtOnce) {
  asio::io_context io;
  testing::VirtualTime time(io);
  testing::FakeRandom random;
  MemoryTaskQueue queue(time, random, {}, &time);
  const auto start = time.steady_now();
  std::optional<std::chrono::nanoseconds> got_at;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto fetched = co_await queue.fetch("default", "w1", 1h);
        EXPECT_TRUE(fetched && *fetched);
        got_at = time.steady_now() - start;
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await time.sleep_for(5s);
        TaskSpec spec;
        spec.name = "now";
        (void)co_await queue.enqueue(spec);
      },
      asio::detached);
  time.run_until(start + 2h);
  ASSERT_TRUE(got_at.has_value());
  EXPECT_EQ(*got_at, std::chrono::nanoseconds(5s));
}

}  // namespace
}  // namespace svckit::queue
