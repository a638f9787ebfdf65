// Nacos's Open API (v1 naming) mapped to and from ServiceInstance: what svckitd's
// Nacos-compatible endpoints read (query or form parameters) and answer (JSON). Pure functions.
//
// Mapping (docs/registry-nacos.md):
//   serviceName "GROUP@@name" (or name with groupName) -> service = name; a group other than
//   DEFAULT_GROUP is kept in metadata "nacos-group"; a namespaceId other than public in
//   "nacos-namespace" (both are labels a list filters on, not separate name spaces);
//   ip -> host, port -> port, id = "ip:port"; clusterName -> zone (DEFAULT: none);
//   weight (a double, default 1.0) -> weight x 100 (0..10000); healthy=false -> unhealthy;
//   enabled=false -> maintenance (no traffic); ephemeral=true (default) -> a TTL instance
//   (metadata preserved.heart.beat.timeout ms, default 15 s), ephemeral=false -> persistent;
//   metadata (a JSON object of strings) -> metadata. What Nacos has no field for travels in
//   metadata and is taken out of it again: "svckit-id" (an id other than ip:port), "svckit-tags"
//   (comma-separated), "svckit-status" (starting or down, which Nacos shows as unhealthy),
//   "svckit-scheme" (other than http), "svckit-health-path"; the heartbeat timeout is the TTL, not
//   metadata. So an instance written by registration_params() and read back by instance_from_host()
//   is the instance written.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/core/result.hpp"
#include "svckit/core/service_instance.hpp"

namespace svckit::nacos {

inline constexpr const char* kDefaultGroup = "DEFAULT_GROUP";
inline constexpr const char* kDefaultCluster = "DEFAULT";
inline constexpr const char* kDefaultNamespace = "public";
inline constexpr const char* kGroupMeta = "nacos-group";
inline constexpr const char* kNamespaceMeta = "nacos-namespace";
inline constexpr const char* kHeartBeatTimeoutMeta = "preserved.heart.beat.timeout";
inline constexpr const char* kIdMeta = "svckit-id";
inline constexpr const char* kTagsMeta = "svckit-tags";
inline constexpr const char* kStatusMeta = "svckit-status";
inline constexpr const char* kSchemeMeta = "svckit-scheme";
inline constexpr const char* kHealthPathMeta = "svckit-health-path";
/// Fields svckitd adds to a host (ms since the epoch); Nacos clients ignore fields they do not know.
inline constexpr const char* kRegisteredAtField = "svckitRegisteredAt";
inline constexpr const char* kLastBeatField = "lastBeat";
inline constexpr int kDefaultBeatIntervalMs = 5'000;
inline constexpr int kDefaultBeatTimeoutMs = 15'000;

/// Request parameters: the query string and, for form posts, the body.
using Params = std::multimap<std::string, std::string>;
/// The first value of `key`, or nullptr.
const std::string* param(const Params& params, const std::string& key);

/// Where a Nacos service lives: its group and namespace (defaults folded to empty) and its svckit name.
struct Scope {
  std::string service;     // svckit's service name
  std::string group;       // empty for DEFAULT_GROUP
  std::string namespace_;  // empty for public
  /// "GROUP@@name", as Nacos names a service in answers.
  std::string grouped_name() const;
  /// True when `instance` belongs to this group and namespace.
  bool holds(const ServiceInstance& instance) const;
};
/// serviceName (required; "GROUP@@name" or "name"), groupName, namespaceId. Errors name the parameter.
Result<Scope> scope_of(const Params& params);

/// The instance a register (POST /nacos/v1/ns/instance) or update (PUT) describes. `caller_host`
/// stands in for a missing ip. Errors: invalid_argument naming the parameter.
Result<ServiceInstance> instance_from_params(const Params& params, std::string_view caller_host);
/// The form parameters that register `instance` in `scope`'s group and namespace (POST or PUT
/// /nacos/v1/ns/instance): what the nacos:// backend sends.
Params registration_params(const ServiceInstance& instance, const Scope& scope);
/// One host of a list answer (or a GET /instance answer) -> instance of `scope.service`. Errors:
/// invalid_argument naming the field.
Result<ServiceInstance> instance_from_host(const nlohmann::json& host, const Scope& scope);

/// The id svckitd gives a Nacos instance: "ip:port".
std::string instance_id(std::string_view ip, std::string_view port);

/// A config content's MD5 as Nacos writes it (lower-case hex): what its listener compares.
std::string content_md5(const std::string& content);

/// One host as /nacos/v1/ns/instance/list shows it.
nlohmann::json host_json(const ServiceInstance& instance, const Scope& scope);
/// The answer of /nacos/v1/ns/instance/list.
nlohmann::json list_json(const Scope& scope, const std::string& clusters, const std::vector<ServiceInstance>& instances,
                         long long now_ms, int cache_millis);

}  // namespace svckit::nacos
