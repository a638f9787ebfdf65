// Periodic tasks: cron and interval schedules (fire times computed exactly, UTC), and schedulers
// running in virtual time against a MemoryTaskQueue — one per replica, each fire enqueued once.
#include "svckit/queue/periodic.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/virtual_time.hpp"

namespace svckit::queue {
namespace {

using namespace std::chrono_literals;
using std::chrono::sys_days;

SystemTime at(std::chrono::year_month_day date, int hour, int minute, int second = 0) {
  return SystemTime(
      std::chrono::duration_cast<SystemTime::duration>(sys_days(date).time_since_epoch() + std::chrono::hours(hour) +
                                                       std::chrono::minutes(minute) + std::chrono::seconds(second)));
}

constexpr auto kDec2 = std::chrono::year(2026) / 12 / 2;  // a Wednesday

SystemTime next(std::string_view cron, SystemTime from) {
  auto schedule = Schedule::cron(cron);
  EXPECT_TRUE(schedule) << cron << ": " << schedule.error().message;
  return schedule ? schedule->next_after(from) : SystemTime{};
}

TEST(Schedule, CronFieldsStepsRangesAndListsGiveTheNextFireStrictlyAfter) {
  EXPECT_EQ(next("*/15 * * * *", at(kDec2, 10, 7, 30)), at(kDec2, 10, 15));
  EXPECT_EQ(next("*/15 * * * *", at(kDec2, 10, 15)), at(kDec2, 10, 30)) << "strictly after";
  EXPECT_EQ(next("30 2 * * *", at(kDec2, 2, 30)), at(std::chrono::year(2026) / 12 / 3, 2, 30));
  EXPECT_EQ(next("5,35 8-9 * * *", at(kDec2, 8, 36)), at(kDec2, 9, 5));
  EXPECT_EQ(next("10-50/20 * * * *", at(kDec2, 0, 31)), at(kDec2, 0, 50));
  EXPECT_EQ(next("20/20 * * * *", at(kDec2, 0, 41)), at(kDec2, 1, 20)) << "a/s: from a to the end";
  // weekdays: from Friday evening to Monday morning
  EXPECT_EQ(next("0 9 * * 1-5", at(std::chrono::year(2026) / 12 / 4, 18, 0)),
            at(std::chrono::year(2026) / 12 / 7, 9, 0));
  EXPECT_EQ(next("0 12 * * 7", at(kDec2, 0, 0)), at(std::chrono::year(2026) / 12 / 6, 12, 0)) << "7 is Sunday";
  // both day fields restricted: either matches (the 13th, or a Friday)
  EXPECT_EQ(next("0 0 13 * 5", at(kDec2, 1, 0)), at(std::chrono::year(2026) / 12 / 4, 0, 0));
  EXPECT_EQ(next("0 0 13 * 5", at(std::chrono::year(2026) / 12 / 11, 1, 0)),
            at(std::chrono::year(2026) / 12 / 13, 0, 0));
  // months and leap days
  EXPECT_EQ(next("0 0 1 */6 *", at(kDec2, 0, 0)), at(std::chrono::year(2027) / 1 / 1, 0, 0));
  EXPECT_EQ(next("0 0 29 2 *", at(kDec2, 0, 0)), at(std::chrono::year(2028) / 2 / 29, 0, 0));
}

TEST(Schedule, BadCronExpressionsAreRefusedNamingThePart) {
  for (const auto* bad : {"* * * *", "61 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "5-1 * * * *",
                          "*/0 * * * *", "a * * * *", "1,,2 * * * *", "0 0 30 2 *"}) {
    auto s = Schedule::cron(bad);
    ASSERT_FALSE(s) << bad;
    EXPECT_EQ(s.error().field, "cron") << bad;
  }
  EXPECT_NE(Schedule::cron("61 * * * *").error().message.find("minute"), std::string::npos);
  EXPECT_NE(Schedule::cron("* * * * 8").error().message.find("day-of-week"), std::string::npos);
  EXPECT_NE(Schedule::cron("0 0 30 2 *").error().message.find("never fires"), std::string::npos);
  EXPECT_EQ(Schedule::every(0ms).error().field, "interval");
}

TEST(Schedule, IntervalsAreAlignedToTheEpoch) {
  auto hourly = Schedule::every(1h);
  ASSERT_TRUE(hourly);
  EXPECT_EQ(hourly->next_after(at(kDec2, 10, 7, 30)), at(kDec2, 11, 0));
  EXPECT_EQ(hourly->next_after(at(kDec2, 11, 0)), at(kDec2, 12, 0));
}

class PeriodicSchedulerTest : public ::testing::Test {
 protected:
  static TaskSpec report() {
    TaskSpec s;
    s.name = "report";
    return s;
  }
  /// Runs the schedulers for `how_long` of virtual time.
  void run_for(std::vector<PeriodicScheduler*> schedulers, std::chrono::nanoseconds how_long) {
    // One stop token per scheduler: a CancelToken holds one waiter's hook.
    std::vector<std::unique_ptr<CancelToken>> stops;
    for (auto* s : schedulers) {
      stops.push_back(std::make_unique<CancelToken>());
      boost::asio::co_spawn(io, s->run(*stops.back()), boost::asio::detached);
    }
    time.run_until(time.steady_now() + how_long);
    for (auto& stop : stops) stop->cancel();
    time.run_until(time.steady_now() + 1s);
  }
  std::size_t pending() {
    std::size_t n = 0;
    boost::asio::co_spawn(
        io,
        [&]() -> Awaitable<void> {
          auto counts = co_await queue.counts("default");
          n = (*counts)[TaskState::pending];
        },
        boost::asio::detached);
    io.restart();
    io.run();
    return n;
  }

  boost::asio::io_context io;
  testing::VirtualTime time{io};
  testing::FakeRandom random;
  MemoryTaskQueue queue{time, random};
};

TEST_F(PeriodicSchedulerTest, EachFireIsEnqueuedAtItsTimeWithItsFireAsUniqueKey) {
  PeriodicScheduler scheduler(queue, time, time);
  ASSERT_TRUE(scheduler.add({"report", *Schedule::every(10min), report()}));
  const auto start = time.system_now();  // 2026-01-01T00:00:00Z: the first fire is at 00:10
  EXPECT_EQ(*scheduler.next_fire("report"), start + 10min);
  run_for({&scheduler}, 61min);
  EXPECT_EQ(scheduler.stats().enqueued, 6u) << "00:10 .. 01:00";
  EXPECT_EQ(pending(), 6u);
  EXPECT_EQ(*scheduler.next_fire("report"), start + 70min);
}

TEST_F(PeriodicSchedulerTest, ReplicasRunningTheSameListEnqueueEachFireOnce) {
  PeriodicScheduler a(queue, time, time);
  PeriodicScheduler b(queue, time, time);
  auto cron = Schedule::cron("*/5 * * * *");
  ASSERT_TRUE(cron);
  ASSERT_TRUE(a.add({"sync", *cron, report()}));
  ASSERT_TRUE(b.add({"sync", *cron, report()}));
  run_for({&a, &b}, 30min);
  EXPECT_EQ(a.stats().enqueued + b.stats().enqueued, 6u);
  EXPECT_EQ(a.stats().duplicates + b.stats().duplicates, 6u) << "the other replica's attempt of each fire";
  EXPECT_EQ(pending(), 6u);
}

TEST_F(PeriodicSchedulerTest, BadPeriodicTasksAreRefusedNamingTheField) {
  PeriodicScheduler scheduler(queue, time, time);
  EXPECT_EQ(scheduler.add({"has space", *Schedule::every(1h), report()}).error().field, "name");
  ASSERT_TRUE(scheduler.add({"r", *Schedule::every(1h), report()}));
  EXPECT_EQ(scheduler.add({"r", *Schedule::every(1h), report()}).error().field, "name") << "names are unique";
  auto keyed = report();
  keyed.unique_key = "mine";
  keyed.unique_for = 1s;
  EXPECT_EQ(scheduler.add({"k", *Schedule::every(1h), keyed}).error().field, "spec.unique_key");
  auto bad = report();
  bad.queue = "no spaces";
  EXPECT_EQ(scheduler.add({"q", *Schedule::every(1h), bad}).error().field, "spec.queue");
}

}  // namespace
}  // namespace svckit::queue
