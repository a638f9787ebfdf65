// JSON forms of registry values for the svckitd HTTP API (shared by server and svckitd:// client).
#pragma once

#include <nlohmann/json_fwd.hpp>

#include "svckit/core/result.hpp"
#include "svckit/registry/registry.hpp"

namespace svckit {

nlohmann::json to_json(const RegistryEvent& event);
nlohmann::json to_json(const WatchResult& result);
nlohmann::json to_json(const ServiceSummary& summary);

/// Same JSON as to_json(result).dump(), written without a DOM (snapshots can hold 10k+ instances).
void append_json(std::string& out, const WatchResult& result);

Result<RegistryEvent> event_from_json(const nlohmann::json& json);
Result<WatchResult> watch_result_from_json(const nlohmann::json& json);
Result<ServiceSummary> summary_from_json(const nlohmann::json& json);
/// {"instances":[...]} or a bare array.
Result<std::vector<ServiceInstance>> instances_from_json(const nlohmann::json& json, std::string_view field);

/// Builds a filter from query parameters: status=, tag= (repeatable), zone=, meta.<key>=.
Result<InstanceFilter> filter_from_query(const std::multimap<std::string, std::string>& query);
/// The inverse, for clients: "status=healthy&tag=a&meta.version=2".
std::string filter_to_query(const InstanceFilter& filter);

}  // namespace svckit
