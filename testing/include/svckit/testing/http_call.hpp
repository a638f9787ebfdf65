// Blocking HTTP calls for tests (raw bytes or Beast requests) against 127.0.0.1.
#pragma once

#include <chrono>
#include <string>

#include "svckit/http/types.hpp"

namespace svckit::testing {

struct HttpAnswer {
  int status = 0;  // 0 when the connection failed
  std::string body;
  std::string header(const std::string& name) const;
  std::string raw_headers;
};

/// One request on a fresh connection; `extra_headers` are "Name: value" lines.
HttpAnswer http_call(int port, const std::string& method, const std::string& target, const std::string& body = {},
                     const std::vector<std::string>& extra_headers = {},
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));

/// Writes raw bytes and reads the answer (for malformed HTTP).
HttpAnswer raw_http(int port, const std::string& bytes, std::chrono::milliseconds timeout = std::chrono::seconds(10));

}  // namespace svckit::testing
