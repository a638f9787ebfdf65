#include "daemon/packed_span.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

namespace svckit::daemon {

namespace {

// An attribute in the text: key size (4 bytes), key, type (1 byte), value — a string as its size
// (4 bytes) and bytes, an integer or double as 8 bytes, a bool as 1. Sizes and numbers in the
// machine's byte order: the text never leaves the process.
enum class Tag : std::uint8_t { text = 0, integer = 1, real = 2, boolean = 3 };

std::size_t value_size(const trace::AttributeValue& v) {
  if (const auto* s = std::get_if<std::string>(&v)) return 4 + s->size();
  if (std::holds_alternative<bool>(v)) return 1;
  return 8;
}

template <class T>
char* put(char* out, const T& value) {
  static_assert(std::is_trivially_copyable_v<T>);
  std::memcpy(out, &value, sizeof value);
  return out + sizeof value;
}

char* put_text(char* out, std::string_view text) {
  if (!text.empty()) std::memcpy(out, text.data(), text.size());
  return out + text.size();
}

template <class T>
T get(const char*& in) {
  T value;
  std::memcpy(&value, in, sizeof value);
  in += sizeof value;
  return value;
}

std::string_view get_text(const char*& in, std::size_t size) {
  const std::string_view text(in, size);
  in += size;
  return text;
}

constexpr std::size_t kMaxText = std::numeric_limits<std::uint32_t>::max();

}  // namespace

std::optional<PackedSpan> PackedSpan::pack(std::string_view service, const trace::SpanData& span) {
  std::size_t size = service.size() + span.name.size() + span.status_message.size() + span.context.tracestate.size();
  for (const auto& a : span.attributes) size += 4 + a.key.size() + 1 + value_size(a.value);
  // Every size below is at most the total: one check covers them all.
  if (size > kMaxText || span.attributes.size() > kMaxText) return std::nullopt;
  PackedSpan p;
  p.trace_id_ = span.context.trace_id;
  p.span_id_ = span.context.span_id;
  p.parent_span_id_ = span.parent_span_id;
  p.sampled_ = span.context.sampled;
  p.start_unix_ns_ = span.start_unix_ns;
  p.end_unix_ns_ = span.end_unix_ns;
  p.kind_ = span.kind;
  p.status_ = span.status;
  p.service_size_ = static_cast<std::uint32_t>(service.size());
  p.name_size_ = static_cast<std::uint32_t>(span.name.size());
  p.status_message_size_ = static_cast<std::uint32_t>(span.status_message.size());
  p.tracestate_size_ = static_cast<std::uint32_t>(span.context.tracestate.size());
  p.attribute_count_ = static_cast<std::uint32_t>(span.attributes.size());
  p.text_size_ = static_cast<std::uint32_t>(size);
  p.text_ = std::make_unique_for_overwrite<char[]>(size);
  char* out = p.text_.get();
  out = put_text(out, service);
  out = put_text(out, span.name);
  out = put_text(out, span.status_message);
  out = put_text(out, span.context.tracestate);
  for (const auto& a : span.attributes) {
    const auto key = a.key.view();
    out = put(out, static_cast<std::uint32_t>(key.size()));
    out = put_text(out, key);
    if (const auto* s = std::get_if<std::string>(&a.value)) {
      out = put(out, Tag::text);
      out = put(out, static_cast<std::uint32_t>(s->size()));
      out = put_text(out, *s);
    } else if (const auto* i = std::get_if<std::int64_t>(&a.value)) {
      out = put(out, Tag::integer);
      out = put(out, *i);
    } else if (const auto* d = std::get_if<double>(&a.value)) {
      out = put(out, Tag::real);
      out = put(out, *d);
    } else {
      out = put(out, Tag::boolean);
      out = put(out, static_cast<std::uint8_t>(std::get<bool>(a.value) ? 1 : 0));
    }
  }
  return p;
}

bool PackedSpan::root() const noexcept {
  return std::all_of(parent_span_id_.begin(), parent_span_id_.end(), [](std::uint8_t b) { return b == 0; });
}

trace::ReceivedSpan PackedSpan::unpack() const {
  trace::ReceivedSpan r;
  auto& s = r.span;
  s.context.trace_id = trace_id_;
  s.context.span_id = span_id_;
  s.context.sampled = sampled_;
  s.parent_span_id = parent_span_id_;
  s.start_unix_ns = start_unix_ns_;
  s.end_unix_ns = end_unix_ns_;
  s.kind = kind_;
  s.status = status_;
  const char* in = text_.get();
  r.service = get_text(in, service_size_);
  s.name = get_text(in, name_size_);
  s.status_message = get_text(in, status_message_size_);
  s.context.tracestate = get_text(in, tracestate_size_);
  s.attributes.reserve(attribute_count_);
  for (std::uint32_t i = 0; i < attribute_count_; ++i) {
    trace::Attribute a;
    a.key = trace::AttributeKey(std::string(get_text(in, get<std::uint32_t>(in))));
    switch (get<Tag>(in)) {
      case Tag::text:
        a.value = std::string(get_text(in, get<std::uint32_t>(in)));
        break;
      case Tag::integer:
        a.value = get<std::int64_t>(in);
        break;
      case Tag::real:
        a.value = get<double>(in);
        break;
      case Tag::boolean:
        a.value = get<std::uint8_t>(in) != 0;
        break;
    }
    s.attributes.push_back(std::move(a));
  }
  return r;
}

}  // namespace svckit::daemon
