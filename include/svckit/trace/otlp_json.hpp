// OTLP/HTTP's JSON encoding of spans (the OpenTelemetry protocol's ExportTraceServiceRequest, as
// `POST /v1/traces` with Content-Type application/json carries it): ids as lower-case hex, times
// as decimal strings of Unix nanoseconds, kinds and status codes as their numbers.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "svckit/core/result.hpp"
#include "svckit/trace/tracer.hpp"

namespace svckit::trace {

/// One ExportTraceServiceRequest: one resource (service.name = `service`) and its spans.
std::string otlp_json(std::string_view service, const std::vector<SpanData>& spans);

/// The same in two steps, for a sender that encodes each span as it ends: one span's JSON object
/// appended to `out`, and the request around `spans`, a comma-separated list of such objects.
void append_otlp_span(std::string& out, const SpanData& span);
std::string otlp_json_around(std::string_view service, std::string_view spans);

/// A span as received, with the service.name of its resource ("" when none).
struct ReceivedSpan {
  std::string service;
  SpanData span;
};

struct OtlpLimits {
  std::size_t max_spans = 10'000;    // per request
  std::size_t max_attributes = 128;  // per span
  std::size_t max_string = 4096;     // bytes of a name, status message or attribute value
};

/// Decodes an ExportTraceServiceRequest in JSON. Errors (invalid_argument) name the field, e.g.
/// "resourceSpans[0].scopeSpans[0].spans[3].traceId"; nothing is returned from a request with any
/// bad span. Attribute values of kinds other than string, int, double and bool are kept as their
/// JSON text. Well-formed batches of the usual shapes are decoded straight from simdjson's parse;
/// anything else goes through parse_otlp_json_dom(), so the results are the same.
Result<std::vector<ReceivedSpan>> parse_otlp_json(std::string_view body, const OtlpLimits& limits = {});

/// The same decoding through nlohmann::json's DOM only: the reference parse_otlp_json() falls
/// back to (and is tested against).
Result<std::vector<ReceivedSpan>> parse_otlp_json_dom(std::string_view body, const OtlpLimits& limits = {});

}  // namespace svckit::trace
