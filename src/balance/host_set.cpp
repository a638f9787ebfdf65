#include <algorithm>

#include "svckit/balance/host_set.hpp"

namespace svckit {

std::shared_ptr<const HostSet> HostSet::make(std::vector<ServiceInstance> instances, std::uint64_t version,
                                             const std::vector<std::string>& ejected) {
  auto set = std::make_shared<HostSet>();
  std::sort(instances.begin(), instances.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  set->hosts = std::move(instances);
  set->version = version;
  for (std::uint32_t i = 0; i < set->hosts.size(); ++i) {
    const auto& h = set->hosts[i];
    if (h.weight <= 0 || h.status == InstanceStatus::maintenance) continue;
    set->routable.push_back(i);
    if (h.status != InstanceStatus::healthy) continue;
    if (std::binary_search(ejected.begin(), ejected.end(), h.id)) {
      ++set->ejected;
      continue;
    }
    set->healthy.push_back(i);
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

}  // namespace svckit
