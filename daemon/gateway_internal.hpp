// Internal to the gateway's sources.
#pragma once

#include <string>
#include <string_view>

#include "svckit/http/types.hpp"

namespace svckit::daemon {

/// {"error":{"code","message","service"}} with the status; 503 and 429 carry Retry-After.
http::Response gateway_error(http::Status status, std::string_view code, const std::string& message,
                             const std::string& service);

}  // namespace svckit::daemon
