// svckitd as a small trace backend: it receives spans over OTLP/HTTP (JSON encoding) at
// `POST /v1/traces`, as an OpenTelemetry Collector or Jaeger would, keeps the most recent traces in
// a bounded store, and serves them to the dashboard's waterfall:
//
//   POST /v1/traces                 OTLP ExportTraceServiceRequest (application/json) → {} (200);
//                                   protobuf → 415; a bad span → 400 naming its field, nothing kept
//   GET  /v1/traces?service=&limit= {"traces":[{"trace_id","name","service","start_unix_ms",
//                                   "duration_ms","spans","errors","services"}]}, newest first
//   GET  /v1/traces/{trace_id}      {"trace_id","spans":[{"span_id","parent_span_id","name","kind",
//                                   "service","start_unix_ms","duration_ms","attributes":{...},
//                                   "status":{"code","message"}}]}, in start order; 404 when unknown
//
// The store also takes svckitd's own spans (the gateway's) as a SpanSink. It holds at most
// `max_spans` spans and `max_bytes` of packed spans (PackedSpan::weight: fixed fields and text): past
// either, the traces that arrived first go first; one trace keeps at most kMaxSpansPerTrace. So a
// sender of huge attributes cannot grow svckitd's memory past the bound. No data leaves memory.
//
// A large store is split into shards by trace id (up to kMaxShards, each with its own lock and an
// equal share of both bounds, and room for two traces of kMaxSpansPerTrace): the gateway's I/O
// threads each end three spans per request, and one lock made them queue behind each other (with
// two threads, each took 2.5 to 5 times as long per request as one thread alone). "First in,
// first out" then holds per shard — with random trace ids, about the oldest traces of all. A store
// too small for two shards has one, and the exact order.
//
// Thread-safety: all methods are thread-safe; routes are added before serving.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <array>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/packed_span.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/http/router.hpp"
#include "svckit/trace/otlp_json.hpp"

namespace svckit::daemon {

class TraceStore final : public trace::SpanSink {
 public:
  static constexpr std::size_t kMaxSpansPerTrace = 2000;
  static constexpr std::size_t kMaxShards = 8;

  /// `local_service`: the service.name of spans given to on_end() (svckitd's own).
  TraceStore(std::size_t max_spans, std::size_t max_bytes, std::string local_service, MetricsRegistry& metrics);

  void on_end(trace::SpanData span) override;
  void add(const std::vector<trace::ReceivedSpan>& spans);

  struct Summary {
    std::string trace_id;
    std::string name, service;  // the root's (or the earliest span's when the root is missing)
    std::int64_t start_unix_ns = 0, end_unix_ns = 0;
    std::size_t spans = 0, errors = 0;
    std::vector<std::string> services;
  };
  /// Newest first (by start); `service` non-empty: traces with a span of that service.
  std::vector<Summary> recent(std::size_t limit, const std::string& service) const;
  /// The spans of one trace, in start order; empty when unknown.
  std::vector<trace::ReceivedSpan> trace(const std::string& trace_id_hex) const;
  std::size_t span_count() const;
  std::size_t byte_count() const;

  void add_routes(http::Router& router);

 private:
  http::Awaitable<http::Response> receive(http::RouteContext& ctx);
  http::Awaitable<http::Response> list(http::RouteContext& ctx);
  http::Awaitable<http::Response> one(http::RouteContext& ctx);

  using TraceId = std::array<std::uint8_t, 16>;
  struct TraceIdHash {
    std::size_t operator()(const TraceId& id) const noexcept {
      std::size_t h = 0;
      for (std::size_t i = 8; i < 16; ++i) h = h << 8 | id[i];  // random bytes: the low half is a hash
      return h;
    }
  };
  struct Trace {
    std::vector<PackedSpan> spans;
    std::size_t bytes = 0;  // the spans' weight: an eviction need not walk their (cold) text
  };
  /// The traces an insert pushed out, destroyed after the lock; usually one, kept without an
  /// allocation of its own.
  struct Evicted {
    bool has_first = false;
    Trace first;
    std::vector<Trace> more;
    void add(Trace trace) {
      if (!has_first) {
        first = std::move(trace);
        has_first = true;
      } else {
        more.push_back(std::move(trace));
      }
    }
  };
  /// A share of the store: the traces whose ids map to it, under its own lock, on cache lines of
  /// its own.
  struct alignas(64) Shard {
    mutable std::mutex mutex;
    std::unordered_map<TraceId, Trace, TraceIdHash> traces;  // guarded by mutex
    std::deque<TraceId> arrival;                             // guarded by mutex: trace ids, oldest first
    std::size_t spans = 0;                                   // guarded by mutex
    std::size_t bytes = 0;                                   // guarded by mutex: the spans' weight
  };
  Shard& shard_of(const TraceId& id) const;
  /// Appends the summaries of `shard`'s traces (its lock held) that have a span of `service`
  /// (any, when empty).
  void summarize(const Shard& shard, const std::string& service, std::vector<Summary>& out) const;
  /// Adds one span (packed before the lock) to `shard`, whose lock is held; the traces it pushes
  /// out go to `evicted`.
  void add_locked(Shard& shard, PackedSpan span, Evicted& evicted);

  const std::size_t max_spans_;
  const std::size_t max_bytes_;
  const std::string local_service_;
  const std::size_t shard_count_;
  const std::size_t shard_spans_;  // each shard's share of max_spans_
  const std::size_t shard_bytes_;  // and of max_bytes_
  std::unique_ptr<Shard[]> shards_;
  Counter& received_;
  Counter& dropped_;
};

}  // namespace svckit::daemon
