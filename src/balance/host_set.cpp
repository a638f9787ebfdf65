#include <algorithm>

#include "balance/snapshot_balancer.hpp"
#include "svckit/balance/host_set.hpp"

namespace svckit {

std::shared_ptr<const HostSet> HostSet::make(std::vector<ServiceInstance> instances, std::uint64_t version) {
  auto set = std::make_shared<HostSet>();
  std::sort(instances.begin(), instances.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  set->hosts = std::move(instances);
  set->version = version;
  for (std::uint32_t i = 0; i < set->hosts.size(); ++i) {
    const auto& h = set->hosts[i];
    if (h.weight <= 0) continue;
    set->routable.push_back(i);
    if (h.status == InstanceStatus::healthy) set->healthy.push_back(i);
  }
  return set;
}

std::uint64_t hash_key(std::string_view key) noexcept {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a
  for (unsigned char c : key) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= h >> 33;  // murmur3 finaliser: FNV's low bits are weak
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

namespace balance_detail {

Candidates make_candidates(std::shared_ptr<const HostSet> hosts, double panic_threshold, const Candidates* previous) {
  Candidates c;
  c.hosts = std::move(hosts);
  const auto& set = *c.hosts;
  const double healthy_share =
      set.routable.empty() ? 0.0 : static_cast<double>(set.healthy.size()) / static_cast<double>(set.routable.size());
  c.panic = !set.routable.empty() && healthy_share < panic_threshold;
  c.indices = c.panic ? set.routable : set.healthy;
  c.loads.reserve(set.hosts.size());
  for (const auto& h : set.hosts) {
    std::shared_ptr<HostLoad> load;
    if (previous != nullptr && previous->hosts) {
      const auto& old = previous->hosts->hosts;
      auto it = std::lower_bound(old.begin(), old.end(), h.id,
                                 [](const auto& in, const std::string& id) { return in.id < id; });
      if (it != old.end() && it->id == h.id) load = previous->loads[static_cast<std::size_t>(it - old.begin())];
    }
    c.loads.push_back(load ? std::move(load) : std::make_shared<HostLoad>());
  }
  return c;
}

}  // namespace balance_detail
}  // namespace svckit
