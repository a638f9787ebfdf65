// JSON form of ServiceInstance, shared by the HTTP API, the svckitd:// backend, snapshots and the CLI.
#pragma once

#include <nlohmann/json_fwd.hpp>

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

/// Parses text first; a syntax error names the byte offset.
Result<nlohmann::json> parse_json(std::string_view text);

std::string format_rfc3339(SystemTime time);
Result<SystemTime> parse_rfc3339(std::string_view text, std::string_view field);

}  // namespace svckit
