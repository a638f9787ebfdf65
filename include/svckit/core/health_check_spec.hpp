// HealthCheckSpec: how to actively check one instance. It travels with the registration (like
// Consul's checks), so whoever runs the checks (svckitd's HealthMonitor) reads it from the record.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "svckit/core/result.hpp"

namespace svckit {

struct StatusRange {
  int low = 200;
  int high = 299;  // inclusive
  friend bool operator==(const StatusRange&, const StatusRange&) = default;
};

struct HealthCheckSpec {
  HealthCheckSpec();  // not an aggregate (GCC 12 coroutine note in registry/registry.hpp); out of line: GCC 12
                      // warns falsely about an inlined initializer list
  /// A checker name: http, tcp, redis, postgres, or one the application registered.
  std::string type = "http";
  std::string path = "/health";                // http: request path (may carry a query)
  std::vector<StatusRange> expected_statuses;  // http: any range matches. Default: 200-299
  std::string body_contains;                   // http: optional substring the body must contain
  std::string host_header;                     // http: Host header; default "<host>:<port>"
  std::string target;                          // "host:port" to check instead of the instance's address
  std::map<std::string, std::string> params;   // checker-specific (postgres: dbname, user)
  std::chrono::milliseconds interval{10'000};
  std::chrono::milliseconds timeout{2'000};          // <= interval
  std::chrono::milliseconds jitter{0};               // + uniform [0, jitter) on every interval
  std::chrono::milliseconds no_traffic_interval{0};  // while the instance gets no traffic; 0 = interval
  int healthy_threshold = 2;                         // consecutive passes to turn healthy (the first pass counts once)
  int unhealthy_threshold = 3;                       // consecutive failures to turn unhealthy

  bool status_expected(int status) const;
  friend bool operator==(const HealthCheckSpec&, const HealthCheckSpec&) = default;
};

struct HealthCheckLimits {
  static constexpr std::size_t kMaxChecks = 8;  // per instance
  static constexpr std::chrono::milliseconds kMinInterval{10};
  static constexpr int kMaxThreshold = 100;
};

/// Checks every field; errors name it as `<prefix>.<field>` (prefix e.g. "checks[0]").
Result<void> validate(const HealthCheckSpec& spec, const std::string& prefix = "check");

nlohmann::json to_json(const HealthCheckSpec& spec);
/// Strict decoding (unknown fields are errors); missing fields keep their defaults. Not validated.
Result<HealthCheckSpec> health_check_from_json(const nlohmann::json& json, const std::string& prefix = "check");

}  // namespace svckit
