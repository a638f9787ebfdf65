// Distributed locks against real servers: Redis and etcd (one node, and a 3-node cluster that
// loses its leader). Worker processes (tests/tools/lock_worker.cpp) compete for one name and
// protect a shared counter with nothing but the lock; a SIGSTOPped holder's late write must be
// refused by the fencing check.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <sstream>

#include "svckit/coord/lock_backend_url.hpp"
#include "svckit/coord/lock_manager.hpp"
#include "svckit/coord/redis_lock_backend.hpp"
#include "svckit/http/client.hpp"
#include "svckit/redis/redis_client.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/servers.hpp"

namespace svckit::coord {
namespace {

using namespace std::chrono_literals;
using testing::ChildProcess;
using testing::read_file;
using testing::wait_until;

std::vector<std::uint64_t> lines_as_numbers(const std::string& text) {
  std::vector<std::uint64_t> out;
  std::istringstream in(text);
  std::uint64_t n = 0;
  while (in >> n) out.push_back(n);
  return out;
}

class LockTest : public ::testing::Test {
 protected:
  void TearDown() override { io.stop(); }

  ChildProcess worker(const std::vector<std::string>& args, const std::string& log) {
    std::vector<std::string> argv{LOCK_WORKER_BIN};
    argv.insert(argv.end(), args.begin(), args.end());
    auto child = ChildProcess::spawn(argv, dir.path() / log);
    EXPECT_TRUE(child) << child.error().message;
    return child ? std::move(*child) : ChildProcess{};
  }

  /// `processes` workers × `each` increments of one counter under the lock: no update lost and
  /// the fencing tokens, in the order the holders wrote them, strictly increase.
  void count_under_the_lock(const std::string& url, int processes, int each, int lease_ms,
                            const std::function<void()>& meanwhile = {}) {
    std::vector<ChildProcess> workers;
    for (int i = 0; i < processes; ++i) {
      workers.push_back(
          worker({url, "counter", "count", dir.path().string(), std::to_string(each), std::to_string(lease_ms)},
                 "count-" + std::to_string(i) + ".log"));
    }
    if (meanwhile) meanwhile();
    for (int i = 0; i < processes; ++i) {
      const int status = workers[static_cast<std::size_t>(i)].wait_exit(180s);
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
          << "worker " << i << " status " << status << ":\n"
          << read_file(dir.path() / ("count-" + std::to_string(i) + ".log"));
    }
    EXPECT_EQ(read_file(dir.path() / "counter"), std::to_string(processes * each) + "\n") << "an update was lost";
    const auto tokens = lines_as_numbers(read_file(dir.path() / "tokens"));
    ASSERT_EQ(tokens.size(), static_cast<std::size_t>(processes * each));
    for (std::size_t i = 1; i < tokens.size(); ++i) {
      ASSERT_LT(tokens[i - 1], tokens[i]) << "fencing tokens must strictly increase (entry " << i << ")";
    }
  }

  /// A holds the lock and is SIGSTOPped past its lease; B takes the lock and writes the fenced
  /// resource; A, resumed, is refused by the resource and learns it lost the lock.
  void paused_holder_is_fenced_off(const std::string& url) {
    auto a = worker({url, "fenced", "fenced", dir.path().string(), "1000", "2500", "A"}, "a.log");
    ASSERT_TRUE(wait_until([&] { return read_file(dir.path() / "a.log").find("acquired") != std::string::npos; }, 30s))
        << read_file(dir.path() / "a.log");
    ASSERT_EQ(::kill(a.pid(), SIGSTOP), 0);
    auto b = worker({url, "fenced", "fenced", dir.path().string(), "1000", "0", "B"}, "b.log");
    const bool b_wrote =
        wait_until([&] { return read_file(dir.path() / "b.log").find("written") != std::string::npos; }, 30s);
    ::kill(a.pid(), SIGCONT);
    ASSERT_TRUE(b_wrote) << "B never got the lock of a stopped holder:\n" << read_file(dir.path() / "b.log");
    EXPECT_EQ(b.wait_exit(30s), 0);
    EXPECT_EQ(a.wait_exit(30s), 0);
    const auto a_log = read_file(dir.path() / "a.log");
    const auto b_log = read_file(dir.path() / "b.log");
    const auto token_a = std::stoull(a_log.substr(a_log.find("acquired ") + 9));
    const auto token_b = std::stoull(b_log.substr(b_log.find("acquired ") + 9));
    EXPECT_LT(token_a, token_b);
    EXPECT_NE(a_log.find("rejected " + std::to_string(token_a) + " highest " + std::to_string(token_b)),
              std::string::npos)
        << a_log;
    EXPECT_NE(a_log.find("lost"), std::string::npos) << "A must be told it lost the lock:\n" << a_log;
    EXPECT_EQ(read_file(dir.path() / "resource"), std::to_string(token_b) + " B\n");
  }

  std::unique_ptr<LockManager> manager(const std::string& url) {
    auto backend = connect_lock_backend(url, io.executor(), time, sleeper);
    EXPECT_TRUE(backend) << backend.error().message;
    return std::make_unique<LockManager>(*backend, io.executor(), time, sleeper, random);
  }
  Result<Lock> acquire(LockManager& locks, const std::string& name, LockOptions options) {
    return io.run([&]() -> Awaitable<Result<Lock>> { co_return co_await locks.acquire(name, options); });
  }
  Result<void> release(Lock& lock) {
    return io.run([&]() -> Awaitable<Result<void>> { co_return co_await lock.release(); });
  }

  /// Shared and exclusive semantics and reentrancy, through two managers (two "processes").
  void read_write_and_reentrancy(const std::string& url) {
    auto one = manager(url);
    auto two = manager(url);
    LockOptions read;
    read.mode = LockMode::shared;
    auto r1 = acquire(*one, "doc", read);
    auto r2 = acquire(*two, "doc", read);
    ASSERT_TRUE(r1 && r2) << "readers share";
    LockOptions write;
    EXPECT_EQ(acquire(*two, "doc", write).error().code, ErrorCode::limit_exceeded) << "no writer while read";
    // A writer that waits stops new readers.
    write.wait = 20s;
    auto writer = std::async(std::launch::async, [&] { return acquire(*two, "doc", write); });
    ASSERT_TRUE(wait_until(
        [&] {
          auto probe = acquire(*one, "doc", read);
          if (probe) (void)release(*probe);
          return !probe;
        },
        10s))
        << "a waiting writer must stop new readers";
    ASSERT_TRUE(release(*r1));
    ASSERT_TRUE(release(*r2));
    auto w = writer.get();
    ASSERT_TRUE(w) << w.error().message;
    EXPECT_GT(w->fencing_token(), r2->fencing_token());
    EXPECT_EQ(acquire(*one, "doc", read).error().code, ErrorCode::limit_exceeded);
    ASSERT_TRUE(release(*w));

    LockOptions mine;
    mine.reentrant_owner = "job-1";
    auto first = acquire(*one, "job", mine);
    auto again = acquire(*one, "job", mine);
    ASSERT_TRUE(first && again);
    EXPECT_EQ(again->hold_count(), 2u);
    EXPECT_EQ(first->fencing_token(), again->fencing_token());
    EXPECT_FALSE(acquire(*two, "job", LockOptions{})) << "the other process waits for both holds";
    ASSERT_TRUE(release(*again));
    EXPECT_FALSE(acquire(*two, "job", LockOptions{}));
    ASSERT_TRUE(release(*first));
    EXPECT_TRUE(acquire(*two, "job", LockOptions{}));

    // Names that extend each other are different locks ("a/b" is not inside "a").
    auto leaf = acquire(*one, "tree/leaf", LockOptions{});
    ASSERT_TRUE(leaf);
    EXPECT_TRUE(acquire(*two, "tree", LockOptions{})) << "tree/leaf does not hold tree";
    EXPECT_FALSE(acquire(*two, "tree/leaf", LockOptions{}));
  }

  testing::TempDir dir;
  RealTimeSource time;
  AsioSleeper sleeper;
  testing::FakeRandom random;
  testing::IoThread io;
};

class RedisLockTest : public LockTest {
 protected:
  void SetUp() override {
    auto started = testing::start_redis(dir.path(), port);
    ASSERT_TRUE(started) << started.error().message;
    server = std::move(*started);
    url = "redis://127.0.0.1:" + std::to_string(port);
  }
  int port = 0;
  ChildProcess server;
  std::string url;
};

TEST_F(RedisLockTest, FourProcessesCountingUnderTheLockLoseNoUpdateAndTokensIncrease) {
  count_under_the_lock(url, 4, 50, 5000);
}

TEST_F(RedisLockTest, AHolderPausedPastItsLeaseLosesTheLockAndItsLateWriteIsFencedOff) {
  paused_holder_is_fenced_off(url);
}

TEST_F(RedisLockTest, SharedAndExclusiveAndReentrant) { read_write_and_reentrancy(url); }

TEST_F(RedisLockTest, TheWatchdogKeepsALongHolderPastManyLeases) {
  auto one = manager(url);
  auto two = manager(url);
  LockOptions short_lease;
  short_lease.lease = 600ms;
  auto held = acquire(*one, "long", short_lease);
  ASSERT_TRUE(held);
  LockOptions wait;
  wait.wait = 2500ms;
  auto other = acquire(*two, "long", wait);
  ASSERT_FALSE(other);
  EXPECT_EQ(other.error().code, ErrorCode::timeout);
  EXPECT_TRUE(held->held());
  EXPECT_GE(one->stats().renewals, 4u) << "renewed every 200 ms for 2.5 s";
  EXPECT_EQ(one->stats().lost, 0u);
  ASSERT_TRUE(release(*held));
}

TEST_F(RedisLockTest, AWaiterIsWokenByTheReleaseMessageNotByItsRecheck) {
  auto one = manager(url);
  auto two = manager(url + "?recheck=30s");
  auto held = acquire(*one, "wake", LockOptions{});
  ASSERT_TRUE(held);
  LockOptions wait;
  wait.wait = 20s;
  const auto start = std::chrono::steady_clock::now();
  auto waiter = std::async(std::launch::async, [&] { return acquire(*two, "wake", wait); });
  // The waiting writer's claim shows it is waiting (and subscribed: it subscribes first).
  redis::RedisOptions options;
  options.server = {"127.0.0.1", static_cast<std::uint16_t>(port), false};
  redis::RedisClient client(io.executor(), options);
  ASSERT_TRUE(wait_until(
      [&] {
        auto n = io.run([&]() -> Awaitable<Result<redis::Reply>> {
          auto args = redis::command_args("ZCARD", "svckit:lock:{wake}:writers");
          co_return co_await client.command(std::move(args));
        });
        return n && n->integer == 1;
      },
      10s));
  ASSERT_TRUE(release(*held));
  auto got = waiter.get();
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_LT(std::chrono::steady_clock::now() - start, 10s) << "the holder's lease and the recheck are 30 s";
  EXPECT_GT(got->fencing_token(), held->fencing_token());
}

TEST_F(RedisLockTest, BadUrlsAreRefusedNamingTheOption) {
  EXPECT_EQ(connect_lock_backend("redis://127.0.0.1:1?colour=blue", io.executor(), time, sleeper).error().field,
            "colour");
  EXPECT_EQ(connect_lock_backend("redis://127.0.0.1:1?recheck=soon", io.executor(), time, sleeper).error().field,
            "recheck");
  EXPECT_EQ(connect_lock_backend("etcd://127.0.0.1:1?prefix=x", io.executor(), time, sleeper).error().field, "prefix");
  EXPECT_EQ(connect_lock_backend("zookeeper://h:1", io.executor(), time, sleeper).error().field, "url");
  EXPECT_TRUE(connect_lock_backend("memory://", io.executor(), time, sleeper));
}

class EtcdLockTest : public LockTest {
 protected:
  void start_one() {
    auto started = testing::start_etcd(dir.path(), port);
    ASSERT_TRUE(started) << started.error().message;
    server = std::move(*started);
    url = "etcd://127.0.0.1:" + std::to_string(port);
  }
  int port = 0;
  ChildProcess server;
  std::string url;
};

TEST_F(EtcdLockTest, AHolderPausedPastItsLeaseLosesTheLockAndItsLateWriteIsFencedOff) {
  start_one();
  paused_holder_is_fenced_off(url);
}

TEST_F(EtcdLockTest, SharedAndExclusiveAndReentrant) {
  start_one();
  read_write_and_reentrancy(url);
}

TEST_F(EtcdLockTest, ThreeProcessesOnAThreeNodeClusterLoseNoUpdateWhenTheLeaderIsKilled) {
  auto cluster = testing::start_etcd_cluster(dir.path(), 3);
  ASSERT_TRUE(cluster) << cluster.error().message;
  bool killed = false;
  count_under_the_lock("etcd://" + cluster->endpoints + "?timeout=2s", 3, 40, 3000, [&] {
    // Once the contention is under way, kill the leader.
    ASSERT_TRUE(wait_until([&] { return lines_as_numbers(read_file(dir.path() / "tokens")).size() >= 15; }, 60s));
    const auto leader = testing::etcd_leader(*cluster);
    if (leader < cluster->nodes.size()) {
      cluster->members[leader].stop(SIGKILL);
      killed = true;
    }
  });
  EXPECT_TRUE(killed) << "no member said it leads";
}

}  // namespace
}  // namespace svckit::coord
