// Parsing of HTTP request targets (path + query). Backend URLs: svckit/net/backend_url.hpp.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "svckit/core/result.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::http {

/// "/v1/x?a=1&b=%20" -> path "/v1/x", query {a:1, b:" "} (percent- and '+'-decoded; repeated keys kept).
struct Target {
  std::string path;
  std::multimap<std::string, std::string> query;

  /// First value of a query parameter, or nullptr.
  const std::string* param(const std::string& key) const;
};
Result<Target> parse_target(std::string_view target);

}  // namespace svckit::http
