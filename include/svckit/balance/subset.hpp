// Subsets and zone preference: choose which instances a balancer sees, before it balances.
// Pure functions over instance lists; the caller keeps one balancer per subset it uses.
#pragma once

#include <string>
#include <vector>

#include "svckit/balance/host_set.hpp"
#include "svckit/core/result.hpp"
#include "svckit/registry/registry.hpp"

namespace svckit {

struct SubsetPolicy {
  InstanceFilter filter;  // tags, metadata, zone, status: all must match
  /// When no instance matches: `any` = use every instance, `fail` = not_found, `default_subset` =
  /// use the instances matching `default_filter` (and fail if those are empty too). Default: any.
  enum class Fallback { any, fail, default_subset } fallback = Fallback::any;
  InstanceFilter default_filter;
};

/// Instances matching the policy, as a snapshot. Errors: not_found (fallback fail, or an empty
/// default subset), naming the filter field "subset".
Result<std::shared_ptr<const HostSet>> select_subset(const std::vector<ServiceInstance>& instances,
                                                     const SubsetPolicy& policy, std::uint64_t version = 0);

struct ZonePreference {
  std::string local_zone;  // the caller's zone; empty = no preference
  /// Stay local while the local zone has at least this many healthy instances (weight > 0) and at
  /// least `min_healthy_share` of its instances are healthy; otherwise spill over to every zone.
  std::size_t min_healthy = 1;     // Default: 1.
  double min_healthy_share = 0.5;  // Default: 0.5.
};

/// The local zone's instances when it has the healthy capacity, else all of them. `spilled` tells
/// which happened (for metrics and logs).
/// `ejected` (sorted ids) count as unhealthy, as in HostSet::make.
std::shared_ptr<const HostSet> prefer_zone(const std::vector<ServiceInstance>& instances,
                                           const ZonePreference& preference, bool* spilled = nullptr,
                                           std::uint64_t version = 0, const std::vector<std::string>& ejected = {});

}  // namespace svckit
