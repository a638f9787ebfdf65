// Blocking HTTP calls for tests (raw bytes or Beast requests) against 127.0.0.1.
#pragma once

#include <chrono>
#include <string>

#include "svckit/http/types.hpp"

namespace svckit::testing {

struct HttpAnswer {
  int status = 0;     // 0 when the connection failed
  std::string error;  // why status is 0: the failed call and its errno, or what arrived
  std::string body;
  std::string header(const std::string& name) const;
  std::string raw_headers;
};

/// One request on a fresh connection; `extra_headers` are "Name: value" lines.
HttpAnswer http_call(int port, const std::string& method, const std::string& target, const std::string& body = {},
                     const std::vector<std::string>& extra_headers = {},
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Writes raw bytes and reads the answer (for malformed HTTP). With `half_close` the write side is
/// shut down after the bytes (the server sees the end of the request stream at once); servers
/// treat that as the client going away while a long poll waits, as Go's net/http does.
HttpAnswer raw_http(int port, const std::string& bytes, std::chrono::milliseconds timeout = std::chrono::seconds(10),
                    bool half_close = true);

/// Writes raw bytes (without half-closing) and returns every byte the server sends until it closes
/// the connection or `timeout` passes — for tests that count the answers one write produced.
std::string raw_exchange(int port, const std::string& bytes,
                         std::chrono::milliseconds timeout = std::chrono::seconds(5));

/// How many HTTP responses (status lines) `bytes` holds.
int count_responses(const std::string& bytes);

}  // namespace svckit::testing
