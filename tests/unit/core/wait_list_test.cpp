// WaitList: no waiter left behind on any exit, no wake-up lost in the race between a timeout and a
// notify, close() releases everyone. Virtual time (exact), one deterministic race double.
#include "svckit/core/wait_list.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

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

// Threads handing out units one at a time (as the connection pool does: park and notify under
// its own lock) and threads taking them: notify_one() skips its lock when nobody is parked, and no
// wake-up is lost for it — every taker gets all its units, none waits forever.
TEST(WaitList, UnitsHandedOutFromManyThreadsReachEveryWaiter) {
  constexpr int kTakers = 4, kTakesEach = 2'000, kGivers = 2;
  constexpr int kGivesEach = kTakers * kTakesEach / kGivers;
  WaitList list;
  std::mutex mutex;
  int free_units = 0;  // guarded by mutex
  std::atomic<bool> lost{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kTakers; ++t) {
    threads.emplace_back([&] {
      for (int taken = 0; taken < kTakesEach && !lost;) {
        std::optional<WaitList::Ticket> ticket;
        {
          std::lock_guard lock(mutex);
          if (free_units > 0) {
            --free_units;
            ++taken;
            continue;
          }
          ticket.emplace(list.park());
        }
        const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (!ticket->notified()) {
          if (std::chrono::steady_clock::now() > give_up) {
            lost = true;  // a unit was handed out and this waiter never heard of it
            break;
          }
          std::this_thread::yield();
        }
      }
    });
  }
  for (int g = 0; g < kGivers; ++g) {
    threads.emplace_back([&] {
      for (int i = 0; i < kGivesEach; ++i) {
        std::lock_guard lock(mutex);
        ++free_units;
        list.notify_one();
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_FALSE(lost) << "a wake-up was lost";
  EXPECT_EQ(free_units, 0);
  EXPECT_EQ(list.waiting(), 0U);
}

}  // namespace
}  // namespace svckit
