// JSON text written by hand on hot paths (a registry list, an OTLP batch), where building a
// nlohmann::json DOM first costs an allocation per value. Internal to the library.
#pragma once

#include <string>
#include <string_view>

namespace svckit::detail {

/// Appends `text` as a JSON string: in quotes, with `"`, `\` and control characters escaped and
/// UTF-8 passed through. A byte that does not belong to well-formed UTF-8 (RFC 3629: no overlong
/// forms, no surrogates, nothing past U+10FFFF) becomes U+FFFD, as nlohmann::json's dump() with
/// error_handler_t::replace does — so the output is valid JSON whatever the bytes (a URL path from
/// a client, say).
void append_json_string(std::string& out, std::string_view text);

/// The most bytes write_json_string() writes for `text`: two quotes and six per byte ("\u001f").
constexpr std::size_t json_string_bound(std::string_view text) noexcept { return 2 + 6 * text.size(); }

/// Writes `text` as append_json_string() does, at `p`, which has room for json_string_bound(text)
/// bytes; returns the end of what it wrote. For encoders that size their output once and write
/// through a pointer.
char* write_json_string(char* p, std::string_view text) noexcept;

}  // namespace svckit::detail
