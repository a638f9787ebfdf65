// WaitList: no waiter left behind on any exit, no wake-up lost in the race between a timeout and a
// notify, close() releases everyone. Virtual time (exact), one deterministic race double.
#include "svckit/core/wait_list.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>

#include "svckit/testing/virtual_time.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

struct Waiter {
  std::optional<bool> woken;  // set when wait_for returned
  std::chrono::milliseconds at{-1};
};

TEST(WaitList, NotifyWakesTheOldestWaiterAndTheOthersTimeOut) {
  asio::io_context io;
  testing::VirtualTime time(io);
  const auto start = time.steady_now();
  WaitList list;
  Waiter a, b, c;
  auto wait = [&](Waiter& w, std::chrono::milliseconds timeout) -> asio::awaitable<void> {
    auto ticket = list.park();
    w.woken = co_await ticket.wait_for(timeout, time);
    w.at = std::chrono::duration_cast<std::chrono::milliseconds>(time.steady_now() - start);
  };
  asio::co_spawn(io, wait(a, 50ms), asio::detached);
  asio::co_spawn(io, wait(b, 50ms), asio::detached);
  asio::co_spawn(io, wait(c, 10ms), asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await time.sleep_for(20ms);
        EXPECT_EQ(list.waiting(), 2u) << "c timed out at 10 ms and left the line";
        EXPECT_TRUE(list.notify_one());  // a: the oldest still waiting
      },
      asio::detached);
  time.run_until(start + 1h);
  EXPECT_EQ(c.woken, false);
  EXPECT_EQ(c.at, 10ms);
  EXPECT_EQ(a.woken, true);
  EXPECT_EQ(a.at, 20ms);
  EXPECT_EQ(b.woken, false);
  EXPECT_EQ(b.at, 50ms);
  EXPECT_EQ(list.waiting(), 0u);
  EXPECT_FALSE(list.notify_one()) << "nobody left to wake";
}

/// A Sleeper whose every wait "times out", with a notify landing in the same instant — the race
/// the HTTP pool lost: the timer fired, and before the waiter took its lock, a connection came free.
class TimeoutRacedByNotify final : public Sleeper {
 public:
  explicit TimeoutRacedByNotify(WaitList& list) : list_(list) {}
  asio::awaitable<bool> sleep_for(std::chrono::nanoseconds, CancelToken*) override {
    list_.notify_one();
    co_return true;  // "the full duration passed"
  }

 private:
  WaitList& list_;
};

TEST(WaitList, ARacingNotifyGoesToTheOldestWaiterStillWaiting) {
  asio::io_context io;
  WaitList list;
  TimeoutRacedByNotify racing(list);
  std::optional<bool> first;
  auto second = list.park();
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto ticket = list.park();
        first = co_await ticket.wait_for(10ms, racing);
      },
      asio::detached);
  io.run();
  // The notify picked the oldest waiter (`second`, parked first), not the one timing out: the
  // wake-up stays with a live waiter.
  EXPECT_EQ(first, false);
  EXPECT_TRUE(second.notified());
}

TEST(WaitList, TheOneTimingOutAtTheFrontTakesTheWakeUpInsteadOfDroppingIt) {
  asio::io_context io;
  WaitList list;
  TimeoutRacedByNotify racing(list);
  std::optional<bool> first;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        auto ticket = list.park();
        auto behind = list.park();  // parked after: the notify goes to `ticket`
        first = co_await ticket.wait_for(10ms, racing);
        EXPECT_FALSE(behind.notified()) << "one wake-up, one waiter served";
      },
      asio::detached);
  io.run();
  // Before WaitList the pool's waiter returned "timed out" here and the free connection waited
  // for the next release or the next waiter's deadline.
  EXPECT_EQ(first, true);
  EXPECT_EQ(list.waiting(), 0u);
}

TEST(WaitList, ANotifiedTicketDestroyedBeforeTakingItPassesTheWakeUpOn) {
  WaitList line;
  std::optional<WaitList::Ticket> a(line.park());
  auto b = line.park();
  ASSERT_TRUE(line.notify_one());
  EXPECT_TRUE(a->notified());
  EXPECT_FALSE(b.notified());
  a.reset();  // its coroutine is gone before it took the wake-up
  EXPECT_TRUE(b.notified()) << "passed on";
  EXPECT_EQ(line.waiting(), 0u);
}

TEST(WaitList, ACoroutineDestroyedWhileParkedLeavesNothingBehind) {
  WaitList list;
  AsioSleeper real;
  {
    asio::io_context io;
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto ticket = list.park();
          (void)co_await ticket.wait_for(1h, real);
          ADD_FAILURE() << "never resumes: its io_context is destroyed first";
        },
        asio::detached);
    io.poll();
    EXPECT_EQ(list.waiting(), 1u);
  }  // the io_context and the suspended coroutine's frame go; the ticket leaves the line
  EXPECT_EQ(list.waiting(), 0u);
  EXPECT_FALSE(list.notify_one());
}

TEST(WaitList, CloseReleasesEveryoneAndLaterWaitsReturnAtOnce) {
  asio::io_context io;
  testing::VirtualTime time(io);
  const auto start = time.steady_now();
  WaitList list;
  int woken = 0;
  for (int i = 0; i < 3; ++i) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          auto ticket = list.park();
          if (co_await ticket.wait_for(1h, time)) ++woken;
        },
        asio::detached);
  }
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await time.sleep_for(5ms);
        list.close();
      },
      asio::detached);
  time.run_until(start + 2h);
  EXPECT_EQ(woken, 3);
  EXPECT_EQ(time.steady_now() - start, 5ms) << "nobody waited for the hour";
  EXPECT_TRUE(list.closed());
  auto late = list.park();
  EXPECT_TRUE(late.notified());
  EXPECT_EQ(list.waiting(), 0u);
}

}  // namespace
}  // namespace svckit
