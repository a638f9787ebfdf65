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

}  // namespace
}  // namespace svckit::queue
