// Distributed tracing in the shape of OpenTelemetry's API: a Tracer starts Spans (a name, a kind,
// a start and end time, attributes with OpenTelemetry's semantic-convention names, a status) that
// belong to a trace; a span's context travels to the next process as a W3C `traceparent` header (or
// event / task metadata), so one trace follows a request across services. Ended spans go to a
// SpanSink: OtlpHttpExporter (otlp_exporter.hpp) batches them to an OTLP/HTTP collector (Jaeger,
// the OpenTelemetry Collector, Tempo, svckitd's own /v1/traces).
//
//   trace::Tracer tracer("order-service", time, random, {.sample_ratio = 0.1}, &exporter);
//   auto span = tracer.start_span("GET /orders/{id}", trace::SpanKind::server, trace::parse_traceparent(header));
//   span.set_attribute("http.request.method", "GET");
//   ... downstream request: set "traceparent" to span.context().traceparent() ...
//   span.set_attribute("http.response.status_code", 200);
//   span.end();  // or let it go out of scope
//
// Sampling is parent-based with a ratio for roots (OpenTelemetry's ParentBased(TraceIdRatioBased)):
// a span whose parent was sampled is sampled, one whose parent was not is not, and a root is
// sampled with probability `sample_ratio` (decided from its trace id, so every process decides the
// same for one trace). An unsampled span records nothing but still has a context to pass on.
//
// Pure logic: ids from the injected Random, times from the injected TimeSource. Thread-safety: a
// Tracer is thread-safe (the sink must be); a Span belongs to one coroutine or thread at a time.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "svckit/core/random.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/trace/attributes.hpp"

namespace svckit::trace {

/// A span's identity as it crosses processes (W3C Trace Context).
struct SpanContext {
  std::array<std::uint8_t, 16> trace_id{};
  std::array<std::uint8_t, 8> span_id{};
  bool sampled = false;
  /// W3C `tracestate` (vendors' entries, "k1=v1,k2=v2"): carried along unchanged to children and
  /// downstream; "" = none.
  std::string tracestate;

  bool valid() const noexcept;
  std::string trace_id_hex() const;
  std::string span_id_hex() const;
  /// "00-<trace id>-<span id>-<01|00>".
  std::string traceparent() const;
  /// The same 55 characters in a fixed buffer: the request path writes one per hop, without an
  /// allocation (std::string_view(text.data(), text.size()) to use it).
  using TraceparentText = std::array<char, 55>;
  TraceparentText traceparent_text() const noexcept;
};

/// Writes the 16 lower-case hex digits of `v`, most significant first, at `out`; returns out + 16.
char* write_hex16(char* out, std::uint64_t v) noexcept;
/// Lower-case hex of a trace id (32 digits) or span id (16 digits).
std::string to_hex(const std::array<std::uint8_t, 16>& id);
std::string to_hex(const std::array<std::uint8_t, 8>& id);
/// The id written as hex digits (either case; exactly 2 per byte) into `out`; false (and `out`
/// unspecified) when the text is anything else.
bool from_hex(std::string_view text, std::array<std::uint8_t, 16>& out);
bool from_hex(std::string_view text, std::array<std::uint8_t, 8>& out);

/// A W3C traceparent header (version 00, or a later version read as 00); nullopt when it is
/// malformed or carries the all-zero ids the specification forbids.
std::optional<SpanContext> parse_traceparent(std::string_view header);

/// Whether a `tracestate` value is well formed (W3C: at most 32 comma-separated `key=value`
/// members, keys `[a-z0-9][a-z0-9_*/@-]*` (at most 256), values of printable ASCII without ',' and
/// '=' (at most 256), 512 characters in all). An empty value is well formed.
bool valid_tracestate(std::string_view value);

/// parse_traceparent() with the `tracestate` that came along; a malformed tracestate is dropped
/// (as the specification says), a malformed traceparent drops both.
std::optional<SpanContext> parse_trace_context(std::string_view traceparent, std::string_view tracestate);

/// OTLP's span kinds (the numbers are OTLP's).
enum class SpanKind : int { internal = 1, server = 2, client = 3, producer = 4, consumer = 5 };
/// OTLP's status codes.
enum class StatusCode : int { unset = 0, ok = 1, error = 2 };

/// An ended span, as sinks receive it.
struct SpanData {
  SpanContext context;
  std::array<std::uint8_t, 8> parent_span_id{};  // all zero: a root
  std::string name;
  SpanKind kind = SpanKind::internal;
  std::int64_t start_unix_ns = 0;
  std::int64_t end_unix_ns = 0;
  Attributes attributes;
  StatusCode status = StatusCode::unset;
  std::string status_message;
};

/// Where ended spans go. REQUIRES: thread-safe and non-blocking (a span ends on the request path).
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  virtual void on_end(SpanData span) = 0;
};

/// Hands every span to two sinks (e.g. a local store and an exporter). Both must outlive it.
class TeeSink final : public SpanSink {
 public:
  TeeSink(SpanSink& first, SpanSink& second) : first_(first), second_(second) {}
  void on_end(SpanData span) override {
    first_.on_end(span);
    second_.on_end(std::move(span));
  }

 private:
  SpanSink& first_;
  SpanSink& second_;
};

struct TracerOptions {
  double sample_ratio = 1.0;  // roots sampled with this probability (0..1); children follow their parent
};

class Tracer;

/// Move-only. Ends (once) on end() or destruction. Setters are no-ops on an unsampled span.
class Span {
 public:
  Span() = default;
  Span(Span&& other) noexcept;
  Span& operator=(Span&& other) noexcept;
  Span(const Span&) = delete;
  Span& operator=(const Span&) = delete;
  ~Span() { end(); }

  bool recording() const noexcept { return tracer_ != nullptr && data_.context.sampled; }
  /// Its context (to pass on); invalid for a default-constructed span.
  const SpanContext& context() const noexcept { return data_.context; }

  /// Copies `key` and `value` into the span (OpenTelemetry's SetAttribute: a key set again gets
  /// the new value).
  void set_attribute(std::string_view key, std::string_view value) {
    if (recording()) data_.attributes.set(key, value);
  }
  void set_attribute(std::string_view key, const char* value) { set_attribute(key, std::string_view(value)); }
  void set_attribute(std::string_view key, std::int64_t value) {
    if (recording()) data_.attributes.set(key, value);
  }
  void set_attribute(std::string_view key, int value) { set_attribute(key, static_cast<std::int64_t>(value)); }
  void set_attribute(std::string_view key, double value) {
    if (recording()) data_.attributes.set(key, value);
  }
  void set_attribute(std::string_view key, bool value) {
    if (recording()) data_.attributes.set(key, value);
  }
  void set_status(StatusCode code, std::string message = {});
  void set_name(std::string name);
  void end();

 private:
  friend class Tracer;

  const Tracer* tracer_ = nullptr;  // null: ended, or never started
  SpanData data_;
};

class Tracer {
 public:
  /// `time`, `random` and `sink` (may be null: nothing is exported) must outlive the tracer.
  Tracer(const TimeSource& time, Random& random, TracerOptions options, SpanSink* sink);

  /// A span now, a child of `parent` when it is valid (else the root of a new trace).
  Span start_span(std::string name, SpanKind kind, const std::optional<SpanContext>& parent = std::nullopt) const;
  /// The same, started in `span` itself (which ends first if it was running): for a span declared
  /// before it is known whether to start one, without moving a new span's data into it.
  void start_span(Span& span, std::string name, SpanKind kind,
                  const std::optional<SpanContext>& parent = std::nullopt) const;
  double sample_ratio() const noexcept { return options_.sample_ratio; }

 private:
  friend class Span;
  std::int64_t now_unix_ns() const;

  const TimeSource& time_;
  Random& random_;
  TracerOptions options_;
  SpanSink* sink_;
};

}  // namespace svckit::trace
