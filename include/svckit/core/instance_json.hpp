// JSON form of ServiceInstance, shared by the HTTP API, the svckitd:// backend, snapshots and the CLI.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string_view>

#include "svckit/core/result.hpp"
#include "svckit/core/service_instance.hpp"

namespace svckit {

/// Full record, including times (RFC 3339, UTC, milliseconds) and ttl ("30s").
nlohmann::json to_json(const ServiceInstance& instance);

/// Appends the same JSON object as to_json() (keys in the same sorted order) without building a
/// DOM: the fast path for large list responses.
void append_json(std::string& out, const ServiceInstance& instance);

/// Strict decoding: unknown fields and wrong types are errors naming the field.
/// Times are optional on input. The result is normalized but not validated.
Result<ServiceInstance> instance_from_json(const nlohmann::json& json);

/// How deep JSON from outside may nest (objects and arrays). Everything svckit serialises is
/// walked recursively, so depth is bounded where JSON comes in, never left to the stack.
inline constexpr std::size_t kMaxJsonDepth = 64;

/// The byte offset at which `text` nests deeper than `max_depth` arrays/objects, or nullopt when
/// it does not (strings are skipped, so brackets inside them do not count). Linear, no recursion.
std::optional<std::size_t> json_too_deep_at(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

/// Parses text first; a syntax error names the byte offset, and so does nesting deeper than
/// `max_depth` (invalid_argument, field "body").
Result<nlohmann::json> parse_json(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

/// For JSON from servers svckit talks to: the parsed value, or a discarded value
/// (is_discarded()) when the text is malformed or nests deeper than `max_depth`. Never throws.
nlohmann::json parse_json_or_discarded(std::string_view text, std::size_t max_depth = kMaxJsonDepth);

std::string format_rfc3339(SystemTime time);
Result<SystemTime> parse_rfc3339(std::string_view text, std::string_view field);

}  // namespace svckit
