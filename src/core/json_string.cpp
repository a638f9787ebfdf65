#include "core/json_string.hpp"

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

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out += '"';
  std::size_t run = 0;  // start of the pending run of bytes written as they are
  std::size_t i = 0;
  while (i < text.size()) {
    const auto u = static_cast<unsigned char>(text[i]);
    if (u >= 0x20 && u < 0x80 && u != '"' && u != '\\') {
      ++i;
      continue;
    }
    if (u >= 0x80) {
      if (const auto n = utf8_sequence(text, i); n > 0) {
        i += n;
        continue;
      }
    }
    out.append(text.data() + run, i - run);
    if (u == '"' || u == '\\') {
      out += '\\';
      out += static_cast<char>(u);
    } else if (u < 0x20) {
      out += "\\u00";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += "\\ufffd";  // not UTF-8
    }
    run = ++i;
  }
  out.append(text.data() + run, text.size() - run);
  out += '"';
}

}  // namespace svckit::detail
