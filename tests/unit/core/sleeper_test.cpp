// AsioSleeper and WakeableWait (real time, generous bounds: only "returns early" is asserted) and
// VirtualTime (exact).
#include "svckit/core/sleeper.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <thread>

#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/virtual_time.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

TEST(WakeableWait, AWakeBeforeTheWaitIsNotLost) {
  testing::IoThread io;
  const WakeableWait wait(io.executor());
  wait.wake();
  const auto started = std::chrono::steady_clock::now();
  const bool woken = io.run([&] { return wait.wait_until(std::chrono::steady_clock::now() + 60s); });
  EXPECT_TRUE(woken);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 30s);
}

TEST(WakeableWait, WakeFromAnotherThreadEndsTheWaitAndExpiryReportsNotWoken) {
  testing::IoThread io;
  const WakeableWait wait(io.executor());
  std::thread waker([&] { wait.wake(); });
  EXPECT_TRUE(io.run([&] { return wait.wait_until(std::chrono::steady_clock::now() + 60s); }));
  waker.join();
  const WakeableWait idle(io.executor());
  EXPECT_FALSE(io.run([&] { return idle.wait_until(std::chrono::steady_clock::now() + 1ms); }));
}

TEST(AsioSleeper, CancelEndsTheSleepAndSaysSo) {
  testing::IoThread io;
  AsioSleeper sleeper;
  CancelToken cancel;
  std::thread canceller([&] { cancel.cancel(); });
  const bool full = io.run([&] { return sleeper.sleep_for(60s, &cancel); });
  canceller.join();
  EXPECT_FALSE(full);
  EXPECT_TRUE(io.run([&] { return sleeper.sleep_for(1ms); }));
}

TEST(VirtualTime, SleepersWakeInTimeOrderWithoutWallClockTime) {
  asio::io_context io;
  testing::VirtualTime time(io);
  const auto start = time.steady_now();
  std::vector<std::pair<int, std::chrono::milliseconds>> woke;
  CancelToken cancel;
  const auto sleeper = [&](int id, std::chrono::milliseconds d, CancelToken* c) -> asio::awaitable<void> {
    const bool full = co_await time.sleep_for(d, c);
    woke.emplace_back(full ? id : -id,
                      std::chrono::duration_cast<std::chrono::milliseconds>(time.steady_now() - start));
  };
  asio::co_spawn(io, sleeper(1, 3h, nullptr), asio::detached);
  asio::co_spawn(io, sleeper(2, 10ms, nullptr), asio::detached);
  asio::co_spawn(io, sleeper(3, 10ms, nullptr), asio::detached);  // same time: in the order asked
  asio::co_spawn(io, sleeper(4, 1h, &cancel), asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await time.sleep_for(20ms);
        cancel.cancel();
      },
      asio::detached);
  const auto wall = std::chrono::steady_clock::now();
  time.run_until(start + 24h);
  EXPECT_LT(std::chrono::steady_clock::now() - wall, 10s);
  const std::vector<std::pair<int, std::chrono::milliseconds>> expected{{2, 10ms}, {3, 10ms}, {-4, 20ms}, {1, 3h}};
  EXPECT_EQ(woke, expected);
  EXPECT_EQ(time.sleepers(), 0u);
}

}  // namespace
}  // namespace svckit
