// The registry's record of one running instance of a service.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/core/health_check_spec.hpp"
#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit {

enum class InstanceStatus { starting, healthy, unhealthy, maintenance, down };

std::string_view to_string(InstanceStatus status) noexcept;
std::optional<InstanceStatus> parse_instance_status(std::string_view text) noexcept;

/// Limits enforced by validate(). Public so that error messages and docs can quote them.
struct InstanceLimits {
  static constexpr std::size_t kMaxNameLength = 128;
  static constexpr int kMinWeight = 0;  // 0 = registered but receives no traffic
  static constexpr int kMaxWeight = 10000;
  static constexpr std::size_t kMaxTags = 64;
  static constexpr std::size_t kMaxTagLength = 128;
  static constexpr std::size_t kMaxMetadataEntries = 64;
  static constexpr std::size_t kMaxMetadataValueLength = 1024;
};

struct ServiceInstance {
  ServiceInstance() = default;  // not an aggregate: see the GCC 12 note in registry/registry.hpp

  std::string service;            // [A-Za-z0-9][A-Za-z0-9._-]*, up to 128 chars
  std::string id;                 // unique within the service; same alphabet plus ':'
  std::string host;               // DNS name, IPv4 or IPv6 literal
  int port = 0;                   // 1..65535
  std::string scheme = "http";    // "http" or "https"
  int weight = 100;               // 0..10000
  std::string zone;               // optional locality
  std::vector<std::string> tags;  // kept sorted and unique by normalize()
  std::map<std::string, std::string> metadata;
  InstanceStatus status = InstanceStatus::healthy;
  std::string health_check_path;        // e.g. "/health"; informational (checks below are what runs)
  std::vector<HealthCheckSpec> checks;  // active checks svckitd runs for this instance (at most 8)
  std::chrono::milliseconds ttl{0};     // 0 = persistent until deregistered
  SystemTime registered_at{};
  SystemTime last_heartbeat{};

  /// "http://10.0.0.5:8080" (IPv6 hosts are bracketed).
  std::string base_url() const;
  /// "10.0.0.5:8080", "[::1]:8080": the host and port as a URL's authority spells them.
  std::string authority() const;
  bool has_tag(std::string_view tag) const;
  bool persistent() const { return ttl.count() == 0; }

  /// Fills defaults: id = "<host>:<port>" when empty; sorts and de-duplicates tags.
  void normalize();

  friend bool operator==(const ServiceInstance&, const ServiceInstance&) = default;
};

/// Checks every field; the first problem found is returned with `field` set.
Result<void> validate(const ServiceInstance& instance);
/// Checks a service name alone (used for path parameters).
Result<void> validate_service_name(std::string_view name, std::string_view field = "service");
/// Checks an instance id alone.
Result<void> validate_instance_id(std::string_view id, std::string_view field = "id");

}  // namespace svckit
