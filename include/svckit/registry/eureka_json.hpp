// Eureka's REST API JSON (Netflix Eureka, as Spring Cloud Netflix and eureka-js-client speak it),
// mapped to and from ServiceInstance: what svckitd's Eureka-compatible endpoints read and answer.
// Pure functions, no I/O.
//
// Mapping (docs/registry-eureka.md):
//   app -> service, lowercased (Eureka upper-cases app names; answers carry them upper-cased);
//   instanceId -> id (default: hostName); ipAddr -> host (default: hostName);
//   port.$ with port.@enabled -> port, scheme http; else securePort.$ (enabled) -> port, https;
//   status UP/DOWN/STARTING/OUT_OF_SERVICE/UNKNOWN -> healthy/unhealthy/starting/maintenance/healthy
//   (overriddenstatus OUT_OF_SERVICE wins); leaseInfo.durationInSecs -> ttl (default 90 s);
//   metadata -> metadata, except metadata.zone -> zone, "svckit-tags" (comma-separated) -> tags,
//   "svckit-weight" -> weight, "svckit-status" -> the exact status where Eureka's is coarser (down
//   shows as DOWN, like unhealthy), "svckit-ttl" -> the exact TTL in ms where durationInSecs cannot
//   carry it (0: persistent; a TTL that is not whole seconds). The Eureka fields svckit has no place for (hostName,
//   vipAddress, secureVipAddress, the page URLs, the other port, the renewal interval, the data center) are kept in
//   metadata under the "eureka-" prefix, which the Eureka view hides and gives back as the fields they came from.
//   Fields that hold what the view would write anyway (the page URLs of the instance's own address, a vipAddress equal
//   to the app) are not kept, so an instance read back from the view is the instance written.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/core/result.hpp"
#include "svckit/core/service_instance.hpp"

namespace svckit::eureka {

inline constexpr const char* kMetaPrefix = "eureka-";
inline constexpr const char* kHostNameMeta = "eureka-hostname";
inline constexpr const char* kVipMeta = "eureka-vip";
inline constexpr const char* kSecureVipMeta = "eureka-secure-vip";
inline constexpr const char* kHomePageMeta = "eureka-home-page-url";
inline constexpr const char* kStatusPageMeta = "eureka-status-page-url";
inline constexpr const char* kHealthCheckUrlMeta = "eureka-health-check-url";
inline constexpr const char* kOtherPortMeta = "eureka-other-port";  // the second enabled port
inline constexpr const char* kRenewalMeta = "eureka-renewal-seconds";
inline constexpr const char* kDataCenterMeta = "eureka-datacenter";
inline constexpr const char* kTagsMeta = "svckit-tags";
inline constexpr const char* kWeightMeta = "svckit-weight";
inline constexpr const char* kStatusMeta = "svckit-status";
inline constexpr const char* kTtlMeta = "svckit-ttl";
inline constexpr int kDefaultLeaseSeconds = 90;  // Eureka's lease duration
inline constexpr int kDefaultRenewalSeconds = 30;

/// Eureka's name for a status ("UP", "DOWN", "STARTING", "OUT_OF_SERVICE").
std::string_view status_name(InstanceStatus status) noexcept;
/// UP, DOWN, STARTING, OUT_OF_SERVICE, UNKNOWN (case-insensitive); nullopt for anything else.
std::optional<InstanceStatus> status_from_name(std::string_view name) noexcept;
/// The app name Eureka shows for a service: upper-cased.
std::string app_name(std::string_view service);
/// The service an app name stands for: lower-cased, then checked like any service name (field `app`).
Result<std::string> service_of_app(std::string_view app);

/// POST /eureka/apps/{app} body ({"instance": {...}}) -> instance (normalized, validated). `app`
/// is the path's; the body's `app`, when set, must name the same. `caller_host` stands in for a
/// missing ipAddr and hostName. Errors: invalid_argument naming the field ("instance.port").
Result<ServiceInstance> instance_from_registration(const nlohmann::json& body, std::string_view app,
                                                   std::string_view caller_host);

/// One instance of an answer (the value of "instance", as instance_json() writes it and Eureka
/// servers answer): its app names the service; registrationTimestamp and lastRenewalTimestamp set
/// registered_at and last_heartbeat. Errors as for instance_from_registration.
Result<ServiceInstance> instance_from_answer(const nlohmann::json& instance);

/// One instance as Eureka shows it (the value of "instance"); `action`: the delta's actionType
/// ("ADDED", "MODIFIED", "DELETED"; empty: "ADDED", as Eureka writes in full fetches).
nlohmann::json instance_json(const ServiceInstance& instance, std::string_view action = {});
/// {"name": APP, "instance": [...]}.
nlohmann::json application_json(std::string_view service, const std::vector<ServiceInstance>& instances,
                                std::string_view action = {});
/// {"applications": {"versions__delta", "apps__hashcode", "application": [...]}}, one application
/// per service (instances in the order given, services sorted).
nlohmann::json applications_json(const std::vector<ServiceInstance>& instances, std::uint64_t version,
                                 const std::string& hashcode);
/// Eureka's reconcile hash: "<STATUS>_<count>_" per status, statuses sorted ("DOWN_1_UP_3_").
std::string apps_hashcode(const std::vector<ServiceInstance>& instances);

/// One of the documents above in Eureka's XML encoding (what a Eureka server answers without an
/// Accept header, and what Prometheus's eureka_sd_configs reads): an object is an element named
/// by its key, "@name" members its attributes, "$" its text, arrays repeated elements. Text is
/// escaped; keys that are not XML names (metadata such as "prometheus.io/scrape") and characters
/// XML 1.0 cannot carry are left out.
std::string to_xml(const nlohmann::json& document);

}  // namespace svckit::eureka
