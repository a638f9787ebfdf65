// Micro benchmarks (Google Benchmark) of the registry's hot paths, each next to the obvious
// alternative it replaced, measured in the same run:
//   - encoding a list of instances: cached per-instance JSON vs append_json vs nlohmann::json DOM
//   - store operations: upsert, renew (heartbeat), collect (watch), list
//   - decoding a list answer (what svckitd:// reads): simdjson On-Demand vs the nlohmann DOM path
//
//   build/bench/micro_bench --benchmark_min_time=0.2
#include <benchmark/benchmark.h>

#include <nlohmann/json.hpp>

#include "svckit/core/instance_json.hpp"
#include "svckit/registry/consul_json.hpp"
#include "svckit/registry/registry_decode.hpp"
#include "svckit/registry/registry_json.hpp"
#include "svckit/registry/registry_store.hpp"

namespace {

using namespace svckit;

ServiceInstance make(int i) {
  ServiceInstance in;
  in.service = "bench";
  in.id = "i-" + std::to_string(i);
  in.host = "10.1.0." + std::to_string(i % 250);
  in.port = 10000 + i % 50000;
  in.ttl = std::chrono::seconds(60);
  in.tags = {"bench", "v1"};
  in.metadata = {{"version", "1.2.3"}};
  return in;
}

struct Filled {
  explicit Filled(int n) : store(time, RegistryStoreOptions{std::chrono::seconds(30), 1'000'000, 8192}) {
    for (int i = 0; i < n; ++i) (void)store.upsert(make(i));
  }
  RealTimeSource time;
  RegistryStore store;
};

void BM_ListEncode_CachedJson(benchmark::State& state) {
  Filled f(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::string body;
    body.reserve(400 * static_cast<std::size_t>(state.range(0)));
    f.store.for_each("bench", {}, [&](const ServiceInstance&, const std::string& json) { body += json; });
    benchmark::DoNotOptimize(body.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_ListEncode_AppendJson(benchmark::State& state) {
  Filled f(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    std::string body;
    body.reserve(400 * static_cast<std::size_t>(state.range(0)));
    f.store.for_each("bench", {}, [&](const ServiceInstance& in, const std::string&) { append_json(body, in); });
    benchmark::DoNotOptimize(body.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_ListEncode_NlohmannDom(benchmark::State& state) {  // the peer: what a straightforward server does
  Filled f(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    nlohmann::json array = nlohmann::json::array();
    f.store.for_each("bench", {}, [&](const ServiceInstance& in, const std::string&) { array.push_back(to_json(in)); });
    auto body = array.dump();
    benchmark::DoNotOptimize(body.data());
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

void BM_StoreUpsertNew(benchmark::State& state) {
  RealTimeSource time;
  RegistryStore store(time, RegistryStoreOptions{std::chrono::seconds(30), 100'000'000, 8192});
  int i = 0;
  for (auto _ : state) benchmark::DoNotOptimize(store.upsert(make(i++)).ok());
  state.SetItemsProcessed(state.iterations());
}

void BM_StoreRenew(benchmark::State& state) {
  Filled f(10000);
  int i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.store.renew("bench", "i-" + std::to_string(i)).ok());
    i = (i + 1) % 10000;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_WatchCollectOneEvent(benchmark::State& state) {
  Filled f(10000);
  const auto index = f.store.index();
  (void)f.store.set_status("bench", "i-1", InstanceStatus::maintenance);
  for (auto _ : state) benchmark::DoNotOptimize(f.store.collect("bench", index).events.size());
  state.SetItemsProcessed(state.iterations());
}

std::string list_answer(int n) {
  std::string text = "{\"index\":1,\"instances\":[";
  for (int i = 0; i < n; ++i) {
    if (i > 0) text += ',';
    auto in = make(i);
    in.registered_at = in.last_heartbeat = SystemTime(std::chrono::milliseconds(1'700'000'000'000));
    append_json(text, in);
  }
  return text + "]}";
}

void BM_ListDecode_Simdjson(benchmark::State& state) {
  const auto text = list_answer(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto decoded = decode_instances(text, "instances");
    if (!decoded || decoded->size() != static_cast<std::size_t>(state.range(0))) state.SkipWithError("decode");
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void BM_ListDecode_NlohmannDom(benchmark::State& state) {
  const auto text = list_answer(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto parsed = parse_json(text);
    auto decoded = instances_from_json(*parsed, "instances");
    if (!decoded || decoded->size() != static_cast<std::size_t>(state.range(0))) state.SkipWithError("decode");
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

std::string consul_answer(int n) {
  nlohmann::json answer = nlohmann::json::array();
  const svckit::consul::Node agent;
  for (int i = 0; i < n; ++i) answer.push_back(svckit::consul::health_entry(make(i), agent, 1));
  return answer.dump();
}

void BM_ConsulDecode_Simdjson(benchmark::State& state) {
  const auto text = consul_answer(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    auto decoded = svckit::consul::decode_health_entries(text);
    if (!decoded || decoded->size() != static_cast<std::size_t>(state.range(0))) state.SkipWithError("decode");
    benchmark::DoNotOptimize(decoded);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

void BM_ConsulDecode_NlohmannDom(benchmark::State& state) {
  const auto text = consul_answer(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    const auto parsed = nlohmann::json::parse(text);
    std::vector<ServiceInstance> out;
    for (const auto& item : parsed) {
      if (auto in = svckit::consul::instance_from_health_entry(item)) out.push_back(std::move(*in));
    }
    if (out.size() != static_cast<std::size_t>(state.range(0))) state.SkipWithError("decode");
    benchmark::DoNotOptimize(out);
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}

BENCHMARK(BM_ListEncode_CachedJson)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ListEncode_AppendJson)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ListEncode_NlohmannDom)->Arg(1000)->Arg(10000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ListDecode_Simdjson)->Arg(200)->Arg(2000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ListDecode_NlohmannDom)->Arg(2000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ConsulDecode_Simdjson)->Arg(200)->Arg(2000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ConsulDecode_NlohmannDom)->Arg(2000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_StoreUpsertNew);
BENCHMARK(BM_StoreRenew);
BENCHMARK(BM_WatchCollectOneEvent);

}  // namespace

BENCHMARK_MAIN();
