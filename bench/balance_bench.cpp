// Load-balancer micro benchmarks (Google Benchmark): ns per pick for every policy at 3, 100 and
// 10,000 hosts, on one thread and two contending threads, and the cost of rebuilding a policy's
// state when one host changes.
//
//   build/bench/balance_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include "svckit/balance/load_balancer.hpp"
#include "svckit/health/outlier_detector.hpp"

namespace {

using namespace svckit;

std::shared_ptr<const HostSet> make_hosts(int n, int changed = -1) {
  std::vector<ServiceInstance> list;
  list.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) {
    ServiceInstance in;
    in.service = "bench";
    in.id = "host-" + std::to_string(i);
    in.host = "10.0." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    in.port = 8080;
    in.weight = i == changed ? 50 : 100;
    list.push_back(std::move(in));
  }
  return HostSet::make(std::move(list));
}

RealTimeSource real_time;

std::unique_ptr<LoadBalancer> make(const std::string& policy, Random& random) {
  BalancerPlugins::Builder builder;
  register_builtin_balancers(builder);
  auto created = std::move(builder).build().create(policy, {}, {random, real_time});
  return std::move(created.value());
}

RealRandom random_source;  // thread-safe and lock-free

template <int kPolicy>
void BM_Pick(benchmark::State& state) {
  static const char* kNames[] = {"round_robin", "random", "weighted_random",      "least_request",
                                 "ring_hash",   "maglev", "weighted_round_robin", "peak_ewma"};
  static std::unique_ptr<LoadBalancer> lb;  // shared by the benchmark's threads
  if (state.thread_index() == 0) {
    lb = make(kNames[kPolicy], random_source);
    lb->update(make_hosts(static_cast<int>(state.range(0))));
  }
  PickRequest request;
  std::uint64_t key = 0x12345678u + static_cast<std::uint64_t>(state.thread_index());
  for (auto _ : state) {
    request.hash = (key += 0x9e3779b97f4a7c15ULL);
    auto pick = lb->pick(request);
    benchmark::DoNotOptimize(pick);
  }
  state.SetLabel(kNames[kPolicy]);
}

#define PICK_BENCH(N)                                              \
  BENCHMARK(BM_Pick<N>)->Arg(3)->Arg(100)->Arg(10000)->Threads(1); \
  BENCHMARK(BM_Pick<N>)->Arg(3)->Arg(100)->Arg(10000)->Threads(2)
PICK_BENCH(0);
PICK_BENCH(1);
PICK_BENCH(2);
PICK_BENCH(3);
PICK_BENCH(4);
PICK_BENCH(5);
PICK_BENCH(6);
PICK_BENCH(7);

void BM_Rebuild(benchmark::State& state, const char* policy) {
  auto lb = make(policy, random_source);
  const auto a = make_hosts(static_cast<int>(state.range(0)));
  const auto b = make_hosts(static_cast<int>(state.range(0)), 7);  // one host's weight changed
  bool flip = false;
  for (auto _ : state) {
    lb->update((flip = !flip) ? b : a);
  }
}
BENCHMARK_CAPTURE(BM_Rebuild, round_robin, "round_robin")->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Rebuild, ring_hash, "ring_hash")->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Rebuild, maglev, "maglev")->Arg(1000)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Rebuild, weighted_round_robin, "weighted_round_robin")->Arg(1000)->Unit(benchmark::kMillisecond);

// What a client pays per call for passive outlier detection: one report() (a mutex and a lookup by
// instance id), on one thread and with two threads reporting on different hosts.
void BM_OutlierReport(benchmark::State& state) {
  static std::unique_ptr<OutlierDetector> detector;
  static std::vector<std::string> ids;
  if (state.thread_index() == 0) {
    ids.clear();
    for (int i = 0; i < state.range(0); ++i) ids.push_back("host-" + std::to_string(i));
    detector = std::make_unique<OutlierDetector>(OutlierOptions{}, real_time, random_source);
    detector->set_hosts(ids);
  }
  std::size_t i = static_cast<std::size_t>(state.thread_index());
  for (auto _ : state) {
    detector->report(ids[i % ids.size()], CallOutcome::success);
    i += 2;
  }
}
BENCHMARK(BM_OutlierReport)->Arg(100)->Threads(1);
BENCHMARK(BM_OutlierReport)->Arg(100)->Threads(2);

}  // namespace

BENCHMARK_MAIN();
