#include "http/plain_head.hpp"

#include <algorithm>
#include <array>
#include <cstring>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

namespace svckit::http::detail {

namespace {

using beast_http::field;

/// RFC 9110's tchar: what a method, a field name and a Connection token are made of.
constexpr std::array<bool, 256> kToken = [] {
  std::array<bool, 256> t{};
  for (int c = '0'; c <= '9'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'a'; c <= 'z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (int c = 'A'; c <= 'Z'; ++c) t[static_cast<std::size_t>(c)] = true;
  for (const char c : std::string_view("!#$%&'*+-.^_`|~")) t[static_cast<unsigned char>(c)] = true;
  return t;
}();

/// What a field value or a reason phrase may hold, as Beast's parser reads them: anything but the
/// control characters other than HTAB, and DEL (obs-text, 0x80-0xFF, is allowed).
constexpr std::array<bool, 256> kText = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<std::size_t>(c)] = (c >= 0x20 || c == '\t') && c != 0x7f;
  return t;
}();

/// What a request target may hold, as Beast's parser reads it: no controls, no space, no DEL.
constexpr std::array<bool, 256> kTarget = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<std::size_t>(c)] = c > 0x20 && c != 0x7f;
  return t;
}();

bool is_token(char c) noexcept { return kToken[static_cast<unsigned char>(c)]; }
bool is_text(char c) noexcept { return kText[static_cast<unsigned char>(c)]; }
bool is_target(char c) noexcept { return kTarget[static_cast<unsigned char>(c)]; }
bool is_space(char c) noexcept { return c == ' ' || c == '\t'; }

/// Whether every byte of [first, last) is text (kText), eight at a time: a word with no byte below
/// 0x20 and none equal to 0x7f is all text (obs-text has its high bit set and passes); a word that
/// may have one is checked byte by byte (a tab is text).
bool all_text(const char* first, const char* last) noexcept {
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL;
  constexpr std::uint64_t kHighs = 0x8080808080808080ULL;
  while (last - first >= 8) {
    std::uint64_t x = 0;
    std::memcpy(&x, first, 8);
    const std::uint64_t below_space = (x - 0x20 * kOnes) & ~x & kHighs;
    const std::uint64_t del = x ^ (0x7f * kOnes);
    if ((below_space | ((del - kOnes) & ~del & kHighs)) != 0) {
      for (int i = 0; i < 8; ++i) {
        if (!is_text(first[i])) return false;
      }
    }
    first += 8;
  }
  for (; first < last; ++first) {
    if (!is_text(*first)) return false;
  }
  return true;
}

bool iequals(std::string_view a, std::string_view lower) noexcept {
  if (a.size() != lower.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const char c = a[i] >= 'A' && a[i] <= 'Z' ? static_cast<char>(a[i] - 'A' + 'a') : a[i];
    if (c != lower[i]) return false;
  }
  return true;
}

constexpr unsigned kClose = 1;
constexpr unsigned kKeepAlive = 2;

/// A Connection value's options, when it is a plain list of tokens (`token *(OWS "," OWS token)`);
/// nullopt for anything else (empty elements, other characters, an `upgrade`), which Beast reads.
std::optional<unsigned> connection_options(std::string_view value) noexcept {
  unsigned flags = 0;
  std::size_t i = 0;
  for (;;) {
    const std::size_t start = i;
    while (i < value.size() && is_token(value[i])) ++i;
    if (i == start) return std::nullopt;
    const auto option = value.substr(start, i - start);
    if (iequals(option, "close")) {
      flags |= kClose;
    } else if (iequals(option, "keep-alive")) {
      flags |= kKeepAlive;
    } else if (iequals(option, "upgrade")) {
      return std::nullopt;
    }
    while (i < value.size() && is_space(value[i])) ++i;
    if (i == value.size()) return flags;
    if (value[i] != ',') return std::nullopt;
    ++i;
    while (i < value.size() && is_space(value[i])) ++i;
  }
}

/// A Content-Length of 1 to 19 digits (no sign, no list, no overflow); nullopt otherwise.
std::optional<std::uint64_t> plain_length(std::string_view value) noexcept {
  if (value.empty() || value.size() > 19) return std::nullopt;
  std::uint64_t n = 0;
  for (const char c : value) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return n;
}

/// "HTTP/1.0" or "HTTP/1.1" at `p` (8 bytes there): 10 or 11, else 0.
int version_at(const char* p) noexcept {
  if (std::memcmp(p, "HTTP/1.", 7) != 0) return 0;
  return p[7] == '1' ? 11 : p[7] == '0' ? 10 : 0;
}

/// Beast's id for a field name: the names nearly every message carries, spelled as servers and
/// clients send them, by a compare of their bytes; any other spelling or name by Beast's lookup
/// (a hash and a case-insensitive compare, ~130 instructions).
field field_id(std::string_view name) noexcept {
  const auto is = [name](std::string_view known) { return std::memcmp(name.data(), known.data(), known.size()) == 0; };
  switch (name.size()) {
    case 4:
      if (is("Host")) return field::host;
      if (is("Date")) return field::date;
      break;
    case 6:
      if (is("Server")) return field::server;
      if (is("Accept")) return field::accept;
      break;
    case 10:
      if (is("Connection")) return field::connection;
      if (is("User-Agent")) return field::user_agent;
      break;
    case 12:
      if (is("Content-Type")) return field::content_type;
      break;
    case 14:
      if (is("Content-Length")) return field::content_length;
      break;
    default:
      break;
  }
  return beast_http::string_to_field(name);
}

/// What the fields said that the parser interprets.
struct FieldFacts {
  std::optional<std::uint64_t> content_length;
  unsigned connection = 0;  // kClose | kKeepAlive
};

/// Parses the fields from `p` (just past the start line) to the blank line that ends `end`'s head
/// into `out`; false when they are not plain (see parse_plain_response_head).
bool parse_fields(const char* p, const char* end, beast_http::fields& out, FieldFacts& facts) {
  for (;;) {
    if (end - p < 2) return false;
    if (p[0] == '\r') return p[1] == '\n' && p + 2 == end;
    const char* const name_start = p;
    while (p < end && is_token(*p)) ++p;
    if (p == name_start || p == end || *p != ':') return false;
    const std::string_view name(name_start, static_cast<std::size_t>(p - name_start));
    ++p;
    while (p < end && is_space(*p)) ++p;
    const char* const value_start = p;
    const auto* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(end - p)));
    if (cr == nullptr || !all_text(p, cr)) return false;
    p = cr;
    // CRLF, and no obs-fold after it (a line that starts with a space or a tab continues the
    // value: Beast joins those).
    if (end - p < 3 || p[0] != '\r' || p[1] != '\n' || is_space(p[2])) return false;
    const char* value_end = p;
    while (value_end > value_start && is_space(value_end[-1])) --value_end;
    const std::string_view value(value_start, static_cast<std::size_t>(value_end - value_start));
    p += 2;

    const auto id = field_id(name);
    switch (id) {
      case field::content_length: {
        if (facts.content_length) return false;  // repeated: Beast decides
        facts.content_length = plain_length(value);
        if (!facts.content_length) return false;
        break;
      }
      case field::connection:
      case field::proxy_connection: {
        const auto options = connection_options(value);
        if (!options) return false;
        facts.connection |= *options;
        break;
      }
      case field::transfer_encoding:
      case field::upgrade:
        return false;
      default:
        break;
    }
    out.insert(id, name, value);
  }
}

bool keep_alive(int version, const FieldFacts& facts) noexcept {
  return version == 11 ? (facts.connection & kClose) == 0 : (facts.connection & kKeepAlive) != 0;
}

}  // namespace

std::size_t head_end(std::string_view bytes, std::size_t limit, std::size_t from) noexcept {
  const auto n = std::min({bytes.size(), kMaxPlainHead, limit});
  if (n < 4 || from >= n) return 0;
  const char* p = bytes.data() + from;
  const char* const last = p + n - 3;  // a match must start before this
  while (p < last) {
    const auto* cr = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(last - p)));
    if (cr == nullptr) return 0;
    if (cr[1] == '\n' && cr[2] == '\r' && cr[3] == '\n') return static_cast<std::size_t>(cr + 4 - bytes.data());
    p = cr + 1;
  }
  return 0;
}

std::optional<PlainHead> parse_plain_response_head(std::string_view head, bool head_request, Response& out) {
  // "HTTP/1.x DDD " — Beast takes 1.0 and 1.1 only, and requires the space after the status.
  if (head.size() < 17 || head.size() > kMaxPlainHead) return std::nullopt;
  const int version = version_at(head.data());
  if (version == 0 || head[8] != ' ' || head[12] != ' ') return std::nullopt;
  unsigned status = 0;
  for (std::size_t i = 9; i < 12; ++i) {
    if (head[i] < '0' || head[i] > '9') return std::nullopt;
    status = status * 10 + static_cast<unsigned>(head[i] - '0');
  }
  if (status < 200 || status > 599) return std::nullopt;  // 1xx and the unregistered: Beast's

  const char* p = head.data() + 13;
  const char* const end = head.data() + head.size();
  const char* const reason = p;
  while (p < end && is_text(*p)) ++p;
  if (end - p < 2 || p[0] != '\r' || p[1] != '\n') return std::nullopt;
  const std::string_view reason_text(reason, static_cast<std::size_t>(p - reason));
  p += 2;

  out.version(static_cast<unsigned>(version));
  out.result(status);
  // Beast keeps the reason it read; when it is the standard one (or empty) message::reason()
  // reads the same without it, and keeping it costs an allocation per answer.
  if (!reason_text.empty() && reason_text != beast_http::obsolete_reason(static_cast<Status>(status))) {
    out.reason(reason_text);
  }
  FieldFacts facts;
  if (!parse_fields(p, end, out, facts)) return std::nullopt;

  PlainHead plain;
  plain.head_bytes = head.size();
  plain.content_length = facts.content_length;
  if (!(head_request || status == 204 || status == 304)) {
    if (!facts.content_length) return std::nullopt;  // a body to the end of the stream: Beast's
    plain.body_bytes = *facts.content_length;
  }
  plain.keep_alive = keep_alive(version, facts);
  return plain;
}

std::optional<PlainHead> parse_plain_request_head(std::string_view head, RequestHead& out) {
  if (head.size() > kMaxPlainHead) return std::nullopt;
  const char* p = head.data();
  const char* const end = p + head.size();
  // method SP target SP HTTP/1.x CRLF
  const char* const method = p;
  while (p < end && is_token(*p)) ++p;
  if (p == method || p == end || *p != ' ') return std::nullopt;
  const auto verb = beast_http::string_to_verb(std::string_view(method, static_cast<std::size_t>(p - method)));
  if (verb == Verb::unknown) return std::nullopt;  // an extension method: Beast's
  const char* const target = ++p;
  while (p < end && is_target(*p)) ++p;
  if (p == target || end - p < 11 || *p != ' ') return std::nullopt;
  const std::string_view target_text(target, static_cast<std::size_t>(p - target));
  ++p;
  const int version = version_at(p);
  if (version == 0 || p[8] != '\r' || p[9] != '\n') return std::nullopt;
  p += 10;

  out.target(target_text);
  out.method(verb);
  out.version(static_cast<unsigned>(version));
  FieldFacts facts;
  if (!parse_fields(p, end, out, facts)) return std::nullopt;
  if (facts.content_length && *facts.content_length != 0) return std::nullopt;  // a body: Beast's

  PlainHead plain;
  plain.head_bytes = head.size();
  plain.content_length = facts.content_length;
  plain.keep_alive = keep_alive(version, facts);
  return plain;
}

}  // namespace svckit::http::detail
