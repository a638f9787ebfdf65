// HTTP/1.1 messages written by hand into one contiguous buffer, for the hot paths: the pooled
// client's requests and the streaming server's whole answers. Beast's serializer hands the socket
// a scatter list of a dozen pieces per message (start line in three, then every field) and walks
// it through generic buffer-sequence views; this writes the head (and a small body) into a buffer
// the connection keeps, so a message is one contiguous write. Internal to http/.
#pragma once

#include <string>
#include <string_view>

#include "svckit/http/types.hpp"

namespace svckit::http::detail {

/// Bodies up to this size are copied behind the head (one piece); larger ones are written from
/// where they are, as a second piece of the same write. Small, so the buffer a connection keeps
/// between messages stays small (see keep_wire_small).
inline constexpr std::size_t kWireInlineBody = 1024;

/// Writes `message`'s start line, fields and blank line into `out` (cleared first), then its body
/// when it is at most kWireInlineBody bytes. Returns the body still to be written after `out`
/// (empty when it was copied). REQUIRES: !message.chunked() (Beast's serializer frames those).
std::string_view to_wire(std::string& out, const Request& message);
std::string_view to_wire(std::string& out, const Response& message);

/// `message.keep_alive(keep)` without Beast's rewrite of the Connection field's tokens when there
/// is nothing to rewrite: an HTTP/1.1 message without a Connection field is kept alive by default
/// (nothing to do) and closed by adding `Connection: close`. Otherwise Beast's keep_alive(). The
/// message comes out the same either way (a test compares them).
void set_keep_alive(Request& message, bool keep);
void set_keep_alive(Response& message, bool keep);

/// `message.prepare_payload()`, skipped when it would change nothing: one Content-Length that
/// already reads the body's size, no Transfer-Encoding, and a status that may carry a body (an
/// answer relayed from an upstream, the gateway's usual case). Same result as Beast's.
void prepare_payload(Response& message);

/// After a write: a connection's buffer that grew past 8 KiB (a very large head) is released, so
/// thousands of idle keep-alive connections do not each hold one.
inline void keep_wire_small(std::string& wire) {
  if (wire.capacity() > 8 * 1024) std::string().swap(wire);
}

}  // namespace svckit::http::detail
