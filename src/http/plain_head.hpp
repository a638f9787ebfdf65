// Message heads parsed in one pass over bytes a connection already holds, for the hot paths: the
// pooled client's answers and the streaming server's requests (the gateway). Beast's parser takes
// a head field by field through a state machine (each name and value scanned, then the field's
// name looked up again and its value re-scanned for the fields it interprets); this takes a head
// only once it is whole in the buffer and scans each byte once. It takes only plain heads — the
// common message of a keep-alive peer — and declines everything else, so Beast's parser, reading
// the same bytes, gives the message or the error for those: what is taken comes out exactly as
// Beast's parser makes it (a differential test and a fuzz target hold it to that). Internal to http/.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "svckit/http/types.hpp"

namespace svckit::http::detail {

/// The most head bytes the fast path looks at: half of Beast's default header limit (8 KiB), so
/// every head it takes is one Beast's parser takes too; a longer head is Beast's to read (or to
/// refuse with header_limit).
inline constexpr std::size_t kMaxPlainHead = 4096;

/// Bytes asked for per read while a head arrives: what Beast's read_header asks for.
inline constexpr std::size_t kHeadReadSize = std::size_t{64} * 1024;

/// Where the head held in `bytes` ends (just past its blank line), or 0 when the first
/// min(kMaxPlainHead, limit) bytes hold no whole head yet. `bytes` starts at the start line.
/// `from`: where to start looking — a caller reading a head piece by piece passes
/// scan_resume(bytes) of its last miss, so a peer sending a byte at a time does not make it scan
/// the whole head again per byte.
std::size_t head_end(std::string_view bytes, std::size_t limit = kMaxPlainHead, std::size_t from = 0) noexcept;

/// Where the next head_end over the same bytes (and more) may start after it found no end in
/// `bytes`: a blank line may begin in the last three bytes.
inline std::size_t scan_resume(std::string_view bytes) noexcept { return bytes.size() > 3 ? bytes.size() - 3 : 0; }

/// What a plain head says besides its fields: the same as Beast's parser reports after the head.
struct PlainHead {
  std::size_t head_bytes = 0;                   // the head's size, blank line included
  std::uint64_t body_bytes = 0;                 // the body still to read: 0 for none
  std::optional<std::uint64_t> content_length;  // as declared (parser.content_length())
  bool keep_alive = false;                      // parser.keep_alive()
};

/// Parses a whole response head (`head`, up to and including its blank line, as head_end found
/// it) into `out` — version, status, reason and every field in order, as Beast's response parser
/// would — when the head is plain: HTTP/1.0 or 1.1, a status from 200 to 599, fields with token
/// names and values of visible characters, spaces and tabs (obs-text too), no line folding, at
/// most one Content-Length of plain digits (required unless the answer has no body: HEAD, 204,
/// 304), a Connection field of plain tokens (close, keep-alive, others), no Transfer-Encoding and
/// no Upgrade. Returns nullopt for any other head (`out` is then left partly written: the caller
/// drops it); Beast's parser reads those. `head_request`: the request was a HEAD, so the answer
/// has no body whatever it declares. Never throws for bad input.
std::optional<PlainHead> parse_plain_response_head(std::string_view head, bool head_request, Response& out);

/// The same for a request head without a body: a method Beast knows by name, a target of visible
/// characters, HTTP/1.0 or 1.1, fields as above, and no body (no Content-Length, or 0). Requests
/// with a body (and every other head) are declined, for Beast's parser, which reads bodies.
std::optional<PlainHead> parse_plain_request_head(std::string_view head, RequestHead& out);

}  // namespace svckit::http::detail
