#include "trace/otlp_decode_fast.hpp"

#include <charconv>
#include <cstdint>
#include <limits>

#include "core/scratch_json_parser.hpp"
#include "svckit/core/instance_json.hpp"

namespace svckit::trace::detail {

namespace {

namespace sd = simdjson::dom;
using simdjson::SUCCESS;

/// Set while a member is read: a second member of the same name makes the caller give up (the DOM
/// keeps the last one; this path does not guess).
class Seen {
 public:
  bool first(unsigned bit) {
    if ((mask_ & bit) != 0) return false;
    mask_ |= bit;
    return true;
  }

 private:
  unsigned mask_ = 0;
};

bool text_of(sd::element v, std::string_view& out) { return v.get_string().get(out) == SUCCESS; }

std::string clipped(std::string_view text, std::size_t max) { return std::string(text.substr(0, max)); }

/// As the DOM path's read_nanos: a non-negative integer, or its decimal string.
bool nanos_of(sd::element v, std::int64_t& out) {
  if (v.is_int64()) return v.get_int64().get(out) == SUCCESS && out >= 0;
  std::string_view text;
  if (!text_of(v, text)) return false;
  const auto n = decimal_int64(text);
  if (!n || *n < 0) return false;
  out = *n;
  return true;
}

template <std::size_t N>
bool id_of(sd::element v, std::array<std::uint8_t, N>& out) {
  std::string_view text;
  return text_of(v, text) && from_hex(text, out);
}

/// An AnyValue with exactly one of the four kinds the DOM path keeps as values.
std::optional<AttributeValue> value_of(sd::element v, std::size_t max_string) {
  sd::object object;
  if (v.get_object().get(object) != SUCCESS || object.size() != 1) return std::nullopt;
  const auto member = *object.begin();
  const std::string_view kind = member.key;
  if (kind == "stringValue") {
    std::string_view text;
    if (!text_of(member.value, text)) return std::nullopt;
    return AttributeValue{clipped(text, max_string)};
  }
  if (kind == "boolValue") {
    bool b = false;
    if (member.value.get_bool().get(b) != SUCCESS) return std::nullopt;
    return AttributeValue{b};
  }
  if (kind == "intValue") {
    std::int64_t n = 0;
    if (member.value.is_int64())
      return member.value.get_int64().get(n) == SUCCESS ? std::optional(AttributeValue{n}) : std::nullopt;
    std::string_view text;
    if (!text_of(member.value, text)) return std::nullopt;
    const auto parsed = decimal_int64(text);
    if (!parsed) return std::nullopt;
    return AttributeValue{*parsed};
  }
  if (kind == "doubleValue") {
    double d = 0;
    if (member.value.is_double() || member.value.is_int64()) {
      if (member.value.get_double().get(d) != SUCCESS) return std::nullopt;
      return AttributeValue{d};
    }
    std::string_view text;
    if (!text_of(member.value, text)) return std::nullopt;
    const auto word = double_word(text);
    if (!word) return std::nullopt;
    return AttributeValue{*word};
  }
  return std::nullopt;
}

bool attributes_of(sd::element v, const OtlpLimits& limits, Attributes& out) {
  if (v.is_null()) return true;
  sd::array list;
  if (v.get_array().get(list) != SUCCESS || list.size() > limits.max_attributes) return false;
  for (const auto item : list) {
    sd::object a;
    if (item.get_object().get(a) != SUCCESS) return false;
    Seen seen;
    std::string_view key;
    std::optional<AttributeValue> value;
    bool has_key = false;
    for (const auto m : a) {
      if (m.key == "key") {
        if (!seen.first(1) || !text_of(m.value, key)) return false;
        has_key = true;
      } else if (m.key == "value") {
        if (!seen.first(2) || !(value = value_of(m.value, limits.max_string))) return false;
      }
    }
    if (!has_key || !value) return false;
    out.append(key, *value);
  }
  return true;
}

std::optional<SpanData> span_of(sd::element v, const OtlpLimits& limits) {
  sd::object object;
  if (v.get_object().get(object) != SUCCESS) return std::nullopt;
  SpanData out;
  out.context.sampled = true;
  Seen seen;
  bool has_trace = false, has_span = false, has_name = false, has_start = false, has_end = false;
  for (const auto m : object) {
    const std::string_view key = m.key;
    if (key == "traceId") {
      if (!seen.first(1) || !id_of(m.value, out.context.trace_id)) return std::nullopt;
      has_trace = true;
    } else if (key == "spanId") {
      if (!seen.first(2) || !id_of(m.value, out.context.span_id)) return std::nullopt;
      has_span = true;
    } else if (key == "parentSpanId") {
      if (!seen.first(4)) return std::nullopt;
      std::string_view text;
      if (m.value.is_null() || (text_of(m.value, text) && text.empty())) continue;
      if (!id_of(m.value, out.parent_span_id)) return std::nullopt;
    } else if (key == "traceState") {
      if (!seen.first(8)) return std::nullopt;
      if (m.value.is_null()) continue;
      std::string_view text;
      if (!text_of(m.value, text) || !valid_tracestate(text)) return std::nullopt;
      out.context.tracestate = std::string(text);
    } else if (key == "name") {
      std::string_view text;
      if (!seen.first(16) || !text_of(m.value, text)) return std::nullopt;
      out.name = clipped(text, limits.max_string);
      has_name = true;
    } else if (key == "kind") {
      std::int64_t kind = 0;
      if (!seen.first(32) || !m.value.is_int64() || m.value.get_int64().get(kind) != SUCCESS || kind < 0 || kind > 5) {
        return std::nullopt;
      }
      out.kind = static_cast<SpanKind>(std::max<std::int64_t>(1, kind));
    } else if (key == "startTimeUnixNano") {
      if (!seen.first(64) || !nanos_of(m.value, out.start_unix_ns)) return std::nullopt;
      has_start = true;
    } else if (key == "endTimeUnixNano") {
      if (!seen.first(128) || !nanos_of(m.value, out.end_unix_ns)) return std::nullopt;
      has_end = true;
    } else if (key == "attributes") {
      if (!seen.first(256) || !attributes_of(m.value, limits, out.attributes)) return std::nullopt;
    } else if (key == "status") {
      if (!seen.first(512)) return std::nullopt;
      sd::object status;
      if (m.value.get_object().get(status) != SUCCESS) continue;  // not an object: the DOM path ignores it too
      Seen seen_status;
      for (const auto s : status) {
        if (s.key == "code") {
          std::int64_t code = 0;
          if (!seen_status.first(1) || !s.value.is_int64() || s.value.get_int64().get(code) != SUCCESS || code < 0 ||
              code > 2) {
            return std::nullopt;
          }
          out.status = static_cast<StatusCode>(code);
        } else if (s.key == "message") {
          std::string_view text;
          if (!seen_status.first(2) || !text_of(s.value, text)) return std::nullopt;
          out.status_message = clipped(text, limits.max_string);
        }
      }
    }
  }
  if (!has_trace || !has_span || !has_name || !has_start || !has_end || !out.context.valid() ||
      out.end_unix_ns < out.start_unix_ns) {
    return std::nullopt;
  }
  return out;
}

/// The member `key` of an object that has it at most once (false: twice — the DOM path would
/// take the last one). `out` stays unset when it is missing.
bool only(sd::object object, std::string_view key, std::optional<sd::element>& out) {
  for (const auto m : object) {
    if (m.key != key) continue;
    if (out) return false;
    out = m.value;
  }
  return true;
}

/// service.name among a resource's attributes, as the DOM path finds it: the first attribute
/// keyed so; its stringValue, or "" when it has none. False: an ambiguous member (given twice).
bool service_of(sd::element resource, std::string& out) {
  sd::object object;
  if (resource.get_object().get(object) != SUCCESS) return true;
  std::optional<sd::element> attributes;
  if (!only(object, "attributes", attributes)) return false;
  sd::array list;
  if (!attributes || attributes->get_array().get(list) != SUCCESS) return true;
  for (const auto a : list) {
    sd::object attribute;
    if (a.get_object().get(attribute) != SUCCESS) continue;
    std::optional<sd::element> key, value, name;
    std::string_view text;
    if (!only(attribute, "key", key)) return false;
    if (!key || !text_of(*key, text) || text != "service.name") continue;
    if (!only(attribute, "value", value)) return false;
    sd::object value_object;
    if (!value || value->get_object().get(value_object) != SUCCESS) return true;
    if (!only(value_object, "stringValue", name)) return false;
    if (name && text_of(*name, text)) out = std::string(text);
    return true;
  }
  return true;
}

}  // namespace

std::optional<std::int64_t> decimal_int64(std::string_view text) {
  std::int64_t n = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return std::nullopt;
  return n;
}

std::optional<double> double_word(std::string_view text) {
  if (text == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (text == "Infinity") return std::numeric_limits<double>::infinity();
  if (text == "-Infinity") return -std::numeric_limits<double>::infinity();
  return std::nullopt;
}

std::optional<std::vector<ReceivedSpan>> fast_otlp_json(std::string_view body, const OtlpLimits& limits) {
  if (json_too_deep_at(body)) return std::nullopt;
  svckit::detail::ScratchJsonParser parser;
  sd::element root;
  if (parser.parse(body).get(root) != SUCCESS) return std::nullopt;
  sd::object top;
  sd::array resources;
  if (root.get_object().get(top) != SUCCESS || top.size() != 1 ||
      top.at_key("resourceSpans").get_array().get(resources) != SUCCESS) {
    return std::nullopt;
  }
  std::vector<ReceivedSpan> out;
  for (const auto r : resources) {
    sd::object resource;
    if (r.get_object().get(resource) != SUCCESS) return std::nullopt;
    std::string service;
    Seen seen;
    sd::array scopes;
    bool has_scopes = false;
    for (const auto m : resource) {
      if (m.key == "resource") {
        if (!seen.first(1) || !service_of(m.value, service)) return std::nullopt;
      } else if (m.key == "scopeSpans") {
        if (!seen.first(2) || m.value.get_array().get(scopes) != SUCCESS) return std::nullopt;
        has_scopes = true;
      }
    }
    if (!has_scopes) return std::nullopt;
    for (const auto s : scopes) {
      sd::object scope;
      if (s.get_object().get(scope) != SUCCESS) return std::nullopt;
      Seen seen_scope;
      sd::array spans;
      bool has_spans = false;
      for (const auto m : scope) {
        if (m.key != "spans") continue;
        if (!seen_scope.first(1) || m.value.get_array().get(spans) != SUCCESS) return std::nullopt;
        has_spans = true;
      }
      if (!has_spans) return std::nullopt;
      for (const auto element : spans) {
        if (out.size() >= limits.max_spans) return std::nullopt;
        auto span = span_of(element, limits);
        if (!span) return std::nullopt;
        out.push_back(ReceivedSpan{service, std::move(*span)});
      }
    }
  }
  return out;
}

}  // namespace svckit::trace::detail
