// The Consul HTTP API's JSON, mapped to and from ServiceInstance: what svckitd's Consul-compatible
// endpoints speak (a Consul client registers against svckitd) and what the consul:// backend
// sends and reads (svckit registers against Consul or svckitd). Pure functions, no I/O.
//
// Mapping (docs/registry-consul.md):
//   Name -> service, ID -> id (default: Name), Address -> host (default: the agent's address),
//   Port -> port, Tags -> tags, Weights.Passing -> weight, Meta -> metadata, except
//   Meta["svckit-zone"] -> zone, Meta["svckit-scheme"] -> scheme, Meta["svckit-status"] -> status
//   (written only when not healthy), Meta["svckit-ttl"] (written for readers; TTL comes from the check).
//   Checks: a TTL check -> ttl (one at most); HTTP and TCP checks -> HealthCheckSpec (interval,
//   timeout, SuccessBeforePassing, FailuresBeforeCritical). DeregisterCriticalServiceAfter and the
//   check IDs are kept in metadata under the "consul-" prefix, which Consul reserves (a Consul
//   client cannot set it) and which the Consul views hide.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/core/result.hpp"
#include "svckit/core/service_instance.hpp"

namespace svckit::consul {

/// The Consul node svckitd presents itself as (one agent that holds every service).
struct Node {
  std::string name = "svckitd";
  std::string address = "127.0.0.1";
  std::string datacenter = "dc1";
  std::string id = "5a1b7e7e-0000-4000-8000-000000000001";
};

inline constexpr const char* kZoneMeta = "svckit-zone";
inline constexpr const char* kSchemeMeta = "svckit-scheme";
inline constexpr const char* kStatusMeta = "svckit-status";
inline constexpr const char* kTtlMeta = "svckit-ttl";
inline constexpr const char* kRegisteredAtMeta = "svckit-registered-at";  // epoch milliseconds
inline constexpr const char* kDeregisterAfterMeta = "consul-deregister-critical-after";
inline constexpr const char* kCheckIdsMeta = "consul-check-ids";
/// Output of the checks svckitd renders: the backend reads the exact status back from it.
inline constexpr const char* kStatusOutputPrefix = "svckit status: ";

/// A Go duration as Consul writes it: "10s", "1m30s", "1.5s", "250ms", "72h". Errors name `field`.
Result<std::chrono::milliseconds> parse_go_duration(std::string_view text, std::string_view field);
/// "1500ms" style output Consul and Go both parse.
std::string go_duration(std::chrono::milliseconds d);

/// PUT /v1/agent/service/register body -> instance (normalized, validated). Keys match case- and
/// underscore-insensitively (Consul accepts "DeregisterCriticalServiceAfter" and
/// "deregister_critical_service_after"); an unknown or unsupported field is an invalid_argument
/// naming it. The initial status is healthy without checks, else the checks' Status (default critical
/// -> starting), unless Meta["svckit-status"] says otherwise.
Result<ServiceInstance> instance_from_registration(const nlohmann::json& body, const Node& agent);

/// The registration body for an instance (what consul:// sends): a TTL check when ttl > 0 whose
/// DeregisterCriticalServiceAfter is `deregister_after`, HTTP/TCP checks for its specs.
nlohmann::json registration_for(const ServiceInstance& instance, std::chrono::milliseconds deregister_after);

/// The IDs of the instance's checks, TTL check first: "service:<id>" for a single check,
/// "service:<id>:<n>" for several, unless the registration named them.
std::vector<std::string> check_ids(const ServiceInstance& instance);
/// Consul's service maintenance check ID.
std::string maintenance_check_id(const std::string& service_id);

/// Meta without the svckit-/consul- keys the mapping owns, plus zone/scheme/status entries.
nlohmann::json meta_of(const ServiceInstance& instance);

nlohmann::json agent_service(const ServiceInstance& instance, const Node& node);  // /v1/agent/services values
nlohmann::json catalog_entry(const ServiceInstance& instance, const Node& node, std::uint64_t index);
/// The instance's checks as Consul shows them (GET /v1/agent/checks values, the Checks of a health
/// entry without serfHealth): the TTL check, one per HTTP/TCP check, and the maintenance check
/// while the instance is in maintenance.
nlohmann::json service_checks(const ServiceInstance& instance, const Node& node, std::uint64_t index);
nlohmann::json health_entry(const ServiceInstance& instance, const Node& node, std::uint64_t index);

/// One element of GET /v1/health/service/:name -> instance (the consul:// backend's view). The
/// status: maintenance when the maintenance check is present; else the svckit status written in a
/// check's output or Meta; else healthy when every check passes (warning counts as passing),
/// `down` when a TTL check ran out, unhealthy otherwise.
Result<ServiceInstance> instance_from_health_entry(const nlohmann::json& entry);

/// One entry of a /v1/health/service answer as the consul:// backend uses it.
struct HealthEntry {
  std::optional<ServiceInstance> instance;  // nullopt: an entry svckit cannot use (instance_from_health_entry errs)
  std::string ttl_check;                    // the ID of its TTL check, "" when it has none
};
/// Every entry of a /v1/health/service answer (a JSON array), each exactly as
/// instance_from_health_entry reads it, decoded with simdjson's parser instead of a DOM (2,000
/// entries of ~1 KB are read on every blocking-query answer); an entry the fast path does not
/// expect goes through instance_from_health_entry. Errors: protocol when the text is not a JSON array.
Result<std::vector<HealthEntry>> decode_health_entries(std::string_view text);

}  // namespace svckit::consul
