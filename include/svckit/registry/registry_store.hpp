// RegistryStore: the registry's state machine, with no I/O and no locking. The memory backend
// and svckitd wrap it; tests drive it with a SimulatedClock.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "svckit/core/result.hpp"
#include "svckit/core/service_instance.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/registry/registry.hpp"

namespace svckit {

struct RegistryStoreOptions {
  /// How long an expired (down) TTL instance stays listed before it is removed. Default: 30s.
  std::chrono::milliseconds expiry_grace{30'000};
  /// Registering one more new id in a full service fails with limit_exceeded. Default: 10000.
  std::size_t max_instances_per_service = 10'000;
  /// Change events kept for watchers that resume from an index; older ones get a reset. Default: 8192.
  std::size_t event_history = 8192;
};

/// Thread-compatible (callers lock). Every mutation that changes what a reader can observe
/// increments index() by one and appends exactly one event.
class RegistryStore {
 public:
  RegistryStore(const TimeSource& time, RegistryStoreOptions options);

  /// Validates, then inserts or replaces. Re-registering identical data only refreshes the heartbeat.
  Result<ServiceInstance> upsert(ServiceInstance instance);
  Result<void> remove(const std::string& service, const std::string& id);
  Result<void> renew(const std::string& service, const std::string& id);
  Result<void> set_status(const std::string& service, const std::string& id, InstanceStatus status);
  Result<ServiceInstance> get(const std::string& service, const std::string& id) const;
  std::vector<ServiceInstance> list(const std::string& service, const InstanceFilter& filter) const;
  /// Makes the instances of `service` (empty: of every service) exactly `wanted`, with one event
  /// per difference: registered, updated, status_changed (only the status differs), deregistered.
  /// All or nothing: every instance is validated (and must belong to `service` when one is given,
  /// and be listed once) and the instance limit checked before anything changes. Returns the
  /// number of events. For mirrors of an outside source of truth (file://, dns://).
  Result<std::size_t> replace(const std::string& service, std::vector<ServiceInstance> wanted);
  std::vector<ServiceSummary> services() const;
  /// Calls `visit` for each instance of `service` matching `filter`, in id order, without copying;
  /// `json` is the instance's JSON object (as append_json writes it), kept up to date by the store.
  void for_each(const std::string& service, const InstanceFilter& filter,
                const std::function<void(const ServiceInstance& instance, const std::string& json)>& visit) const;
  /// The cached JSON records of `service`'s instances matching `filter`, in id order, shared: a
  /// record is immutable (a change makes a new one), so a reader may hold them after the lock —
  /// svckitd streams large lists from them with one pointer per instance, not a copy of the text.
  std::vector<std::shared_ptr<const std::string>> json_records(const std::string& service,
                                                               const InstanceFilter& filter) const;

  /// Marks TTL instances whose heartbeat is older than their ttl as down (event `expired`) and
  /// removes those down for longer than expiry_grace (event `deregistered`). Returns the number of events.
  std::size_t sweep();

  /// Changes after `after_index` for `service` (empty = all), without waiting.
  WatchResult collect(const std::string& service, std::uint64_t after_index) const;
  /// True when collect() would return a reset or at least one event.
  static bool has_changes(const WatchResult& result) { return result.reset || !result.events.empty(); }

  std::uint64_t index() const { return index_; }
  /// Instances marked down by sweep() since construction.
  std::uint64_t expirations_total() const { return expirations_total_; }
  std::size_t instance_count() const;
  std::size_t instance_count(const std::string& service) const;

  /// Persistent (ttl == 0) instances, for snapshot files; version changes whenever they do.
  std::vector<ServiceInstance> persistent_instances() const;
  /// The cached JSON records of the persistent instances, comma-separated (a JSON array's inside).
  void append_persistent_json(std::string& out) const;
  std::uint64_t persistent_version() const { return persistent_version_; }
  /// Whether upsert(instance) would change the persistent records: a new or changed persistent
  /// instance, or a persistent one turning into a TTL one (re-registering identical data does not).
  bool upsert_changes_persistent(ServiceInstance instance) const;
  /// Whether remove(service, id) would drop a persistent record.
  bool holds_persistent(const std::string& service, const std::string& id) const;
  /// From now on, remember which (service, id) changed, for take_changes(). Off by default (the
  /// set would grow with nobody taking it).
  void track_changes() { track_changes_ = true; }
  /// The keys changed since the last call, each with its current persistent record's JSON, or
  /// null when it is gone or no longer persistent. Clears the set.
  void take_changes(
      const std::function<void(const std::string& service, const std::string& id, const std::string* json)>& visit);
  /// Loads a snapshot into an empty store; the index continues from `index`. Invalid records
  /// fail the whole restore and leave the store empty.
  Result<void> restore(const std::vector<ServiceInstance>& instances, std::uint64_t index);

  /// Replication: the store as the cache of an outside registry that numbers its own changes
  /// (svckitd over etcd: the index is etcd's revision). The source's events at `index` (> index())
  /// are applied as they are — each instance put or removed as its event says and the event kept
  /// with its type — and index() becomes `index`: several events may share one index (one revision
  /// of the source). No validation or limits (the source checked them) and no expiry here (the
  /// source expires instances: sweep() finds nothing to do). An `index` not above index() is
  /// ignored (a redelivery).
  void apply_replicated(std::uint64_t index, const std::vector<RegistryEvent>& events);
  /// Replication: the source's whole state at `index` (the first load, or a reset after the source
  /// compacted the history a resume needed). Watchers from before it get a reset. From the first
  /// call on, a watch from an index above index() waits (this copy is behind the source) instead
  /// of getting a reset — unless the source went back in time (a load at an index below this
  /// copy's: its store was restored from a backup): then a watch from any index up to the highest
  /// this copy had reached gets a reset, since those indexes name states the source no longer has.
  void load_replicated(const std::vector<ServiceInstance>& instances, std::uint64_t index);
  bool replicated() const { return replicated_; }

 private:
  struct Entry {
    Entry(ServiceInstance in, SteadyTime now) : instance(std::move(in)), heartbeat(now) { refresh_json(); }
    /// Re-encodes `json`; call after every change to `instance`.
    void refresh_json();

    ServiceInstance instance;
    SteadyTime heartbeat;                  // monotonic twin of instance.last_heartbeat
    std::optional<SteadyTime> expired_at;  // set while down because of TTL
    InstanceStatus status_before_expiry = InstanceStatus::healthy;
    /// append_json(instance), cached (a full list is one copy per instance); replaced, never
    /// changed in place, so readers holding it keep a consistent record.
    std::shared_ptr<std::string> json;
  };
  using Service = std::map<std::string, Entry>;

  Entry* find(const std::string& service, const std::string& id);
  const Entry* find(const std::string& service, const std::string& id) const;
  void emit(EventType type, const ServiceInstance& instance, std::optional<InstanceStatus> previous = {});
  /// Appends an event at `index` (>= index_) and makes it the index.
  void record(std::uint64_t index, EventType type, const ServiceInstance& instance,
              std::optional<InstanceStatus> previous);
  Error not_found(const std::string& service, const std::string& id) const;

  const TimeSource& time_;
  RegistryStoreOptions options_;
  std::map<std::string, Service> services_;
  std::deque<RegistryEvent> history_;
  std::uint64_t index_ = 1;          // starts at 1 so that 0 always means "give me a snapshot"
  std::uint64_t rewound_from_ = 0;   // replicated: the highest index reached before the source went back
  std::uint64_t history_floor_ = 1;  // events with index > history_floor_ are in history_ (in index order)
  std::uint64_t persistent_version_ = 0;
  std::uint64_t expirations_total_ = 0;
  bool track_changes_ = false;
  bool replicated_ = false;
  std::set<std::pair<std::string, std::string>> changed_;  // filled while track_changes_
};

}  // namespace svckit
