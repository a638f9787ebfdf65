// Starts the real svckitd binary for integration tests (port 0, temp dir, stopped by pid).
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "svckit/testing/http_call.hpp"
#include "svckit/testing/process.hpp"

namespace svckit::testing {

struct SvckitdProcess {
  ChildProcess process;
  int port = 0;

  /// Starts svckitd with `args`; the log goes to dir/svckitd.log. Fails the test if it does not start.
  static std::unique_ptr<SvckitdProcess> start(const std::filesystem::path& dir, std::vector<std::string> args = {}) {
    auto out = std::make_unique<SvckitdProcess>();
    // Tests run checks every few milliseconds: lower svckitd's floor unless the test sets it.
    std::vector<std::string> argv{SVCKITD_BIN, "--threads", "2", "--set", "health.min_interval=10ms"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto child = start_listening_binary(argv, dir, out->port);
    if (!child) {
      ADD_FAILURE() << child.error().message;
      return nullptr;
    }
    out->process = std::move(*child);
    return out;
  }

  std::string url() const { return "svckitd://127.0.0.1:" + std::to_string(port); }

  HttpAnswer call(const std::string& method, const std::string& target, const std::string& body = {}) const {
    return http_call(port, method, target, body);
  }

  /// Waits until the gateway's discovery cache, which follows the registry by a watch, holds `count`
  /// instances of `service` (so the next request can be routed to each of them).
  bool wait_discovered(const std::string& service, int count) const {
    const std::string line = "svckit_discovery_instances{service=\"" + service + "\"} " + std::to_string(count) + "\n";
    return wait_until([&] { return call("GET", "/metrics").body.find(line) != std::string::npos; },
                      std::chrono::seconds(10));
  }

  nlohmann::json json(const std::string& method, const std::string& target, const std::string& body = {}) const {
    return nlohmann::json::parse(call(method, target, body).body, nullptr, false);
  }
};

inline std::string instance_body(const std::string& service, int port, const std::string& extra = {}) {
  return R"({"service":")" + service + R"(","host":"127.0.0.1","port":)" + std::to_string(port) + extra + "}";
}

}  // namespace svckit::testing
