// Distributed locks, as docs/locks.md shows them: Python's `async with acquire_lock(name):`
// is `with_lock`; every write to the protected store carries the lock's fencing token, and the
// store refuses a token older than one it has seen. Runs on memory:// — swap the URL for
// redis://host:6379 or etcd://h1:2379,h2:2379 and nothing else changes.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>

#include "svckit/coord/lock_backend_url.hpp"
#include "svckit/coord/lock_manager.hpp"

namespace asio = boost::asio;
using namespace svckit;
using namespace svckit::coord;
using namespace std::chrono_literals;

/// What the lock protects. A real one is a database row with a `fence` column
/// (UPDATE ... WHERE fence <= :token) or a storage API that takes the token.
struct FencedStore {
  std::uint64_t highest = 0;
  int stock = 10;
  bool write(std::uint64_t token, int new_stock) {
    if (token < highest) return false;  // a holder that lost its lock without knowing
    highest = token;
    stock = new_stock;
    return true;
  }
};

Awaitable<void> pause(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

Awaitable<int> demo(LockManager& locks, FencedStore& store) {
  int failures = 0;
  const std::string sku = "inventory:sku-42";

  // 1. async with acquire_lock("inventory:sku-42"): ...
  LockOptions wait;
  wait.wait = 5s;
  auto sold = co_await locks.with_lock(sku, wait, [&](const Lock& lock) -> Awaitable<Result<void>> {
    const bool ok = store.write(lock.fencing_token(), store.stock - 1);
    std::printf("sold one with token %llu: %s, stock %d\n", static_cast<unsigned long long>(lock.fencing_token()),
                ok ? "written" : "refused", store.stock);
    co_return Result<void>{};
  });
  failures += sold ? 0 : 1;

  // 2. A try while someone holds it fails at once; a wait gets it when the holder lets go.
  auto holder = co_await locks.acquire(sku);
  auto tried = co_await locks.acquire(sku);
  std::printf("second try while held: %s\n",
              tried ? "acquired (wrong)" : std::string(to_string(tried.error().code)).c_str());
  failures += tried ? 1 : 0;
  (void)co_await holder->release();

  // 3. A lease without the watchdog lapses; its holder is told first, and its late write is refused.
  LockOptions short_lease;
  short_lease.lease = 300ms;
  short_lease.watchdog = false;
  short_lease.on_lost = [](const std::string& name) { std::printf("told: lost %s\n", name.c_str()); };
  auto slow = co_await locks.acquire(sku, short_lease);
  co_await pause(400ms);  // a GC pause, a slow disk...
  auto next = co_await locks.acquire(sku);
  (void)store.write(next->fencing_token(), store.stock - 1);
  const bool late = store.write(slow->fencing_token(), 100);
  std::printf("late write with token %llu after token %llu: %s; stock %d\n",
              static_cast<unsigned long long>(slow->fencing_token()),
              static_cast<unsigned long long>(next->fencing_token()), late ? "written (wrong)" : "refused",
              store.stock);
  failures += late ? 1 : 0;
  auto released = co_await slow->release();
  std::printf("the slow holder's release: %s\n", released ? "ok" : released.error().message.c_str());
  (void)co_await next->release();

  // 4. Readers share; locking several names takes them in sorted order (no deadlock).
  LockOptions read;
  read.mode = LockMode::shared;
  auto r1 = co_await locks.acquire("catalog", read);
  auto r2 = co_await locks.acquire("catalog", read);
  std::printf("two readers: %s\n", r1 && r2 ? "both hold it" : "refused (wrong)");
  failures += r1 && r2 ? 0 : 1;
  std::vector<std::string> names{"account:b", "account:a"};
  auto both = co_await locks.acquire_all(names, wait);
  std::printf("transfer locks: %s then %s\n", (*both)[0].name().c_str(), (*both)[1].name().c_str());
  co_return failures;
}

int main() {
  asio::io_context io;
  RealTimeSource time;
  RealRandom random;
  AsioSleeper sleeper;
  auto backend = connect_lock_backend("memory://", io.get_executor(), time, sleeper);
  if (!backend) return 2;
  LockManager locks(*backend, io.get_executor(), time, sleeper, random);
  FencedStore store;
  auto failures = asio::co_spawn(io, demo(locks, store), asio::use_future);
  io.run();
  return failures.get() == 0 ? 0 : 1;
}
