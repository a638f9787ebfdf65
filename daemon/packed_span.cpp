#include "daemon/packed_span.hpp"

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>

namespace svckit::daemon {

namespace {

char* put_text(char* out, std::string_view text) {
  if (!text.empty()) std::memcpy(out, text.data(), text.size());
  return out + text.size();
}

std::string_view get_text(const char*& in, std::size_t size) {
  const std::string_view text(in, size);
  in += size;
  return text;
}

constexpr std::size_t kMaxText = std::numeric_limits<std::uint32_t>::max();

}  // namespace

std::optional<PackedSpan> PackedSpan::pack(std::string_view service, const trace::SpanData& span) {
  const auto attributes = span.attributes.bytes();
  const std::size_t size = service.size() + span.name.size() + span.status_message.size() +
                           span.context.tracestate.size() + attributes.size();
  // Every size below is at most the total: one check covers them all.
  if (size > kMaxText) return std::nullopt;
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
  p.text_size_ = static_cast<std::uint32_t>(size);
  p.text_ = std::make_unique_for_overwrite<char[]>(size);
  char* out = p.text_.get();
  out = put_text(out, service);
  out = put_text(out, span.name);
  out = put_text(out, span.status_message);
  out = put_text(out, span.context.tracestate);
  put_text(out, attributes);
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
  // Packed by Attributes itself (pack() above): always well formed.
  if (auto attributes = trace::Attributes::from_bytes(std::string_view(in, text_.get() + text_size_ - in))) {
    s.attributes = std::move(*attributes);
  }
  return r;
}

}  // namespace svckit::daemon
