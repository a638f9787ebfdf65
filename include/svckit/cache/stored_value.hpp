// How the Redis cache tier stores a value: as it is, or — when it is at least
// RedisTierOptions::compress_above bytes and deflating makes it smaller — compressed (raw
// DEFLATE, RFC 1951, through Beast's zlib). Readers always decode both, so processes with and
// without compression share one Redis.
//
// Frames: "\x1fSVZ1" + 4-byte big-endian original size + deflate data; a value that itself starts
// with 0x1F is stored as "\x1fSVR1" + value (so no plain value is ever mistaken for a frame);
// anything else is the value as is. Pure functions.
#pragma once

#include <cstddef>
#include <string>

#include "svckit/core/result.hpp"

namespace svckit::cache {

/// The bytes to store for `value` (compress_above 0: never compress).
std::string encode_stored_value(std::string value, std::size_t compress_above);
/// The value back. Errors (protocol): a compressed frame that is cut, corrupt, or inflates to
/// another size than it recorded or to more than `max_bytes` (a decompression bomb).
Result<std::string> decode_stored_value(std::string stored, std::size_t max_bytes = std::size_t{64} << 20);

}  // namespace svckit::cache
