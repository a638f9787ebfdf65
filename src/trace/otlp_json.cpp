#include "svckit/trace/otlp_json.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/json_string.hpp"
#include "svckit/core/instance_json.hpp"
#include "trace/otlp_decode_fast.hpp"

namespace svckit::trace {

using nlohmann::json;

namespace {

/// The member `key` of an object, or null (nothing is copied: json::value() would copy the
/// member — a request's whole span list — to hand it back).
const json* member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

const json kNull;

/// The member `key`, or null JSON when there is none.
const json& member_or_null(const json& object, const char* key) {
  const auto* found = member(object, key);
  return found != nullptr ? *found : kNull;
}

template <std::size_t N>
bool read_hex(const json& value, std::array<std::uint8_t, N>& out) {
  return value.is_string() && from_hex(value.get_ref<const std::string&>(), out);
}

Error bad(const std::string& field, const std::string& message) {
  return make_error(ErrorCode::invalid_argument, message, field);
}

/// A uint64 as OTLP's JSON writes it: a decimal string (or a number).
bool read_nanos(const json& value, std::int64_t& out) {
  if (value.is_number_unsigned() || value.is_number_integer()) {
    out = value.get<std::int64_t>();
    return out >= 0;
  }
  if (!value.is_string()) return false;
  const auto n = detail::decimal_int64(value.get_ref<const std::string&>());
  if (!n || *n < 0) return false;
  out = *n;
  return true;
}

Result<AttributeValue> read_value(const json& value, const std::string& field, std::size_t max_string) {
  if (!value.is_object()) return bad(field, "must be an AnyValue object");
  auto clip = [&](std::string s) {
    if (s.size() > max_string) s.resize(max_string);
    return s;
  };
  if (auto it = value.find("stringValue"); it != value.end() && it->is_string()) return AttributeValue{clip(*it)};
  if (auto it = value.find("boolValue"); it != value.end() && it->is_boolean()) return AttributeValue{it->get<bool>()};
  if (auto it = value.find("doubleValue"); it != value.end() && it->is_number()) {
    return AttributeValue{it->get<double>()};
  }
  if (auto it = value.find("doubleValue"); it != value.end() && it->is_string()) {
    // The protobuf JSON mapping's words for what JSON numbers cannot say.
    if (const auto word = detail::double_word(it->get_ref<const std::string&>())) return AttributeValue{*word};
  }
  if (auto it = value.find("intValue"); it != value.end()) {
    if (it->is_number_integer()) return AttributeValue{it->get<std::int64_t>()};
    if (it->is_string()) {
      if (const auto n = detail::decimal_int64(it->get_ref<const std::string&>())) return AttributeValue{*n};
    }
    return bad(field + ".intValue", "must be a decimal integer");
  }
  return AttributeValue{clip(value.dump(-1, ' ', false, json::error_handler_t::replace))};
}

Result<Attributes> read_attributes(const json& list, const std::string& field, const OtlpLimits& limits) {
  Attributes out;
  if (list.is_null()) return out;
  if (!list.is_array()) return bad(field, "must be an array of {key, value}");
  if (list.size() > limits.max_attributes) {
    return bad(field, "more than " + std::to_string(limits.max_attributes) + " attributes");
  }
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto where = field + "[" + std::to_string(i) + "]";
    const auto& a = list[i];
    if (!a.is_object() || !a.contains("key") || !a["key"].is_string()) return bad(where + ".key", "must be a string");
    static const json kEmptyObject = json::object();
    const auto* given = member(a, "value");
    auto value = read_value(given != nullptr ? *given : kEmptyObject, where + ".value", limits.max_string);
    if (!value) return value.error();
    out.append(a["key"].get_ref<const std::string&>(), *value);
  }
  return out;
}

std::string service_of(const json& resource) {
  const auto* attributes = member(resource, "attributes");
  if (attributes == nullptr || !attributes->is_array()) return {};
  for (const auto& a : *attributes) {
    const auto& key = member_or_null(a, "key");
    if (!key.is_string() || key.get_ref<const std::string&>() != "service.name") continue;
    const auto& name = member_or_null(member_or_null(a, "value"), "stringValue");
    return name.is_string() ? name.get<std::string>() : std::string();
  }
  return {};
}

Result<SpanData> read_span(const json& s, const std::string& where, const OtlpLimits& limits) {
  if (!s.is_object()) return bad(where, "must be a span object");
  SpanData out;
  if (!read_hex(member_or_null(s, "traceId"), out.context.trace_id)) {
    return bad(where + ".traceId", "must be 32 hex digits");
  }
  if (!read_hex(member_or_null(s, "spanId"), out.context.span_id))
    return bad(where + ".spanId", "must be 16 hex digits");
  if (!out.context.valid()) return bad(where + ".traceId", "all-zero ids are invalid");
  if (const auto& parent = member_or_null(s, "parentSpanId");
      !parent.is_null() && !(parent.is_string() && parent.get_ref<const std::string&>().empty())) {
    if (!read_hex(parent, out.parent_span_id)) return bad(where + ".parentSpanId", "must be 16 hex digits or empty");
  }
  out.context.sampled = true;
  if (const auto& state = member_or_null(s, "traceState"); !state.is_null()) {
    if (!state.is_string() || !valid_tracestate(state.get_ref<const std::string&>())) {
      return bad(where + ".traceState", "must be a W3C tracestate string");
    }
    out.context.tracestate = state.get_ref<const std::string&>();
  }
  const auto& name = member_or_null(s, "name");
  if (!name.is_string()) return bad(where + ".name", "must be a string");
  out.name = name.get_ref<const std::string&>().substr(0, limits.max_string);
  if (const auto* kind = member(s, "kind"); kind != nullptr) {
    if (!kind->is_number_integer() || kind->get<std::int64_t>() < 0 || kind->get<std::int64_t>() > 5) {
      return bad(where + ".kind", "must be 0..5 (SpanKind)");
    }
    out.kind = static_cast<SpanKind>(std::max<std::int64_t>(1, kind->get<std::int64_t>()));
  } else {
    out.kind = SpanKind::internal;
  }
  if (!read_nanos(member_or_null(s, "startTimeUnixNano"), out.start_unix_ns)) {
    return bad(where + ".startTimeUnixNano", "must be Unix nanoseconds (a decimal string)");
  }
  if (!read_nanos(member_or_null(s, "endTimeUnixNano"), out.end_unix_ns) || out.end_unix_ns < out.start_unix_ns) {
    return bad(where + ".endTimeUnixNano", "must be Unix nanoseconds, not before the start");
  }
  auto attributes = read_attributes(member_or_null(s, "attributes"), where + ".attributes", limits);
  if (!attributes) return attributes.error();
  out.attributes = std::move(*attributes);
  if (const auto& status = member_or_null(s, "status"); status.is_object()) {
    std::int64_t code = 0;
    if (const auto& given = member_or_null(status, "code"); !given.is_null()) {
      if (!given.is_number_integer()) return bad(where + ".status.code", "must be 0..2");
      code = given.get<std::int64_t>();
    }
    if (code < 0 || code > 2) return bad(where + ".status.code", "must be 0..2");
    out.status = static_cast<StatusCode>(code);
    if (const auto& message = member_or_null(status, "message"); !message.is_null()) {
      if (!message.is_string()) return bad(where + ".status.message", "must be a string");
      out.status_message = message.get_ref<const std::string&>().substr(0, limits.max_string);
    }
  }
  return out;
}

}  // namespace

namespace {

/// A literal's bytes (its length known here: copied inline, not through a memcpy call).
template <std::size_t N>
char* put(char* p, const char (&literal)[N]) noexcept {
  std::memcpy(p, literal, N - 1);
  return p + N - 1;
}

template <std::size_t N>
char* put_hex(char* p, const std::array<std::uint8_t, N>& bytes) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  *p++ = '"';
  for (const auto b : bytes) {
    *p++ = kHex[b >> 4];
    *p++ = kHex[b & 0xf];
  }
  *p++ = '"';
  return p;
}

constexpr std::size_t kNumberBound = 32;  // an int64 (20) or a double's shortest form (24)

template <class T>
char* put_number(char* p, T value) noexcept {
  return std::to_chars(p, p + kNumberBound, value).ptr;
}

using svckit::detail::json_string_bound;
using svckit::detail::write_json_string;

std::size_t value_bound(const AttributeValueView& value) {
  const auto* text = std::get_if<std::string_view>(&value);
  return 24 + (text != nullptr ? json_string_bound(*text) : kNumberBound);
}

/// An AnyValue. Integers are decimal strings (OTLP's JSON encoding writes int64 as the protobuf
/// JSON mapping does); a double that is not finite is the mapping's "NaN" / "Infinity" /
/// "-Infinity" string.
char* put_value(char* p, const AttributeValueView& value) {
  if (const auto* text = std::get_if<std::string_view>(&value)) {
    p = put(p, R"({"stringValue":)");
    p = write_json_string(p, *text);
  } else if (const auto* n = std::get_if<std::int64_t>(&value)) {
    p = put(p, R"({"intValue":")");
    p = put_number(p, *n);
    *p++ = '"';
  } else if (const auto* d = std::get_if<double>(&value)) {
    p = put(p, R"({"doubleValue":)");
    if (std::isnan(*d)) {
      p = put(p, R"("NaN")");
    } else if (std::isinf(*d)) {
      p = *d > 0 ? put(p, R"("Infinity")") : put(p, R"("-Infinity")");
    } else {
      p = put_number(p, *d);
    }
  } else {
    p = std::get<bool>(value) ? put(p, R"({"boolValue":true)") : put(p, R"({"boolValue":false)");
  }
  *p++ = '}';
  return p;
}

std::size_t span_bound(const SpanData& s) {
  std::size_t n = 256 + 4 * kNumberBound;  // the keys, the three ids, kind, times and status code
  n += json_string_bound(s.context.tracestate) + json_string_bound(s.name) + json_string_bound(s.status_message);
  for (const auto& a : s.attributes) n += 24 + json_string_bound(a.key) + value_bound(a.value);
  return n;
}

/// The span's JSON is sized once (span_bound), written through a pointer, then trimmed: a span is
/// encoded on the thread that ends it, on the request path.
void append_span(std::string& out, const SpanData& s) {
  const auto old = out.size();
  const auto bound = span_bound(s);
  out.resize(old + bound);
  char* p = out.data() + old;
  p = put(p, R"({"traceId":)");
  p = put_hex(p, s.context.trace_id);
  p = put(p, R"(,"spanId":)");
  p = put_hex(p, s.context.span_id);
  if (std::any_of(s.parent_span_id.begin(), s.parent_span_id.end(), [](std::uint8_t b) { return b != 0; })) {
    p = put(p, R"(,"parentSpanId":)");
    p = put_hex(p, s.parent_span_id);
  }
  if (!s.context.tracestate.empty()) {
    p = put(p, R"(,"traceState":)");
    p = write_json_string(p, s.context.tracestate);
  }
  p = put(p, R"(,"name":)");
  p = write_json_string(p, s.name);
  p = put(p, R"(,"kind":)");
  p = put_number(p, static_cast<int>(s.kind));
  p = put(p, R"(,"startTimeUnixNano":")");
  p = put_number(p, s.start_unix_ns);
  p = put(p, R"(","endTimeUnixNano":")");
  p = put_number(p, s.end_unix_ns);
  p = put(p, R"(","attributes":[)");
  bool first = true;
  for (const auto& a : s.attributes) {
    if (!first) *p++ = ',';
    first = false;
    p = put(p, R"({"key":)");
    p = write_json_string(p, a.key);
    p = put(p, R"(,"value":)");
    p = put_value(p, a.value);
    *p++ = '}';
  }
  *p++ = ']';
  if (s.status != StatusCode::unset) {
    p = put(p, R"(,"status":{"code":)");
    p = put_number(p, static_cast<int>(s.status));
    if (!s.status_message.empty()) {
      p = put(p, R"(,"message":)");
      p = write_json_string(p, s.status_message);
    }
    *p++ = '}';
  }
  *p++ = '}';
  if (p > out.data() + old + bound) std::abort();  // the bound is wrong: memory is already overwritten
  out.resize(static_cast<std::size_t>(p - out.data()));
}

}  // namespace

void append_otlp_span(std::string& out, const SpanData& span) { append_span(out, span); }

std::string otlp_json_around(std::string_view service, std::string_view spans) {
  std::string out;
  out.reserve(256 + service.size() + spans.size());
  out += R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":)";
  svckit::detail::append_json_string(out, service);
  out += R"(}}]},"scopeSpans":[{"scope":{"name":"svckit"},"spans":[)";
  out += spans;
  out += "]}]}]}";
  return out;
}

std::string otlp_json(std::string_view service, const std::vector<SpanData>& spans) {
  // Written directly: a DOM first cost a dozen allocations per span (5.5 us a span; see
  // bench/trace_bench.cpp).
  std::string list;
  list.reserve(512 * spans.size());
  for (std::size_t i = 0; i < spans.size(); ++i) {
    if (i > 0) list += ',';
    append_span(list, spans[i]);
  }
  return otlp_json_around(service, list);
}

Result<std::vector<ReceivedSpan>> parse_otlp_json(std::string_view body, const OtlpLimits& limits) {
  if (auto fast = detail::fast_otlp_json(body, limits)) return std::move(*fast);
  return parse_otlp_json_dom(body, limits);
}

Result<std::vector<ReceivedSpan>> parse_otlp_json_dom(std::string_view body, const OtlpLimits& limits) {
  auto parsed = parse_json(body);
  if (!parsed) return parsed.error();
  const auto& root = *parsed;
  if (!root.is_object()) return bad("body", "must be an ExportTraceServiceRequest object");
  static const json kNone = json::array();
  const auto* given = member(root, "resourceSpans");
  const auto& resources = given != nullptr ? *given : kNone;
  if (!resources.is_array()) return bad("resourceSpans", "must be an array");
  std::vector<ReceivedSpan> out;
  for (std::size_t r = 0; r < resources.size(); ++r) {
    const auto rs = "resourceSpans[" + std::to_string(r) + "]";
    if (!resources[r].is_object()) return bad(rs, "must be an object");
    const auto service = service_of(member_or_null(resources[r], "resource"));
    const auto* scopes_given = member(resources[r], "scopeSpans");
    const auto& scopes = scopes_given != nullptr ? *scopes_given : kNone;
    if (!scopes.is_array()) return bad(rs + ".scopeSpans", "must be an array");
    for (std::size_t s = 0; s < scopes.size(); ++s) {
      const auto ss = rs + ".scopeSpans[" + std::to_string(s) + "]";
      if (!scopes[s].is_object()) return bad(ss, "must be an object");
      const auto* spans_given = member(scopes[s], "spans");
      const auto& spans = spans_given != nullptr ? *spans_given : kNone;
      if (!spans.is_array()) return bad(ss + ".spans", "must be an array");
      for (std::size_t i = 0; i < spans.size(); ++i) {
        if (out.size() >= limits.max_spans) {
          return bad("resourceSpans", "more than " + std::to_string(limits.max_spans) + " spans in one request");
        }
        auto span = read_span(spans[i], ss + ".spans[" + std::to_string(i) + "]", limits);
        if (!span) return span.error();
        out.push_back(ReceivedSpan{service, std::move(*span)});
      }
    }
  }
  return out;
}

}  // namespace svckit::trace
