// Fast decoding of svckitd's list and watch answers, straight from the text into ServiceInstance
// (simdjson's parser, which picks the CPU's SIMD kernel at run time and reads strings in place,
// instead of nlohmann::json's node-per-value DOM). What svckitd:// reads on every list and on a
// watch's reset, where the DOM cost ~5 µs per instance.
//
// Same results and same errors as the DOM path (instances_from_json / watch_result_from_json over
// parse_json): the fast path handles well-formed answers, and anything it does not expect — a
// type mismatch, a duplicate key, an unknown field, a value out of range, a syntax error — makes
// it decode the whole text again through the DOM path, which then names the field. Pure functions.
#pragma once

#include <string_view>
#include <vector>

#include "svckit/core/result.hpp"
#include "svckit/core/service_instance.hpp"
#include "svckit/registry/registry.hpp"

namespace svckit {

/// The instances of `text`: the array under `field` of a JSON object, or a top-level array.
Result<std::vector<ServiceInstance>> decode_instances(std::string_view text, std::string_view field);

/// A watch answer ({"index", "reset", "instances", "events"}) as watch_result_from_json reads it.
Result<WatchResult> decode_watch_result(std::string_view text);

}  // namespace svckit
