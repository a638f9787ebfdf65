#include "svckit/registry/registry_store.hpp"

#include <algorithm>
#include <set>

#include "core/enum_names.hpp"
#include "svckit/core/instance_json.hpp"

namespace svckit {

std::vector<ServiceSummary> summarize(const std::vector<ServiceInstance>& instances) {
  std::map<std::string, ServiceSummary> by_name;
  for (const auto& in : instances) {
    auto& summary = by_name[in.service];
    summary.name = in.service;
    ++summary.instances;
    if (in.status == InstanceStatus::healthy) ++summary.healthy;
  }
  std::vector<ServiceSummary> out;
  out.reserve(by_name.size());
  for (auto& [name, summary] : by_name) out.push_back(std::move(summary));
  return out;
}

bool InstanceFilter::matches(const ServiceInstance& in) const {
  if (status && in.status != *status) return false;
  if (!zone.empty() && in.zone != zone) return false;
  for (const auto& tag : tags) {
    if (!in.has_tag(tag)) return false;
  }
  for (const auto& [key, value] : metadata) {
    auto it = in.metadata.find(key);
    if (it == in.metadata.end() || it->second != value) return false;
  }
  return true;
}

namespace {
constexpr detail::EnumNames<EventType, 5> kEventNames{{
    {EventType::registered, "registered"},
    {EventType::deregistered, "deregistered"},
    {EventType::status_changed, "status_changed"},
    {EventType::updated, "updated"},
    {EventType::expired, "expired"},
}};

bool same_except_times(ServiceInstance a, const ServiceInstance& b) {
  a.registered_at = b.registered_at;
  a.last_heartbeat = b.last_heartbeat;
  return a == b;
}
}  // namespace

std::string_view to_string(EventType type) noexcept { return detail::name_of(kEventNames, type); }

std::optional<EventType> parse_event_type(std::string_view text) noexcept {
  return detail::parse_name(kEventNames, text);
}

void RegistryStore::Entry::refresh_json() {
  // Always a new record, never a rewrite in place: a reader streaming a list drops its copy outside
  // the registry's lock, and use_count() is a relaxed load, so seeing 1 here does not order that
  // reader's last read before our write (ThreadSanitizer caught exactly that race).
  auto fresh = std::make_shared<std::string>();
  fresh->reserve(json != nullptr ? json->size() + 32 : 256);
  append_json(*fresh, instance);
  json = std::move(fresh);
}

RegistryStore::RegistryStore(const TimeSource& time, RegistryStoreOptions options) : time_(time), options_(options) {
  if (options_.event_history == 0) options_.event_history = 1;
}

RegistryStore::Entry* RegistryStore::find(const std::string& service, const std::string& id) {
  auto s = services_.find(service);
  if (s == services_.end()) return nullptr;
  auto e = s->second.find(id);
  return e == s->second.end() ? nullptr : &e->second;
}

const RegistryStore::Entry* RegistryStore::find(const std::string& service, const std::string& id) const {
  return const_cast<RegistryStore*>(this)->find(service, id);
}

Error RegistryStore::not_found(const std::string& service, const std::string& id) const {
  if (services_.find(service) == services_.end()) {
    return make_error(ErrorCode::not_found, "service '" + service + "' has no instances", "service");
  }
  return make_error(ErrorCode::not_found, "service '" + service + "' has no instance '" + id + "'", "id");
}

void RegistryStore::emit(EventType type, const ServiceInstance& instance, std::optional<InstanceStatus> previous) {
  record(index_ + 1, type, instance, previous);
}

void RegistryStore::record(std::uint64_t index, EventType type, const ServiceInstance& instance,
                           std::optional<InstanceStatus> previous) {
  index_ = index;
  history_.push_back(RegistryEvent{index_, type, instance, previous});
  while (history_.size() > options_.event_history) {
    history_floor_ = history_.front().index;
    history_.pop_front();
  }
  if (instance.persistent()) ++persistent_version_;
  if (track_changes_) changed_.emplace(instance.service, instance.id);
}

void RegistryStore::take_changes(
    const std::function<void(const std::string&, const std::string&, const std::string*)>& visit) {
  for (const auto& [service, id] : changed_) {
    const Entry* e = find(service, id);
    visit(service, id, e != nullptr && e->instance.persistent() ? e->json.get() : nullptr);
  }
  changed_.clear();
}

Result<ServiceInstance> RegistryStore::upsert(ServiceInstance in) {
  in.normalize();
  if (auto v = validate(in); !v) return v.error();
  const auto now = time_.system_now();
  in.last_heartbeat = now;
  if (Entry* existing = find(in.service, in.id)) {
    in.registered_at = existing->instance.registered_at;
    existing->heartbeat = time_.steady_now();
    existing->expired_at.reset();
    const bool changed = !same_except_times(in, existing->instance);
    const bool was_persistent = existing->instance.persistent();
    existing->instance = in;
    existing->refresh_json();
    if (changed) emit(EventType::updated, in);
    // Persistent -> TTL: the snapshot must drop it (emit only counts the new, TTL record).
    if (changed && was_persistent && !in.persistent()) ++persistent_version_;
    return in;
  }
  auto& service = services_[in.service];
  if (service.size() >= options_.max_instances_per_service) {
    if (service.empty()) services_.erase(in.service);
    return make_error(ErrorCode::limit_exceeded,
                      "service '" + in.service + "' already has the maximum of " +
                          std::to_string(options_.max_instances_per_service) + " instances",
                      "id");
  }
  in.registered_at = now;
  service.emplace(in.id, Entry(in, time_.steady_now()));
  emit(EventType::registered, in);
  return in;
}

bool RegistryStore::upsert_changes_persistent(ServiceInstance in) const {
  in.normalize();
  const Entry* existing = find(in.service, in.id);
  if (existing == nullptr) return in.persistent();
  if (!in.persistent() && !existing->instance.persistent()) return false;
  return !same_except_times(std::move(in), existing->instance);
}

bool RegistryStore::holds_persistent(const std::string& service, const std::string& id) const {
  const Entry* e = find(service, id);
  return e != nullptr && e->instance.persistent();
}

Result<std::size_t> RegistryStore::replace(const std::string& service, std::vector<ServiceInstance> wanted) {
  std::map<std::string, std::set<std::string>> ids;  // service -> ids wanted
  for (auto& in : wanted) {
    in.normalize();
    if (auto v = validate(in); !v) return v.error();
    if (!service.empty() && in.service != service) {
      return make_error(ErrorCode::invalid_argument, "instance '" + in.id + "' belongs to another service", "service");
    }
    if (!ids[in.service].insert(in.id).second) {
      return make_error(ErrorCode::invalid_argument, "instance '" + in.id + "' is listed twice", "id");
    }
  }
  for (const auto& [name, wanted_ids] : ids) {
    if (wanted_ids.size() > options_.max_instances_per_service) {
      return make_error(ErrorCode::limit_exceeded,
                        "service '" + name + "' would have more than the maximum of " +
                            std::to_string(options_.max_instances_per_service) + " instances",
                        "id");
    }
  }
  const auto before = index_;
  std::vector<std::pair<std::string, std::string>> gone;
  for (const auto& [name, instances] : services_) {
    if (!service.empty() && name != service) continue;
    const auto wanted_here = ids.find(name);
    for (const auto& [id, entry] : instances) {
      if (wanted_here == ids.end() || wanted_here->second.count(id) == 0) gone.emplace_back(name, id);
    }
  }
  for (const auto& [name, id] : gone) (void)remove(name, id);  // first: frees room under the limit
  for (auto& in : wanted) {
    if (const Entry* existing = find(in.service, in.id)) {
      auto status_only = in;
      status_only.status = existing->instance.status;
      if (same_except_times(status_only, existing->instance)) {
        (void)set_status(in.service, in.id, in.status);  // no event when the status is the same too
        continue;
      }
    }
    (void)upsert(std::move(in));  // validated and within the limit: cannot fail
  }
  return static_cast<std::size_t>(index_ - before);
}

Result<void> RegistryStore::remove(const std::string& service, const std::string& id) {
  auto s = services_.find(service);
  if (s == services_.end() || s->second.find(id) == s->second.end()) return not_found(service, id);
  auto node = s->second.extract(id);
  if (s->second.empty()) services_.erase(s);
  emit(EventType::deregistered, node.mapped().instance);
  return {};
}

Result<void> RegistryStore::renew(const std::string& service, const std::string& id) {
  Entry* e = find(service, id);
  if (e == nullptr) return not_found(service, id);
  e->heartbeat = time_.steady_now();
  e->instance.last_heartbeat = time_.system_now();
  if (e->expired_at) {
    e->expired_at.reset();
    e->instance.status = e->status_before_expiry;
    emit(EventType::status_changed, e->instance, InstanceStatus::down);
  }
  e->refresh_json();
  return {};
}

Result<void> RegistryStore::set_status(const std::string& service, const std::string& id, InstanceStatus status) {
  Entry* e = find(service, id);
  if (e == nullptr) return not_found(service, id);
  e->expired_at.reset();
  if (e->instance.status == status) return {};
  const auto previous = e->instance.status;
  e->instance.status = status;
  e->refresh_json();
  emit(EventType::status_changed, e->instance, previous);
  return {};
}

Result<ServiceInstance> RegistryStore::get(const std::string& service, const std::string& id) const {
  const Entry* e = find(service, id);
  if (e == nullptr) return not_found(service, id);
  return e->instance;
}

std::vector<ServiceInstance> RegistryStore::list(const std::string& service, const InstanceFilter& filter) const {
  std::vector<ServiceInstance> out;
  out.reserve(instance_count(service));
  for_each(service, filter, [&](const ServiceInstance& in, const std::string&) { out.push_back(in); });
  return out;
}

void RegistryStore::for_each(
    const std::string& service, const InstanceFilter& filter,
    const std::function<void(const ServiceInstance& instance, const std::string& json)>& visit) const {
  auto s = services_.find(service);
  if (s == services_.end()) return;
  for (const auto& [id, e] : s->second) {
    if (filter.matches(e.instance)) visit(e.instance, *e.json);
  }
}

std::vector<std::shared_ptr<const std::string>> RegistryStore::json_records(const std::string& service,
                                                                            const InstanceFilter& filter) const {
  std::vector<std::shared_ptr<const std::string>> out;
  auto s = services_.find(service);
  if (s == services_.end()) return out;
  out.reserve(s->second.size());
  for (const auto& [id, e] : s->second) {
    if (filter.matches(e.instance)) out.push_back(e.json);
  }
  return out;
}

std::vector<ServiceSummary> RegistryStore::services() const {
  std::vector<ServiceSummary> out;
  out.reserve(services_.size());
  for (const auto& [name, instances] : services_) {
    ServiceSummary summary{name, instances.size(), 0};
    for (const auto& [id, e] : instances) {
      if (e.instance.status == InstanceStatus::healthy) ++summary.healthy;
    }
    out.push_back(std::move(summary));
  }
  return out;
}

std::size_t RegistryStore::sweep() {
  const auto now = time_.steady_now();
  const auto start = index_;
  std::vector<std::pair<std::string, std::string>> to_remove;
  for (auto& [name, instances] : services_) {
    for (auto& [id, e] : instances) {
      if (e.instance.persistent()) continue;
      if (e.expired_at) {
        if (now - *e.expired_at >= options_.expiry_grace) to_remove.emplace_back(name, id);
      } else if (now - e.heartbeat > e.instance.ttl) {
        e.expired_at = now;
        e.status_before_expiry = e.instance.status;
        e.instance.status = InstanceStatus::down;
        e.refresh_json();
        ++expirations_total_;
        emit(EventType::expired, e.instance, e.status_before_expiry);
        if (options_.expiry_grace.count() == 0) to_remove.emplace_back(name, id);
      }
    }
  }
  for (const auto& [service, id] : to_remove) (void)remove(service, id);
  return static_cast<std::size_t>(index_ - start);
}

WatchResult RegistryStore::collect(const std::string& service, std::uint64_t after_index) const {
  WatchResult out;
  out.index = index_;
  // This copy is behind the source: wait — unless the index is from before the source went back.
  if (replicated_ && after_index > index_ && after_index > rewound_from_) return out;
  if (after_index == 0 || after_index > index_ || after_index < history_floor_) {
    out.reset = true;
    auto add = [&](const Service& instances) {
      for (const auto& [id, e] : instances) out.snapshot.push_back(e.instance);
    };
    if (service.empty()) {
      for (const auto& [name, instances] : services_) add(instances);
    } else if (auto s = services_.find(service); s != services_.end()) {
      add(s->second);
    }
    return out;
  }
  // history_ holds the events after history_floor_ in index order (consecutive indices unless
  // replicated, where the source's numbering has gaps and one index may carry several events).
  const auto first = std::partition_point(history_.begin(), history_.end(),
                                          [after_index](const RegistryEvent& ev) { return ev.index <= after_index; });
  for (auto it = first; it != history_.end(); ++it) {
    if (service.empty() || it->instance.service == service) out.events.push_back(*it);
  }
  return out;
}

std::size_t RegistryStore::instance_count() const {
  std::size_t n = 0;
  for (const auto& [name, instances] : services_) n += instances.size();
  return n;
}

std::size_t RegistryStore::instance_count(const std::string& service) const {
  auto s = services_.find(service);
  return s == services_.end() ? 0 : s->second.size();
}

void RegistryStore::append_persistent_json(std::string& out) const {
  bool first = true;
  for (const auto& [name, instances] : services_) {
    for (const auto& [id, e] : instances) {
      if (!e.instance.persistent()) continue;
      if (!first) out += ",\n";
      first = false;
      out += *e.json;
    }
  }
}

std::vector<ServiceInstance> RegistryStore::persistent_instances() const {
  std::vector<ServiceInstance> out;
  for (const auto& [name, instances] : services_) {
    for (const auto& [id, e] : instances) {
      if (e.instance.persistent()) out.push_back(e.instance);
    }
  }
  return out;
}

Result<void> RegistryStore::restore(const std::vector<ServiceInstance>& instances, std::uint64_t index) {
  std::map<std::string, Service> loaded;
  const auto now = time_.steady_now();
  for (std::size_t i = 0; i < instances.size(); ++i) {
    auto in = instances[i];
    in.normalize();
    if (auto v = validate(in); !v) {
      auto err = v.error();
      err.message = "snapshot record " + std::to_string(i) + ": " + err.message;
      return err;
    }
    loaded[in.service].emplace(in.id, Entry(in, now));
  }
  services_ = std::move(loaded);
  history_.clear();
  index_ = index + 1;
  history_floor_ = index_;
  return {};
}

}  // namespace svckit
