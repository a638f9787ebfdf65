// RegistryStore as the cache of an outside registry (svckitd's cluster mode over etcd): the
// source's events applied as they are, at the source's own index.
#include "svckit/registry/registry_store.hpp"

namespace svckit {

void RegistryStore::apply_replicated(std::uint64_t index, const std::vector<RegistryEvent>& events) {
  if (index <= index_) return;  // already applied (a redelivery after a reconnect)
  replicated_ = true;
  const auto now = time_.steady_now();
  for (const auto& ev : events) {
    const auto& in = ev.instance;
    if (ev.type == EventType::deregistered) {
      if (auto s = services_.find(in.service); s != services_.end()) {
        s->second.erase(in.id);
        if (s->second.empty()) services_.erase(s);
      }
    } else if (Entry* existing = find(in.service, in.id)) {
      existing->instance = in;
      existing->heartbeat = now;
      existing->refresh_json();
    } else {
      services_[in.service].emplace(in.id, Entry(in, now));
    }
    record(index, ev.type, in, ev.previous_status);
  }
  index_ = index;  // also when no event was kept: the source moved on
}

void RegistryStore::load_replicated(const std::vector<ServiceInstance>& instances, std::uint64_t index) {
  replicated_ = true;
  std::map<std::string, Service> loaded;
  const auto now = time_.steady_now();
  for (const auto& in : instances) loaded[in.service].insert_or_assign(in.id, Entry(in, now));
  services_ = std::move(loaded);
  history_.clear();
  if (index < index_) rewound_from_ = std::max(rewound_from_, index_);
  index_ = index;
  history_floor_ = index;
  ++persistent_version_;
}

}  // namespace svckit
