// A span as svckitd's trace store keeps it: the fixed fields inline and all of its text — service,
// name, status message, tracestate, every attribute's key and value — in one allocation. Keeping a
// span costs one allocation of its exact size (a SpanData holds a string per text field and an
// attribute buffer with room to spare), and the attributes' packed form is copied whole; dropping one frees one block
// without walking its attributes: the store evicts traces that were written long before, whose
// memory is cold by then, so an eviction that walked them cost more than the insert itself.
//
// Value type, move-only. pack() then unpack() gives back the span as it was (attributes in their
// order, values with their types).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "svckit/trace/otlp_json.hpp"
#include "svckit/trace/tracer.hpp"

namespace svckit::daemon {

class PackedSpan {
 public:
  /// nullopt when its text is 4 GiB or more (the store drops such a span; OTLP's limits and
  /// svckitd's body limit keep real ones far below).
  static std::optional<PackedSpan> pack(std::string_view service, const trace::SpanData& span);
  trace::ReceivedSpan unpack() const;

  const std::array<std::uint8_t, 16>& trace_id() const noexcept { return trace_id_; }
  std::string_view service() const noexcept { return {text_.get(), service_size_}; }
  std::string_view name() const noexcept { return {text_.get() + service_size_, name_size_}; }
  bool root() const noexcept;
  std::int64_t start_unix_ns() const noexcept { return start_unix_ns_; }
  std::int64_t end_unix_ns() const noexcept { return end_unix_ns_; }
  trace::StatusCode status() const noexcept { return status_; }
  /// What keeping it takes: this object and its text.
  std::size_t weight() const noexcept { return sizeof(PackedSpan) + text_size_; }

 private:
  std::array<std::uint8_t, 16> trace_id_{};
  std::array<std::uint8_t, 8> span_id_{};
  std::array<std::uint8_t, 8> parent_span_id_{};
  std::int64_t start_unix_ns_ = 0;
  std::int64_t end_unix_ns_ = 0;
  // service, name, status message, tracestate, then the attributes' packed form (Attributes::bytes).
  std::unique_ptr<char[]> text_;
  std::uint32_t text_size_ = 0;
  std::uint32_t service_size_ = 0;
  std::uint32_t name_size_ = 0;
  std::uint32_t status_message_size_ = 0;
  std::uint32_t tracestate_size_ = 0;
  trace::SpanKind kind_ = trace::SpanKind::internal;
  trace::StatusCode status_ = trace::StatusCode::unset;
  bool sampled_ = false;
};

}  // namespace svckit::daemon
