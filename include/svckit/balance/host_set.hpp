// HostSet: an immutable snapshot of one service's instances, as balancers see them.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "svckit/core/service_instance.hpp"

namespace svckit {

/// Built once per discovery update and shared read-only by every pick (no lock on the pick path).
struct HostSet {
  std::vector<ServiceInstance> hosts;  // sorted by id
  std::vector<std::uint32_t> healthy;  // indices of healthy, not ejected hosts with weight > 0
  /// Indices of hosts with weight > 0 that are not in maintenance (panic mode may use unhealthy,
  /// starting or down hosts, never one an operator drained).
  std::vector<std::uint32_t> routable;
  std::size_t ejected = 0;  // routable hosts left out of `healthy` by outlier detection
  std::uint64_t version = 0;

  /// Sorts by id and classifies. Weight 0 means "registered, no traffic", and maintenance an
  /// operator's drain: never in either list (nor in the panic threshold's count).
  /// `ejected` (sorted ids, from outlier detection) are treated as unhealthy for balancing only:
  /// the instances' own status is never rewritten.
  static std::shared_ptr<const HostSet> make(std::vector<ServiceInstance> instances, std::uint64_t version = 0,
                                             const std::vector<std::string>& ejected = {});
};

}  // namespace svckit
