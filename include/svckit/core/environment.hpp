// The process environment, read once where a composition root needs it (config layers take the
// pairs as input, so tests pass their own).
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace svckit {

/// The current process environment as NAME=value pairs. Not safe against a concurrent setenv().
std::vector<std::pair<std::string, std::string>> process_environment();

}  // namespace svckit
