// Lock acquire/release pairs per second through a LockManager, for one backend URL:
//   uncontended  1 coroutine, one name, acquire (try) + release, one after the other
//   parallel     W coroutines, a name each (independent locks side by side)
//   contended    W coroutines on one name, each waiting for it (woken by the backend's release
//                notification), then releasing
// Prints a line per phase: pairs/s and the acquire latency p50/p99. bench/lock_bench.sh starts
// redis-server and etcd and compares with Redlock and etcd3 (npm) in the same run.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <future>
#include <thread>

#include "svckit/coord/lock_backend_url.hpp"
#include "svckit/coord/lock_manager.hpp"

namespace {

namespace asio = boost::asio;
using namespace svckit;
using namespace svckit::coord;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct Phase {
  std::uint64_t pairs = 0, errors = 0;
  std::vector<double> acquire_ms;
};

Awaitable<void> worker(LockManager& locks, std::string name, int pairs, LockOptions options, Phase& out) {
  for (int i = 0; i < pairs; ++i) {
    const auto start = Clock::now();
    auto lock = co_await locks.acquire(name, options);
    out.acquire_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
    if (!lock) {
      ++out.errors;
      continue;
    }
    auto released = co_await lock->release();
    if (released) {
      ++out.pairs;
    } else {
      ++out.errors;
    }
  }
}

void report(const std::string& backend, const std::string& phase, int workers, std::vector<Phase>& parts,
            double seconds) {
  std::uint64_t pairs = 0, errors = 0;
  std::vector<double> all;
  for (auto& p : parts) {
    pairs += p.pairs;
    errors += p.errors;
    all.insert(all.end(), p.acquire_ms.begin(), p.acquire_ms.end());
  }
  std::sort(all.begin(), all.end());
  const auto at = [&](double q) {
    return all.empty() ? 0.0 : all[static_cast<std::size_t>(q * static_cast<double>(all.size() - 1))];
  };
  std::printf(
      "RESULT svckit %s %s workers=%d pairs_per_s=%.0f acquire_p50_ms=%.2f acquire_p99_ms=%.2f acquire_max_ms=%.1f "
      "errors=%llu\n",
      backend.c_str(), phase.c_str(), workers, static_cast<double>(pairs) / seconds, at(0.5), at(0.99),
      all.empty() ? 0.0 : all.back(), static_cast<unsigned long long>(errors));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"svckit lock benchmark"};
  std::string url = "memory://";
  int pairs = 2000;
  int workers = 8;
  app.add_option("--url", url, "lock backend URL");
  app.add_option("--pairs", pairs, "acquire/release pairs per phase");
  app.add_option("--workers", workers, "coroutines in the parallel and contended phases");
  CLI11_PARSE(app, argc, argv);

  asio::io_context io;
  auto guard = asio::make_work_guard(io);
  std::thread thread([&] { io.run(); });
  RealTimeSource time;
  RealRandom random;
  AsioSleeper sleeper;
  auto backend = connect_lock_backend(url, io.get_executor(), time, sleeper);
  if (!backend) {
    std::fprintf(stderr, "%s\n", backend.error().message.c_str());
    guard.reset();
    thread.join();
    return 2;
  }
  const auto kind = (*backend)->kind();
  {
    LockManager locks(*backend, io.get_executor(), time, sleeper, random);
    const auto run_phase = [&](const std::string& phase, int n, bool same_name) {
      std::vector<Phase> parts(static_cast<std::size_t>(n));
      std::vector<std::future<void>> done;
      LockOptions options;
      options.lease = 10s;
      options.wait = same_name && n > 1 ? 60s : 0ms;
      const auto start = Clock::now();
      for (int w = 0; w < n; ++w) {
        const std::string name = same_name ? "bench-" + phase : "bench-" + phase + "-" + std::to_string(w);
        done.push_back(asio::co_spawn(io, worker(locks, name, pairs / n, options, parts[static_cast<std::size_t>(w)]),
                                      asio::use_future));
      }
      for (auto& d : done) d.get();
      report(kind, phase, n, parts, std::chrono::duration<double>(Clock::now() - start).count());
    };
    run_phase("uncontended", 1, true);
    run_phase("parallel", workers, false);
    run_phase("contended", workers, true);
  }
  backend->reset();
  guard.reset();
  thread.join();
  return 0;
}
