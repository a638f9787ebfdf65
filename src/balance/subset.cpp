#include "svckit/balance/subset.hpp"

#include <algorithm>

namespace svckit {
namespace {

std::vector<ServiceInstance> matching(const std::vector<ServiceInstance>& instances, const InstanceFilter& filter) {
  std::vector<ServiceInstance> out;
  for (const auto& in : instances) {
    if (filter.matches(in)) out.push_back(in);
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<const HostSet>> select_subset(const std::vector<ServiceInstance>& instances,
                                                     const SubsetPolicy& policy, std::uint64_t version) {
  auto chosen = matching(instances, policy.filter);
  if (chosen.empty()) {
    switch (policy.fallback) {
      case SubsetPolicy::Fallback::any:
        chosen = instances;
        break;
      case SubsetPolicy::Fallback::fail:
        return make_error(ErrorCode::not_found, "no instance matches the subset", "subset");
      case SubsetPolicy::Fallback::default_subset:
        chosen = matching(instances, policy.default_filter);
        if (chosen.empty()) {
          return make_error(ErrorCode::not_found, "no instance matches the subset or the default subset", "subset");
        }
        break;
    }
  }
  return HostSet::make(std::move(chosen), version);
}

std::shared_ptr<const HostSet> prefer_zone(const std::vector<ServiceInstance>& instances,
                                           const ZonePreference& preference, bool* spilled, std::uint64_t version,
                                           const std::vector<std::string>& ejected) {
  if (spilled != nullptr) *spilled = false;
  if (preference.local_zone.empty()) return HostSet::make(instances, version, ejected);
  std::vector<ServiceInstance> local;
  std::size_t healthy = 0, routable = 0;
  for (const auto& in : instances) {
    if (in.zone != preference.local_zone) continue;
    local.push_back(in);
    if (in.weight <= 0) continue;
    ++routable;
    if (in.status == InstanceStatus::healthy && !std::binary_search(ejected.begin(), ejected.end(), in.id)) ++healthy;
  }
  const bool enough = healthy >= std::max<std::size_t>(1, preference.min_healthy) &&
                      static_cast<double>(healthy) >= preference.min_healthy_share * static_cast<double>(routable);
  if (enough) return HostSet::make(std::move(local), version, ejected);
  if (spilled != nullptr) *spilled = true;
  return HostSet::make(instances, version, ejected);
}

}  // namespace svckit
