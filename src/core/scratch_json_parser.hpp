// ScratchJsonParser: the simdjson DOM parser (and its buffers) a thread's decoders reuse (the registry
// backends' answers, OTLP batches).
//
// A fresh simdjson::dom::parser allocates its tape, string and input buffers (about 15 bytes per
// byte of JSON) for every answer, and the first touch of that fresh memory — page faults — cost
// more than the parse itself on the watch path (a consul:// blocking query answers with the
// whole service every time). One parser per thread keeps its buffers between answers and grows
// them by half again when an answer does not fit (simdjson alone grows them to the exact size,
// which a service growing by one instance per answer would pay on every answer). Only answers up
// to kKeepBytes use the kept buffers (at most ~15 MiB per thread); a larger one gets buffers of
// its own lease, as a fresh parser would.
//
// Thread-safety: each thread has its own parser; a lease taken while another lease of the same
// thread is alive (a decoder called from a decoder) gets buffers of its own instead.
// Contract: the elements a parse returns live until the lease ends or its next parse.
#pragma once

#include <simdjson.h>

#include <algorithm>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace svckit::detail {

class ScratchJsonParser {
 public:
  /// The largest answer the kept buffers take.
  static constexpr std::size_t kKeepBytes = std::size_t{1} << 20;

  ScratchJsonParser() {
    if (!slot().in_use) {
      slot().in_use = true;
      if (!slot().buffers) slot().buffers = std::make_unique<Buffers>();
      buffers_ = slot().buffers.get();
    } else {
      own_ = std::make_unique<Buffers>();
      buffers_ = own_.get();
    }
  }
  ~ScratchJsonParser() {
    if (!own_) slot().in_use = false;
  }
  ScratchJsonParser(const ScratchJsonParser&) = delete;
  ScratchJsonParser& operator=(const ScratchJsonParser&) = delete;

  /// Parses `text` (copied into the padded input buffer simdjson reads ahead in).
  simdjson::simdjson_result<simdjson::dom::element> parse(std::string_view text) {
    if (text.size() > kKeepBytes && !own_) {  // too big to keep: buffers of this lease only
      slot().in_use = false;
      own_ = std::make_unique<Buffers>();
      buffers_ = own_.get();
    }
    auto& b = *buffers_;
    if (!b.input || text.size() > b.fits) {
      const auto room = own_ ? text.size() : std::min(kKeepBytes, text.size() + text.size() / 2 + 4096);
      if (const auto error = b.parser.allocate(room); error != simdjson::SUCCESS) return error;
      if (const auto error = b.document.allocate(room); error != simdjson::SUCCESS) return error;
      b.input.reset(new char[room + simdjson::SIMDJSON_PADDING]);  // not filled: written below as used
      b.fits = room;
    }
    std::copy(text.begin(), text.end(), b.input.get());
    std::fill_n(b.input.get() + text.size(), simdjson::SIMDJSON_PADDING, ' ');
    return b.parser.parse_into_document(b.document, b.input.get(), text.size(), false);
  }

 private:
  struct Buffers {
    simdjson::dom::parser parser;
    simdjson::dom::document document;
    std::unique_ptr<char[]> input;  // the text and SIMDJSON_PADDING bytes after it
    std::size_t fits = 0;           // the largest text all three take without growing
  };
  struct Slot {
    std::unique_ptr<Buffers> buffers;
    bool in_use = false;
  };
  static Slot& slot() {
    thread_local Slot s;
    return s;
  }

  Buffers* buffers_ = nullptr;
  std::unique_ptr<Buffers> own_;
};

}  // namespace svckit::detail
