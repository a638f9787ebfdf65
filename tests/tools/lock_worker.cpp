// A worker process for the lock safety tests: it takes a distributed lock by URL and does what
// the lock is meant to protect, leaving traces in files the test reads.
//   count DIR N LEASE_MS     N times: lock; read DIR/counter, yield, write it + 1; append the
//                            fencing token to DIR/tokens; unlock. Errors while the backend is
//                            unreachable (a leader election) are retried.
//   fenced DIR LEASE_MS HOLD_MS TAG
//                            lock; print "acquired <token>"; wait HOLD_MS; write TAG to the fenced
//                            resource DIR/resource, which refuses a token lower than the highest
//                            it has seen ("written <token>" / "rejected <token> highest <h>");
//                            then report "lost" or "still held" and unlock.
// Usage: svckit_lock_worker URL NAME MODE ARGS...
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "svckit/coord/lock_backend_url.hpp"
#include "svckit/coord/lock_manager.hpp"

namespace {

namespace asio = boost::asio;
using namespace svckit;
using namespace svckit::coord;
using namespace std::chrono_literals;

Awaitable<void> pause(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  co_await timer.async_wait(asio::use_awaitable);
}

/// Acquires, retrying what a leader election or a restart can cause, for up to two minutes.
Awaitable<Result<Lock>> lock_patiently(LockManager& locks, const std::string& name, LockOptions options) {
  const auto give_up = std::chrono::steady_clock::now() + 120s;
  for (;;) {
    auto lock = co_await locks.acquire(name, options);
    if (lock) co_return lock;
    const auto code = lock.error().code;
    const bool retry = code == ErrorCode::unavailable || code == ErrorCode::timeout;
    if (!retry || std::chrono::steady_clock::now() > give_up) co_return lock;
    std::cout << "retrying: " << lock.error().message << std::endl;
    co_await pause(50ms);
  }
}

long long read_number(const std::filesystem::path& path) {
  std::ifstream in(path);
  long long n = 0;
  in >> n;
  return n;
}

Awaitable<int> count(LockManager& locks, const std::string& name, const std::filesystem::path& dir, int n,
                     std::chrono::milliseconds lease) {
  LockOptions options;
  options.wait = 30s;
  options.lease = lease;
  for (int i = 0; i < n; ++i) {
    auto lock = co_await lock_patiently(locks, name, options);
    if (!lock) {
      std::cout << "failed: " << lock.error().message << std::endl;
      co_return 1;
    }
    const auto value = read_number(dir / "counter");
    co_await pause(1ms);  // a window for another process to interleave, were the lock broken
    {
      std::ofstream out(dir / "counter", std::ios::trunc);
      out << value + 1 << "\n";
    }
    {
      std::ofstream tokens(dir / "tokens", std::ios::app);
      tokens << lock->fencing_token() << "\n";
    }
    auto released = co_await lock->release();
    if (!released) std::cout << "release: " << released.error().message << std::endl;
  }
  co_return 0;
}

/// The protected resource: a file holding "<highest token> <tag>", changed only under flock and
/// only by a writer whose token is not lower than the highest seen.
std::string fenced_write(const std::filesystem::path& path, std::uint64_t token, const std::string& tag) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT, 0644);
  if (fd < 0) return "error open";
  ::flock(fd, LOCK_EX);
  char buffer[256] = {};
  const auto n = ::pread(fd, buffer, sizeof buffer - 1, 0);
  const std::uint64_t highest = n > 0 ? std::strtoull(buffer, nullptr, 10) : 0;
  std::string outcome;
  if (token < highest) {
    outcome = "rejected " + std::to_string(token) + " highest " + std::to_string(highest);
  } else {
    const auto text = std::to_string(token) + " " + tag + "\n";
    (void)::ftruncate(fd, 0);
    (void)::pwrite(fd, text.data(), text.size(), 0);
    outcome = "written " + std::to_string(token);
  }
  ::flock(fd, LOCK_UN);
  ::close(fd);
  return outcome;
}

Awaitable<int> fenced(LockManager& locks, const std::string& name, const std::filesystem::path& dir,
                      std::chrono::milliseconds lease, std::chrono::milliseconds hold, std::string tag) {
  LockOptions options;
  options.wait = 60s;
  options.lease = lease;
  auto lock = co_await lock_patiently(locks, name, options);
  if (!lock) {
    std::cout << "failed: " << lock.error().message << std::endl;
    co_return 1;
  }
  std::cout << "acquired " << lock->fencing_token() << std::endl;
  co_await pause(hold);
  std::cout << fenced_write(dir / "resource", lock->fencing_token(), tag) << std::endl;
  for (int i = 0; i < 200 && !lock->lost()->cancelled(); ++i) co_await pause(50ms);
  std::cout << (lock->lost()->cancelled() ? "lost" : "still held") << std::endl;
  (void)co_await lock->release();
  co_return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::cerr << "usage: svckit_lock_worker URL NAME count DIR N LEASE_MS | fenced DIR LEASE_MS HOLD_MS TAG\n";
    return 2;
  }
  const std::string url = argv[1];
  const std::string name = argv[2];
  const std::string mode = argv[3];
  asio::io_context io;
  RealTimeSource time;
  RealRandom random;
  AsioSleeper sleeper;
  auto backend = connect_lock_backend(url, io.get_executor(), time, sleeper);
  if (!backend) {
    std::cerr << backend.error().message << "\n";
    return 2;
  }
  auto locks = std::make_unique<LockManager>(*backend, io.get_executor(), time, sleeper, random);
  int status = 3;
  auto run = [&]() -> Awaitable<void> {
    if (mode == "count" && argc == 7) {
      status = co_await count(*locks, name, argv[4], std::stoi(argv[5]), std::chrono::milliseconds(std::stol(argv[6])));
    } else if (mode == "fenced" && argc == 8) {
      status = co_await fenced(*locks, name, argv[4], std::chrono::milliseconds(std::stol(argv[5])),
                               std::chrono::milliseconds(std::stol(argv[6])), argv[7]);
    } else {
      std::cerr << "bad arguments\n";
      status = 2;
    }
    io.stop();
  };
  asio::co_spawn(io, run(), asio::detached);
  io.run();
  return status;
}
