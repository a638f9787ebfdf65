// OTLP/JSON decoding straight from simdjson's parse into SpanData, for svckitd's /v1/traces: the
// nlohmann DOM path spent ~6 us per span building nodes. Internal to trace/.
//
// Same results as parse_otlp_json_dom() for what it accepts: it takes well-formed batches of the
// shapes OpenTelemetry's SDKs send, and returns nullopt for anything else — a syntax error, a
// member of another type, a duplicate member, a value the DOM path would keep as JSON text
// (arrayValue, kvlistValue, bytesValue), a limit passed — so that the caller decodes the text
// through the DOM path, which gives the answer (and the error naming the field).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "svckit/trace/otlp_json.hpp"

namespace svckit::trace::detail {

/// The protobuf JSON mapping's text forms, which both decoders read: an int64 written as its
/// decimal string (all of `text`), and a double that JSON numbers cannot say ("NaN", "Infinity",
/// "-Infinity").
std::optional<std::int64_t> decimal_int64(std::string_view text);
std::optional<double> double_word(std::string_view text);

std::optional<std::vector<ReceivedSpan>> fast_otlp_json(std::string_view body, const OtlpLimits& limits);

}  // namespace svckit::trace::detail
