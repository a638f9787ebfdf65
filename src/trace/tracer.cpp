#include "svckit/trace/tracer.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

namespace svckit::trace {

namespace {

constexpr char kHex[] = "0123456789abcdef";

/// Room for a span's attributes from its start: the HTTP conventions' usual eight or so take
/// 250-400 bytes packed, so one allocation holds them.
constexpr std::size_t kAttributeBytes = 448;

template <std::size_t N>
std::string hex(const std::array<std::uint8_t, N>& bytes) {
  std::string out(2 * N, '0');
  for (std::size_t i = 0; i < N; ++i) {
    out[2 * i] = kHex[bytes[i] >> 4];
    out[2 * i + 1] = kHex[bytes[i] & 0xf];
  }
  return out;
}

int hex_value(char c, bool upper_too) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (upper_too && c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// `upper_too` false: lower case only, as traceparent requires.
template <std::size_t N>
bool unhex(std::string_view text, std::array<std::uint8_t, N>& out, bool upper_too = false) {
  if (text.size() != 2 * N) return false;
  for (std::size_t i = 0; i < N; ++i) {
    const int hi = hex_value(text[2 * i], upper_too);
    const int lo = hex_value(text[2 * i + 1], upper_too);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<std::uint8_t>(hi << 4 | lo);
  }
  return true;
}

template <std::size_t N>
bool all_zero(const std::array<std::uint8_t, N>& bytes) {
  return std::all_of(bytes.begin(), bytes.end(), [](std::uint8_t b) { return b == 0; });
}

template <std::size_t N>
void fill(Random& random, std::array<std::uint8_t, N>& out) {
  do {
    for (std::size_t i = 0; i < N; i += 8) {
      auto v = random.next_u64();
      for (std::size_t j = i; j < std::min(N, i + 8); ++j, v >>= 8) out[j] = static_cast<std::uint8_t>(v);
    }
  } while (all_zero(out));
}

}  // namespace

std::string to_hex(const std::array<std::uint8_t, 16>& id) { return hex(id); }
std::string to_hex(const std::array<std::uint8_t, 8>& id) { return hex(id); }
bool from_hex(std::string_view text, std::array<std::uint8_t, 16>& out) { return unhex(text, out, true); }
bool from_hex(std::string_view text, std::array<std::uint8_t, 8>& out) { return unhex(text, out, true); }

bool SpanContext::valid() const noexcept { return !all_zero(trace_id) && !all_zero(span_id); }
std::string SpanContext::trace_id_hex() const { return hex(trace_id); }
std::string SpanContext::span_id_hex() const { return hex(span_id); }
namespace {

/// The two lower-case hex digits of every byte value, so a byte is written with one copy.
constexpr std::array<std::array<char, 2>, 256> kHexPairs = [] {
  std::array<std::array<char, 2>, 256> pairs{};
  for (std::size_t b = 0; b < 256; ++b) pairs[b] = {kHex[b >> 4], kHex[b & 0xf]};
  return pairs;
}();

template <std::size_t N>
char* write_hex(char* p, const std::array<std::uint8_t, N>& bytes) noexcept {
  for (const auto b : bytes) {
    std::memcpy(p, kHexPairs[b].data(), 2);
    p += 2;
  }
  return p;
}

}  // namespace

char* write_hex16(char* out, std::uint64_t v) noexcept {
  for (int shift = 56; shift >= 0; shift -= 8) {
    std::memcpy(out, kHexPairs[(v >> shift) & 0xff].data(), 2);
    out += 2;
  }
  return out;
}

SpanContext::TraceparentText SpanContext::traceparent_text() const noexcept {
  TraceparentText out;  // "00-" 32 hex "-" 16 hex "-" flags
  out[0] = out[1] = out[53] = '0';
  out[2] = out[35] = out[52] = '-';
  out[54] = sampled ? '1' : '0';
  write_hex(write_hex(out.data() + 3, trace_id) + 1, span_id);
  return out;
}

std::string SpanContext::traceparent() const {
  const auto text = traceparent_text();
  return std::string(text.data(), text.size());
}

std::optional<SpanContext> parse_traceparent(std::string_view header) {
  // version "-" trace-id "-" parent-id "-" flags; a later version may append "-..." fields.
  if (header.size() < 55 || header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  std::array<std::uint8_t, 1> version{};
  std::array<std::uint8_t, 1> flags{};
  SpanContext out;
  if (!unhex(header.substr(0, 2), version) || version[0] == 0xff) return std::nullopt;
  if (version[0] == 0 && header.size() != 55) return std::nullopt;
  if (header.size() > 55 && header[55] != '-') return std::nullopt;
  if (!unhex(header.substr(3, 32), out.trace_id) || !unhex(header.substr(36, 16), out.span_id) ||
      !unhex(header.substr(53, 2), flags) || !out.valid()) {
    return std::nullopt;
  }
  out.sampled = (flags[0] & 1) != 0;
  return out;
}

bool valid_tracestate(std::string_view value) {
  if (value.size() > 512) return false;
  std::size_t members = 0;
  while (!value.empty()) {
    const auto comma = value.find(',');
    std::string_view member = value.substr(0, comma);
    value = comma == std::string_view::npos ? std::string_view() : value.substr(comma + 1);
    while (!member.empty() && (member.front() == ' ' || member.front() == '\t')) member.remove_prefix(1);
    while (!member.empty() && (member.back() == ' ' || member.back() == '\t')) member.remove_suffix(1);
    if (member.empty()) continue;  // empty members are allowed and ignored
    if (++members > 32) return false;
    const auto eq = member.find('=');
    if (eq == 0 || eq == std::string_view::npos || eq > 256 || member.size() - eq - 1 > 256) return false;
    const auto key = member.substr(0, eq);
    const auto val = member.substr(eq + 1);
    const auto key_char = [](char c) {
      return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '*' || c == '/' ||
             c == '@';
    };
    if (!((key[0] >= 'a' && key[0] <= 'z') || (key[0] >= '0' && key[0] <= '9'))) return false;
    if (!std::all_of(key.begin(), key.end(), key_char)) return false;
    if (val.empty() || val.back() == ' ') return false;
    for (const char c : val) {
      if (c < 0x20 || c > 0x7e || c == ',' || c == '=') return false;
    }
  }
  return true;
}

std::optional<SpanContext> parse_trace_context(std::string_view traceparent, std::string_view tracestate) {
  auto context = parse_traceparent(traceparent);
  if (context && !tracestate.empty() && valid_tracestate(tracestate)) context->tracestate = std::string(tracestate);
  return context;
}

Span::Span(Span&& other) noexcept : tracer_(std::exchange(other.tracer_, nullptr)), data_(std::move(other.data_)) {}

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    end();
    tracer_ = std::exchange(other.tracer_, nullptr);
    data_ = std::move(other.data_);
  }
  return *this;
}

void Span::set_status(StatusCode code, std::string message) {
  if (!recording()) return;
  // OpenTelemetry: ok is final; a message belongs to an error only.
  if (data_.status == StatusCode::ok) return;
  data_.status = code;
  data_.status_message = code == StatusCode::error ? std::move(message) : std::string();
}

void Span::set_name(std::string name) {
  if (recording()) data_.name = std::move(name);
}

void Span::end() {
  const Tracer* tracer = std::exchange(tracer_, nullptr);
  if (tracer == nullptr || !data_.context.sampled || tracer->sink_ == nullptr) return;
  data_.end_unix_ns = std::max(tracer->now_unix_ns(), data_.start_unix_ns);
  tracer->sink_->on_end(std::move(data_));
}

Tracer::Tracer(const TimeSource& time, Random& random, TracerOptions options, SpanSink* sink)
    : time_(time), random_(random), options_(options), sink_(sink) {
  options_.sample_ratio = std::clamp(options_.sample_ratio, 0.0, 1.0);
}

std::int64_t Tracer::now_unix_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(time_.system_now().time_since_epoch()).count();
}

Span Tracer::start_span(std::string name, SpanKind kind, const std::optional<SpanContext>& parent) const {
  Span span;
  start_span(span, std::move(name), kind, parent);
  return span;
}

void Tracer::start_span(Span& span, std::string name, SpanKind kind, const std::optional<SpanContext>& parent) const {
  span.end();
  span.tracer_ = this;
  auto& d = span.data_;
  d.name = std::move(name);
  d.kind = kind;
  d.end_unix_ns = 0;
  d.attributes.clear();
  d.status = StatusCode::unset;
  d.status_message.clear();
  if (parent && parent->valid()) {
    d.context.trace_id = parent->trace_id;
    d.parent_span_id = parent->span_id;
    d.context.sampled = parent->sampled;
    d.context.tracestate = parent->tracestate;
  } else {
    d.parent_span_id = {};
    d.context.tracestate.clear();
    fill(random_, d.context.trace_id);
    // TraceIdRatioBased: the trace id's low 8 bytes against the ratio, so every process agrees.
    std::uint64_t low = 0;
    for (std::size_t i = 8; i < 16; ++i) low = low << 8 | d.context.trace_id[i];
    d.context.sampled = static_cast<double>(low >> 11) * 0x1.0p-53 < options_.sample_ratio;
  }
  fill(random_, d.context.span_id);
  d.start_unix_ns = 0;
  if (d.context.sampled) {  // an unsampled span is never exported
    d.start_unix_ns = now_unix_ns();
    d.attributes.reserve(kAttributeBytes);
  }
}

}  // namespace svckit::trace
