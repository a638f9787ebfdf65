// OtlpHttpExporter: a SpanSink that batches ended spans and sends them to an OTLP/HTTP collector
// (`POST <endpoint>` with OTLP's JSON encoding: the OpenTelemetry Collector, Jaeger ≥ 1.35, Grafana
// Tempo, or svckitd's own /v1/traces), as OpenTelemetry's BatchSpanProcessor does:
//
//  - on_end() never blocks and never waits for the network: the span joins a bounded queue; a
//    full queue drops it and counts the drop (svckit_trace_spans_total{result="dropped"});
//  - a loop sends a batch every `interval`, or as soon as `max_batch` spans wait; a failed send
//    is counted (result="failed") and its spans dropped (no retry storm toward a dead collector);
//  - shutdown() sends what is queued and stops.
//
//   auto exporter = OtlpHttpExporter::create(io.get_executor(), {.endpoint = "http://127.0.0.1:8500/v1/traces",
//                                                                 .service = "order-service"}, &metrics);
//   trace::Tracer tracer(time, random, {.sample_ratio = 1.0}, exporter->get());
//   (*exporter)->start();  ...  co_await (*exporter)->shutdown();
//
// Thread-safety: on_end() from any thread; start() once; shutdown() once, from a coroutine.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>

#include "svckit/core/metrics.hpp"
#include "svckit/core/result.hpp"
#include "svckit/trace/tracer.hpp"

namespace svckit::trace {

struct OtlpExporterOptions {
  std::string endpoint;  // "http://host:4318/v1/traces" (https too)
  std::string service;   // resource attribute service.name
  std::size_t max_queue = 4096;
  std::size_t max_batch = 512;
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds timeout{5000};  // per send
};

struct OtlpExporterStats {
  std::uint64_t exported = 0, dropped = 0, failed = 0;
};

class OtlpHttpExporter final : public SpanSink {
 public:
  /// Errors: invalid_argument naming `endpoint` (not an http(s) URL), `service` (empty),
  /// `max_queue` / `max_batch` (0). `metrics` may be null.
  static Result<std::unique_ptr<OtlpHttpExporter>> create(boost::asio::any_io_executor executor,
                                                          OtlpExporterOptions options,
                                                          MetricsRegistry* metrics = nullptr);
  ~OtlpHttpExporter() override;

  void on_end(SpanData span) override;
  void start();
  /// Sends what is queued (bounded by each send's timeout) and stops the loop.
  boost::asio::awaitable<void> shutdown();
  OtlpExporterStats stats() const;

  struct State;

 private:
  explicit OtlpHttpExporter(std::shared_ptr<State> state) : state_(std::move(state)) {}
  std::shared_ptr<State> state_;
};

}  // namespace svckit::trace
