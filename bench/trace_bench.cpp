// What tracing costs one proxied gateway request, in isolation (Google Benchmark): the three spans
// svckitd's gateway records for a request (the server span, the ServiceClient's call span and its
// attempt span, with the attributes each sets), ended into svckitd's trace store at its default
// bounds (20,000 spans, 64 MiB) so that every insert also evicts the oldest trace, as in a long
// run. Next to it, the same request in an unsampled trace (contexts made and passed on, nothing
// recorded): the difference is what recording costs.
//
// The same recorded requests from two threads at once into one store, as svckitd's gateway with
// gateway.threads = 2 makes them: what the store's locking costs when its writers collide.
//
// A ServiceClient call's two spans (the call and its attempt, with the attributes the client sets)
// ended into an OtlpHttpExporter (encoded and queued, as an application that exports pays on its
// own threads; the batch's network send is not in it), next to the same call unsampled.
//
// And OTLP/HTTP's JSON encoding both ways for a batch of 512 such spans: what an application's
// exporter writes per batch, and what svckitd's /v1/traces reads — then stores (TraceStoreAdd512).
//
//   build/bench/trace_bench --benchmark_min_time=1 --benchmark_repetitions=3
//
// Linked with svckitd's allocator (see bench/CMakeLists.txt), as the spans are made in svckitd.
#include <benchmark/benchmark.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <string>

#include "daemon/trace_store.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/core/random.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/trace/otlp_exporter.hpp"
#include "svckit/trace/otlp_json.hpp"
#include "svckit/trace/tracer.hpp"

namespace {

using namespace svckit;

/// One gateway request's spans, with the names and attributes the gateway (daemon/gateway.cpp) and
/// the ServiceClient (src/client/) give them.
void one_request(const trace::Tracer& tracer, const trace::SpanContext& caller, std::uint64_t n) {
  const std::string method = "GET";
  const std::string target = "/plain/items";
  const std::string instance = "127.0.0.1:" + std::to_string(20000 + n % 2);
  auto server = tracer.start_span(method, trace::SpanKind::server, caller);
  {
    auto call = tracer.start_span("call bench", trace::SpanKind::internal, server.context());
    call.set_attribute("svckit.service", std::string("bench"));
    call.set_attribute("http.request.method", method);
    {
      auto attempt = tracer.start_span(method, trace::SpanKind::client, call.context());
      attempt.set_attribute("http.request.method", method);
      attempt.set_attribute("url.path", std::string("/items"));
      attempt.set_attribute("server.address", std::string("127.0.0.1"));
      attempt.set_attribute("server.port", static_cast<std::int64_t>(20000 + n % 2));
      attempt.set_attribute("svckit.service", std::string("bench"));
      attempt.set_attribute("svckit.instance", instance);
      attempt.set_attribute("http.response.status_code", static_cast<std::int64_t>(200));
    }
    call.set_attribute("svckit.attempts", static_cast<std::int64_t>(1));
    call.set_attribute("http.response.status_code", static_cast<std::int64_t>(200));
  }
  if (server.recording()) {
    server.set_name(method + " /plain");
    server.set_attribute("http.request.method", method);
    server.set_attribute("url.path", target);
    server.set_attribute("http.route", std::string("/plain"));
    server.set_attribute("http.response.status_code", static_cast<std::int64_t>(200));
    server.set_attribute("client.address", std::string("127.0.0.1"));
    server.set_attribute("svckit.service", std::string("bench"));
    server.set_attribute("svckit.instance", instance);
  }
}

void run(benchmark::State& state, bool sampled) {
  RealTimeSource time;
  RealRandom random;
  MetricsRegistry metrics;
  daemon::TraceStore store(20'000, 64 << 20, "svckitd", metrics);
  trace::Tracer tracer(time, random, {.sample_ratio = 0.0}, &store);
  trace::SpanContext caller;  // a new trace per request, as a caller inside traces sends
  caller.span_id = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
  caller.sampled = sampled;
  std::uint64_t n = 0;
  const auto next = [&] {
    ++n;
    for (std::size_t i = 0; i < 8; ++i) caller.trace_id[15 - i] = static_cast<std::uint8_t>(n >> (8 * i));
    caller.trace_id[0] = 0x4b;
  };
  for (int i = 0; i < 30'000; ++i) {  // fill the store first: the runs below evict as they add
    next();
    one_request(tracer, caller, n);
  }
  for (auto _ : state) {
    next();
    one_request(tracer, caller, n);
  }
  state.counters["stored_spans"] = static_cast<double>(store.span_count());
}

/// The store and tracer shared by the threads of BM_GatewayRequestSpans_SampledAndStored_Threads
/// (made in Setup, before the threads start).
struct Shared {
  RealTimeSource time;
  RealRandom random;
  MetricsRegistry metrics;
  daemon::TraceStore store{20'000, 64 << 20, "svckitd", metrics};
  trace::Tracer tracer{time, random, {.sample_ratio = 0.0}, &store};
};
std::unique_ptr<Shared> shared;

void BM_GatewayRequestSpans_SampledAndStored_Threads(benchmark::State& state) {
  trace::SpanContext caller;
  caller.span_id = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
  caller.sampled = true;
  std::uint64_t n = static_cast<std::uint64_t>(state.thread_index()) << 40;  // ids of its own per thread
  for (auto _ : state) {
    ++n;
    for (std::size_t i = 0; i < 8; ++i) caller.trace_id[15 - i] = static_cast<std::uint8_t>(n >> (8 * i));
    caller.trace_id[0] = 0x4b;
    one_request(shared->tracer, caller, n);
  }
}

/// One ServiceClient call's spans, with the names and attributes src/client/ gives them.
void one_call(const trace::Tracer& tracer, const std::optional<trace::SpanContext>& caller, const std::string& service,
              const std::string& host, int port, const std::string& instance) {
  auto call = tracer.start_span("call " + service, trace::SpanKind::internal, caller);
  call.set_attribute("svckit.service", service);
  call.set_attribute("http.request.method", std::string("GET"));
  {
    auto attempt = tracer.start_span(std::string("GET"), trace::SpanKind::client, call.context());
    if (attempt.recording()) {
      attempt.set_attribute("http.request.method", std::string("GET"));
      attempt.set_attribute("url.path", std::string("/items/42"));
      attempt.set_attribute("server.address", host);
      attempt.set_attribute("server.port", static_cast<std::int64_t>(port));
      attempt.set_attribute("svckit.service", service);
      attempt.set_attribute("svckit.instance", instance);
      attempt.set_attribute("http.response.status_code", static_cast<std::int64_t>(200));
    }
  }
  if (call.recording()) {
    call.set_attribute("svckit.attempts", static_cast<std::int64_t>(1));
    call.set_attribute("http.response.status_code", static_cast<std::int64_t>(200));
  }
}

void run_client(benchmark::State& state, double ratio) {
  RealTimeSource time;
  RealRandom random;
  boost::asio::io_context io;  // never run: the exporter's loop is not started, spans only queue
  const trace::OtlpExporterOptions options{
      .endpoint = "http://127.0.0.1:4318/v1/traces", .service = "order-service", .max_queue = 1 << 14};
  const auto make_exporter = [&] {
    auto made = trace::OtlpHttpExporter::create(io.get_executor(), options);
    return std::move(*made);
  };
  auto exporter = make_exporter();
  auto tracer =
      std::make_unique<trace::Tracer>(time, random, trace::TracerOptions{.sample_ratio = ratio}, exporter.get());
  const std::string service = "product-service", host = "127.0.0.1", instance = "product-service-7f9c4d-2";
  std::int64_t n = 0;
  for (auto _ : state) {
    if (++n % (1 << 12) == 0) {  // a full queue drops (2 spans a call): a fresh exporter before that
      state.PauseTiming();
      tracer.reset();
      exporter = make_exporter();
      tracer =
          std::make_unique<trace::Tracer>(time, random, trace::TracerOptions{.sample_ratio = ratio}, exporter.get());
      state.ResumeTiming();
    }
    one_call(*tracer, std::nullopt, service, host, 8080 + static_cast<int>(n % 2), instance);
  }
  state.counters["dropped"] = static_cast<double>(exporter->stats().dropped);
}

void BM_ClientCallSpans_Unsampled(benchmark::State& state) { run_client(state, 0.0); }
void BM_ClientCallSpans_SampledAndQueued(benchmark::State& state) { run_client(state, 1.0); }

/// Collects ended spans, for the encoding benchmarks.
struct Collect final : trace::SpanSink {
  std::vector<trace::SpanData> spans;
  void on_end(trace::SpanData span) override { spans.push_back(std::move(span)); }
};

std::vector<trace::SpanData> batch_of(std::size_t n) {
  RealTimeSource time;
  RealRandom random;
  Collect sink;
  trace::Tracer tracer(time, random, {.sample_ratio = 1.0}, &sink);
  for (std::uint64_t i = 0; sink.spans.size() < n; ++i)
    one_request(tracer, tracer.start_span("root", trace::SpanKind::server).context(), i);
  sink.spans.resize(n);
  return sink.spans;
}

void BM_OtlpJsonEncode512(benchmark::State& state) {
  const auto batch = batch_of(512);
  std::size_t bytes = 0;
  for (auto _ : state) {
    auto body = trace::otlp_json("order-service", batch);
    bytes = body.size();
    benchmark::DoNotOptimize(body);
  }
  state.counters["body_bytes"] = static_cast<double>(bytes);
}

void BM_OtlpJsonDecode512(benchmark::State& state) {
  const auto body = trace::otlp_json("order-service", batch_of(512));
  for (auto _ : state) {
    auto spans = trace::parse_otlp_json(body);
    if (!spans || spans->size() != 512) state.SkipWithError("the batch did not decode");
    benchmark::DoNotOptimize(spans);
  }
}

/// A decoded batch of 512 spans stored as svckitd's POST /v1/traces stores it (the store full at
/// its default bounds, so each batch also evicts), with new trace ids each round.
void BM_TraceStoreAdd512(benchmark::State& state) {
  MetricsRegistry metrics;
  daemon::TraceStore store{20'000, 64 << 20, "svckitd", metrics};
  std::vector<trace::ReceivedSpan> batch;
  for (auto& span : batch_of(512)) batch.push_back({"order-service", std::move(span)});
  const auto fresh_ids = [&batch](std::uint64_t round) {  // new traces each round: the store evicts
    for (auto& s : batch) {
      for (std::size_t i = 0; i < 4; ++i) s.span.context.trace_id[8 + i] = static_cast<std::uint8_t>(round >> (8 * i));
    }
  };
  std::uint64_t round = 0;
  for (int i = 0; i < 60; ++i) {  // fill the store first
    fresh_ids(++round);
    store.add(batch);
  }
  for (auto _ : state) {
    fresh_ids(++round);  // 2 KB of writes, next to the batch's 512 inserts
    store.add(batch);
  }
  state.counters["stored_spans"] = static_cast<double>(store.span_count());
}

void BM_GatewayRequestSpans_Unsampled(benchmark::State& state) { run(state, false); }
void BM_GatewayRequestSpans_SampledAndStored(benchmark::State& state) { run(state, true); }

}  // namespace

BENCHMARK(BM_GatewayRequestSpans_Unsampled);
BENCHMARK(BM_GatewayRequestSpans_SampledAndStored);
BENCHMARK(BM_GatewayRequestSpans_SampledAndStored_Threads)
    ->Setup([](const benchmark::State&) {
      shared = std::make_unique<Shared>();
      trace::SpanContext caller;
      caller.span_id[7] = 1;
      caller.sampled = true;
      for (std::uint64_t n = 1; n <= 30'000; ++n) {  // full first, as in the single-thread case
        caller.trace_id[0] = 0x4c;
        for (std::size_t i = 0; i < 8; ++i) caller.trace_id[15 - i] = static_cast<std::uint8_t>(n >> (8 * i));
        one_request(shared->tracer, caller, n);
      }
    })
    ->Teardown([](const benchmark::State&) { shared.reset(); })
    ->Threads(1)
    ->Threads(2)
    ->UseRealTime();
BENCHMARK(BM_ClientCallSpans_Unsampled);
BENCHMARK(BM_ClientCallSpans_SampledAndQueued);
BENCHMARK(BM_OtlpJsonEncode512)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_OtlpJsonDecode512)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_TraceStoreAdd512)->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
