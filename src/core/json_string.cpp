#include "core/json_string.hpp"

#include <algorithm>
#include <array>
#include <cstring>

namespace svckit::detail {

namespace {

/// The length of the well-formed UTF-8 sequence at `text[i]` (a lead byte >= 0x80), or 0.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(text[k]); };
  const auto lead = byte(i);
  std::size_t n = 0;
  unsigned char low = 0x80;  // the second byte's range (narrower after some leads)
  unsigned char high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) {
    n = 2;
  } else if (lead >= 0xe0 && lead <= 0xef) {
    n = 3;
    if (lead == 0xe0) low = 0xa0;   // no overlong forms
    if (lead == 0xed) high = 0x9f;  // no surrogates
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    n = 4;
    if (lead == 0xf0) low = 0x90;   // no overlong forms
    if (lead == 0xf4) high = 0x8f;  // nothing past U+10FFFF
  } else {
    return 0;
  }
  if (i + n > text.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (std::size_t k = 2; k < n; ++k) {
    if (byte(i + k) < 0x80 || byte(i + k) > 0xbf) return 0;
  }
  return n;
}

/// For each byte, whether it is written as it is (no escape, no UTF-8 check): one load per byte.
constexpr std::array<bool, 256> kPlain = [] {
  std::array<bool, 256> plain{};
  for (int u = 0x20; u < 0x80; ++u) plain[static_cast<std::size_t>(u)] = u != '"' && u != '\\';
  return plain;
}();

constexpr bool plain_byte(unsigned char u) noexcept { return kPlain[u]; }

}  // namespace

char* write_json_string(char* p, std::string_view text) noexcept {
  static constexpr char kHex[] = "0123456789abcdef";
  *p++ = '"';
  std::size_t run = 0;  // start of the pending run of bytes written as they are
  std::size_t i = 0;
  const auto flush = [&] {
    if (i == run) return;  // nothing pending (and a default string_view's null data never reaches memcpy)
    std::memcpy(p, text.data() + run, i - run);
    p += i - run;
  };
  while (i < text.size()) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (plain_byte(u)) {
      ++i;
      continue;
    }
    if (u >= 0x80) {
      if (const auto n = utf8_sequence(text, i); n > 0) {
        i += n;
        continue;
      }
    }
    flush();
    if (u == '"' || u == '\\') {
      *p++ = '\\';
      *p++ = static_cast<char>(u);
    } else if (u < 0x20) {
      constexpr std::string_view kControl = "\\u00";
      p = std::copy(kControl.begin(), kControl.end(), p);
      *p++ = kHex[u >> 4];
      *p++ = kHex[u & 15];
    } else {
      constexpr std::string_view kReplacement = "\\ufffd";  // not UTF-8
      p = std::copy(kReplacement.begin(), kReplacement.end(), p);
    }
    run = ++i;
  }
  flush();
  *p++ = '"';
  return p;
}

void append_json_string(std::string& out, std::string_view text) {
  // Most text needs no escape: appended as it is, without sizing for the worst case.
  if (std::all_of(text.begin(), text.end(), [](char c) { return plain_byte(static_cast<unsigned char>(c)); })) {
    out.reserve(out.size() + text.size() + 2);
    out += '"';
    out += text;
    out += '"';
    return;
  }
  const auto old = out.size();
  out.resize(old + json_string_bound(text));
  char* end = write_json_string(out.data() + old, text);
  out.resize(static_cast<std::size_t>(end - out.data()));
}

}  // namespace svckit::detail
