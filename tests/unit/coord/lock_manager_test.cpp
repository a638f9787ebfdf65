// LockManager over the memory backend, in virtual time: waits, leases, the watchdog, loss
// notification, shared/exclusive with writers first, reentrancy, sorted multi-locking.
#include "svckit/coord/lock_manager.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "svckit/coord/memory_lock_backend.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/virtual_time.hpp"

namespace svckit::coord {
namespace {

using namespace std::chrono_literals;

const std::string kCart{"cart"};
const std::string kDoc{"doc"};
const std::string kEmpty{""};
const std::string kHasSpace{"has space"};
const std::string kJob{"job"};
const std::string kLong{"long"};
const std::string kOk{"ok"};
const std::string kOrders1{"orders:1"};
const std::string kReport{"report"};
const std::string kShort{"short"};
const std::string kX{"x"};

/// Forwards to the memory backend; extend() can be made to fail.
class FlakyBackend final : public LockBackend {
 public:
  explicit FlakyBackend(std::shared_ptr<MemoryLockBackend> inner) : inner_(std::move(inner)) {}
  std::string kind() const override { return "flaky"; }
  Awaitable<Result<HeldLock>> acquire(AcquireRequest r) override { co_return co_await inner_->acquire(std::move(r)); }
  Awaitable<Result<void>> extend(const HeldLock& held, std::chrono::milliseconds lease) override {
    ++extends;
    if (failing) co_return make_error(*failing, "injected");
    co_return co_await inner_->extend(held, lease);
  }
  Awaitable<Result<void>> release(const HeldLock& held) override { co_return co_await inner_->release(held); }

  std::optional<ErrorCode> failing;
  int extends = 0;

 private:
  std::shared_ptr<MemoryLockBackend> inner_;
};

/// The lock, or an empty handle and a test failure.
Awaitable<Lock> must_acquire(LockManager& locks, const std::string& name, LockOptions options) {
  auto lock = co_await locks.acquire(name, std::move(options));
  EXPECT_TRUE(lock) << name << ": " << (lock ? "" : lock.error().message);
  if (!lock) co_return Lock{};
  co_return std::move(*lock);
}
Awaitable<Lock> must_acquire(LockManager& locks, const std::string& name) {
  const LockOptions defaults;
  co_return co_await must_acquire(locks, name, defaults);
}

class LockManagerTest : public ::testing::Test {
 protected:
  std::unique_ptr<LockManager> manager(std::shared_ptr<LockBackend> b = nullptr) {
    return std::make_unique<LockManager>(b ? b : backend, io.get_executor(), time, time, random, &metrics);
  }
  /// Runs `body` as a coroutine and the virtual clock until `for_how_long` passed.
  template <class F>
  void run(F body, std::chrono::nanoseconds for_how_long) {
    boost::asio::co_spawn(io, std::move(body), boost::asio::detached);
    time.run_until(time.steady_now() + for_how_long);
  }
  void advance(std::chrono::nanoseconds d) { time.run_until(time.steady_now() + d); }
  std::chrono::milliseconds since(SteadyTime t) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(time.steady_now() - t);
  }

  boost::asio::io_context io;
  testing::VirtualTime time{io};
  testing::FakeRandom random;
  MetricsRegistry metrics;
  std::shared_ptr<MemoryLockBackend> backend = std::make_shared<MemoryLockBackend>(time, time);
};

TEST_F(LockManagerTest, AHeldLockMakesATryFailAndAWaiterGetsItWhenReleasedWithAHigherToken) {
  auto locks = manager();
  std::optional<Lock> a;
  run([&]() -> Awaitable<void> { a.emplace(co_await must_acquire(*locks, kOrders1)); }, 1ms);
  ASSERT_TRUE(a && a->held());
  EXPECT_EQ(a->fencing_token(), 1u);

  std::optional<Result<Lock>> tried;
  run([&]() -> Awaitable<void> { tried.emplace(co_await locks->acquire(kOrders1)); }, 1ms);
  ASSERT_TRUE(tried && !*tried);
  EXPECT_EQ((*tried).error().code, ErrorCode::limit_exceeded);

  std::optional<Result<Lock>> waited;
  const auto start = time.steady_now();
  SteadyTime got_at{};
  run(
      [&]() -> Awaitable<void> {
        LockOptions o;
        o.wait = 10s;
        waited.emplace(co_await locks->acquire(kOrders1, o));
        got_at = time.steady_now();
      },
      2s);
  EXPECT_FALSE(waited.has_value()) << "still waiting while held";
  run([&]() -> Awaitable<void> { EXPECT_TRUE(co_await a->release()); }, 1s);
  ASSERT_TRUE(waited && *waited);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(got_at - start), 2000ms)
      << "woken by the release, not by polling";
  EXPECT_EQ((**waited).fencing_token(), 2u) << "the failed try drew no token; the waiter's is next";
  EXPECT_FALSE(a->held());
  EXPECT_EQ(locks->stats().acquired, 2u);
  EXPECT_EQ(locks->stats().contended, 2u);
  EXPECT_NE(metrics.render_prometheus().find("svckit_lock_contended_total{backend=\"memory\"} 2"), std::string::npos);
}

TEST_F(LockManagerTest, AWaitRunsOutAsATimeoutAndACancelledWaitEndsAtOnce) {
  auto locks = manager();
  std::optional<Lock> a;
  run([&]() -> Awaitable<void> { a.emplace(co_await must_acquire(*locks, kJob)); }, 1ms);
  std::optional<Result<Lock>> waited;
  const auto start = time.steady_now();
  SteadyTime ended{};
  run(
      [&]() -> Awaitable<void> {
        LockOptions o;
        o.wait = 3s;
        waited.emplace(co_await locks->acquire(kJob, o));
        ended = time.steady_now();
      },
      10s);
  ASSERT_TRUE(waited && !*waited);
  EXPECT_EQ(waited->error().code, ErrorCode::timeout);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(ended - start), 3000ms);

  auto cancel = std::make_shared<CancelToken>();
  std::optional<Result<Lock>> cancelled;
  run(
      [&]() -> Awaitable<void> {
        LockOptions o;
        o.wait = 1h;
        o.cancel = cancel;
        cancelled.emplace(co_await locks->acquire(kJob, o));
      },
      1s);
  EXPECT_FALSE(cancelled.has_value());
  cancel->cancel();
  advance(1ms);
  ASSERT_TRUE(cancelled && !*cancelled);
  EXPECT_EQ(cancelled->error().code, ErrorCode::cancelled);
}

TEST_F(LockManagerTest, TheWatchdogKeepsALongHolderAndALeaseWithoutOneLapsesAfterTellingItsHolder) {
  auto locks = manager();
  std::optional<Lock> renewed;
  run(
      [&]() -> Awaitable<void> {
        LockOptions o;
        o.lease = 3s;
        renewed.emplace(co_await must_acquire(*locks, kLong, o));
      },
      1ms);
  std::optional<Result<Lock>> other;
  run(
      [&]() -> Awaitable<void> {
        LockOptions o;
        o.wait = 60s;
        other.emplace(co_await locks->acquire(kLong, o));
      },
      61s);
  ASSERT_TRUE(other && !*other) << "a 3 s lease held for a minute by renewals";
  EXPECT_EQ(other->error().code, ErrorCode::timeout);
  EXPECT_TRUE(renewed->held());
  EXPECT_GE(locks->stats().renewals, 60u) << "every lease/3 = 1 s";
  EXPECT_EQ(locks->stats().lost, 0u);

  std::optional<Lock> lapsing;
  std::vector<std::string> told;
  const auto start = time.steady_now();
  SteadyTime lost_at{};
  run(
      [&]() -> Awaitable<void> {
        LockOptions o;
        o.lease = 10s;
        o.watchdog = false;
        o.on_lost = [&](const std::string& name) {
          told.push_back(name);
          lost_at = time.steady_now();
        };
        lapsing.emplace(co_await must_acquire(*locks, kShort, o));
      },
      1ms);
  std::optional<Result<Lock>> next;
  SteadyTime next_at{};
  run(
      [&]() -> Awaitable<void> {
        LockOptions o;
        o.wait = 60s;
        next.emplace(co_await locks->acquire(kShort, o));
        next_at = time.steady_now();
      },
      20s);
  ASSERT_EQ(told, std::vector<std::string>{"short"});
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(lost_at - start), 9000ms)
      << "told lease/10 before the lease lapses";
  EXPECT_TRUE(lapsing->lost()->cancelled());
  EXPECT_FALSE(lapsing->held());
  ASSERT_TRUE(next && *next);
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::milliseconds>(next_at - start), 10000ms);
  EXPECT_GT((**next).fencing_token(), lapsing->fencing_token());
  std::optional<Result<void>> late;
  run([&]() -> Awaitable<void> { late.emplace(co_await lapsing->release()); }, 1ms);
  ASSERT_TRUE(late && !*late);
  EXPECT_EQ(late->error().code, ErrorCode::not_found) << "the holder learns its section was not protected";
  EXPECT_TRUE((**next).held()) << "a late release does not take the new holder's lock";
}

TEST_F(LockManagerTest, FailingRenewalsKeepTheLockUntilTheLeaseIsAboutToLapseAndARefusedOneLosesItAtOnce) {
  auto flaky = std::make_shared<FlakyBackend>(backend);
  auto locks = manager(flaky);
  std::optional<Lock> a;
  run(
      [&]() -> Awaitable<void> {
        LockOptions o;
        o.lease = 30s;
        a.emplace(co_await must_acquire(*locks, kX, o));
      },
      1ms);
  const auto start = time.steady_now();
  flaky->failing = ErrorCode::unavailable;
  advance(26s);
  EXPECT_TRUE(a->held()) << "renewals failing since 10 s, lease confirmed until 30 s";
  EXPECT_GE(locks->stats().renewals_failed, 4u);
  advance(1100ms);
  EXPECT_FALSE(a->held()) << "lost at 27 s = lease - lease/10";
  EXPECT_TRUE(a->lost()->cancelled());
  EXPECT_LE(since(start), 27100ms);

  flaky->failing = ErrorCode::not_found;
  std::optional<Lock> b;
  run(
      [&]() -> Awaitable<void> {
        LockOptions o;
        o.lease = 30s;
        o.wait = 10s;
        b.emplace(co_await must_acquire(*locks, kX, o));
      },
      5s);
  ASSERT_TRUE(b && b->held());
  advance(6s);
  EXPECT_FALSE(b->held()) << "the first renewal (at 10 s) was refused: lost at once";
  EXPECT_EQ(locks->stats().lost, 2u);
}

TEST_F(LockManagerTest, ReadersShareAndAWaitingWriterStopsNewReaders) {
  auto locks = manager();
  LockOptions read;
  read.mode = LockMode::shared;
  read.wait = 1min;
  LockOptions write;
  write.wait = 1min;
  std::vector<Lock> readers;
  std::vector<std::string> order;
  run(
      [&]() -> Awaitable<void> {
        for (int i = 0; i < 3; ++i) readers.push_back(co_await must_acquire(*locks, kDoc, read));
      },
      1ms);
  EXPECT_EQ(backend->holders("doc"), 3u);
  std::optional<Lock> writer;
  run(
      [&]() -> Awaitable<void> {
        writer.emplace(co_await must_acquire(*locks, kDoc, write));
        order.push_back("writer");
      },
      1s);
  std::optional<Lock> late_reader;
  run(
      [&]() -> Awaitable<void> {
        late_reader.emplace(co_await must_acquire(*locks, kDoc, read));
        order.push_back("late reader");
      },
      1s);
  EXPECT_TRUE(order.empty()) << "the writer waits for the readers, the late reader for the writer";
  run(
      [&]() -> Awaitable<void> {
        for (auto& r : readers) (void)co_await r.release();
      },
      1s);
  ASSERT_EQ(order, std::vector<std::string>{"writer"});
  EXPECT_EQ(writer->mode(), LockMode::exclusive);
  run([&]() -> Awaitable<void> { (void)co_await writer->release(); }, 1s);
  ASSERT_EQ(order, (std::vector<std::string>{"writer", "late reader"}));
  EXPECT_GT(late_reader->fencing_token(), writer->fencing_token());
}

TEST_F(LockManagerTest, AReentrantOwnerHoldsOneBackendLockWithACount) {
  auto locks = manager();
  LockOptions mine;
  mine.reentrant_owner = "request-7";
  std::vector<Lock> held;
  std::optional<Result<Lock>> other, upgrade;
  run(
      [&]() -> Awaitable<void> {
        held.push_back(co_await must_acquire(*locks, kCart, mine));
        held.push_back(co_await must_acquire(*locks, kCart, mine));
        other.emplace(co_await locks->acquire(kCart));
      },
      1ms);
  ASSERT_EQ(held.size(), 2u);
  EXPECT_EQ(held[0].fencing_token(), held[1].fencing_token());
  EXPECT_EQ(held[1].hold_count(), 2u);
  ASSERT_TRUE(other && !*other) << "another owner cannot take it";
  run([&]() -> Awaitable<void> { EXPECT_TRUE(co_await held[1].release()); }, 1ms);
  EXPECT_TRUE(held[0].held());
  EXPECT_EQ(backend->holders("cart"), 1u);
  run([&]() -> Awaitable<void> { EXPECT_TRUE(co_await held[0].release()); }, 1ms);
  EXPECT_EQ(backend->holders("cart"), 0u);

  LockOptions shared = mine;
  shared.mode = LockMode::shared;
  std::optional<Lock> reader;
  run(
      [&]() -> Awaitable<void> {
        reader.emplace(co_await must_acquire(*locks, kCart, shared));
        upgrade.emplace(co_await locks->acquire(kCart, mine));
      },
      1ms);
  ASSERT_TRUE(upgrade && !*upgrade);
  EXPECT_EQ(upgrade->error().field, "mode");
}

TEST_F(LockManagerTest, LockingSeveralNamesInSortedOrderCannotDeadlock) {
  auto one = manager();
  auto two = manager();
  LockOptions o;
  o.wait = 1min;
  int done = 0;
  for (auto* locks : {one.get(), two.get()}) {
    const std::vector<std::string> names =
        locks == one.get() ? std::vector<std::string>{"b", "a", "b"} : std::vector<std::string>{"a", "b"};
    boost::asio::co_spawn(
        io,
        [&, locks, names]() -> Awaitable<void> {
          auto all = co_await locks->acquire_all(names, o);
          EXPECT_TRUE(all);
          if (!all) co_return;
          EXPECT_EQ(all->size(), 2u);
          EXPECT_EQ((*all)[0].name(), "a");
          co_await time.sleep_for(1s);
          ++done;
        },
        boost::asio::detached);
  }
  advance(5s);
  EXPECT_EQ(done, 2) << "one after the other";
  EXPECT_EQ(backend->holders("a"), 0u) << "dropped Lock handles release in the background";
}

TEST_F(LockManagerTest, WithLockRunsTheBodyHoldingTheLockAndReleasesIt) {
  auto locks = manager();
  bool held_inside = false;
  const LockOptions defaults;
  std::optional<Result<void>> result;
  run(
      [&]() -> Awaitable<void> {
        result.emplace(co_await locks->with_lock(kReport, defaults, [&](const Lock& lock) -> Awaitable<Result<void>> {
          held_inside = lock.held() && backend->holders("report") == 1;
          co_return Result<void>{};
        }));
      },
      1ms);
  ASSERT_TRUE(result && *result);
  EXPECT_TRUE(held_inside);
  EXPECT_EQ(backend->holders("report"), 0u);
}

TEST_F(LockManagerTest, BadNamesAndLeasesAreRefusedNamingTheField) {
  auto locks = manager();
  std::vector<std::string> fields;
  run(
      [&]() -> Awaitable<void> {
        fields.push_back((co_await locks->acquire(kEmpty)).error().field);
        fields.push_back((co_await locks->acquire(kHasSpace)).error().field);
        LockOptions o;
        o.lease = 0ms;
        fields.push_back((co_await locks->acquire(kOk, o)).error().field);
      },
      1ms);
  EXPECT_EQ(fields, (std::vector<std::string>{"name", "name", "lease"}));
}

}  // namespace
}  // namespace svckit::coord
