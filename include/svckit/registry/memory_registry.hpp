// MemoryRegistry: the in-process registry (memory://) and the heart of svckitd.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>

#include "svckit/core/sleeper.hpp"
#include "svckit/core/wait_list.hpp"
#include "svckit/registry/registry.hpp"
#include "svckit/registry/registry_store.hpp"

namespace svckit {

struct MemoryRegistryOptions {
  RegistryStoreOptions store;
  /// Concurrent waiting watches; one more gets limit_exceeded. Default: 10000.
  std::size_t max_watchers = 10'000;
};

/// Where the writes of a MemoryRegistry that caches a shared store go (svckitd's cluster mode:
/// etcd). Each call returns once the write is stored there; the change reaches the cache through
/// the feed that calls apply_replicated(). Thread-safe.
class RegistryWriteThrough {
 public:
  virtual ~RegistryWriteThrough() = default;
  virtual Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance instance) = 0;
  virtual Awaitable<Result<void>> deregister(std::string service, std::string id) = 0;
  virtual Awaitable<Result<void>> renew(std::string service, std::string id) = 0;
  virtual Awaitable<Result<void>> set_status(std::string service, std::string id, InstanceStatus status) = 0;
};

/// Thread-safe: one mutex guards the store; waiting watches park in a WaitList (a watch whose
/// coroutine is destroyed leaves it at once) and wait on the injected Sleeper, so TTLs and long
/// polls both run on the injected clock (a simulation drives them in virtual time). Expiry happens
/// only when sweep() is called (svckitd calls it every `sweep_interval`).
class MemoryRegistry final : public Registry {
 public:
  /// Long polls wait in real time (an AsioSleeper, deadlines on the real clock) whatever `time`
  /// is; TTLs follow `time`.
  MemoryRegistry(const TimeSource& time, MemoryRegistryOptions options);
  /// Long polls wait on `sleeper` with deadlines on `time`, so the two must pair (e.g.
  /// testing::VirtualTime for both). Both must outlive the registry.
  MemoryRegistry(const TimeSource& time, Sleeper& sleeper, MemoryRegistryOptions options);
  ~MemoryRegistry() override;

  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance instance) override;
  Awaitable<Result<void>> deregister(std::string service, std::string id) override;
  Awaitable<Result<void>> renew(std::string service, std::string id) override;
  Awaitable<Result<void>> set_status(std::string service, std::string id, InstanceStatus status) override;
  Awaitable<Result<ServiceInstance>> get(std::string service, std::string id) override;
  Awaitable<Result<std::vector<ServiceInstance>>> list(std::string service, InstanceFilter filter) override;
  Awaitable<Result<std::vector<ServiceSummary>>> list_services() override;
  Awaitable<Result<WatchResult>> watch(WatchRequest request) override;

  /// Synchronous twins for composition roots and tests.
  Result<ServiceInstance> register_now(ServiceInstance instance);
  /// RegistryStore::replace under the lock: watchers see the whole change at once.
  Result<std::size_t> replace_now(const std::string& service, std::vector<ServiceInstance> wanted);
  std::size_t sweep();
  std::uint64_t index() const;
  std::size_t watcher_count() const;
  std::size_t instance_count() const;
  std::size_t instance_count(const std::string& service) const;
  bool contains(const std::string& service, const std::string& id) const;
  std::uint64_t expirations_total() const;
  std::vector<ServiceSummary> services_now() const;
  /// Visits matching instances under the registry lock (keep `visit` short: it blocks writers).
  /// Returns the index the visited state belongs to.
  std::uint64_t for_each(const std::string& service, const InstanceFilter& filter,
                         const std::function<void(const ServiceInstance&, const std::string& json)>& visit) const;
  /// The matching instances' JSON records (RegistryStore::json_records: shared, immutable, one
  /// pointer each) and the index they belong to, taken under the lock.
  struct JsonRecords {
    std::vector<std::shared_ptr<const std::string>> records;
    std::uint64_t index = 0;
  };
  JsonRecords json_records(const std::string& service, const InstanceFilter& filter) const;

  /// Replication (svckitd's cluster mode): from now on register/deregister/renew/set_status go to
  /// `writer` (which must outlive the registry) and this registry is a cache fed with
  /// apply_replicated()/load_replicated() (RegistryStore's); sweep() finds nothing to expire.
  /// Set-up only, before the first call.
  void set_write_through(RegistryWriteThrough* writer) { writer_ = writer; }
  bool write_through() const { return writer_ != nullptr; }
  void apply_replicated(std::uint64_t index, const std::vector<RegistryEvent>& events);
  void load_replicated(const std::vector<ServiceInstance>& instances, std::uint64_t index);

  /// Set-up only, before the first call. While `refusal` returns an error (svckitd: its persistent
  /// storage is failing), a registration that would change a persistent (TTL-less) record and a
  /// deregistration of one are refused with that error before anything changes, so a write that
  /// cannot be stored is not applied either. Heartbeats, status changes and TTL instances, which
  /// live in memory only, are not affected. `refusal` is called under the registry lock.
  void set_persistent_write_refusal(std::function<std::optional<Error>()> refusal) {
    persistent_refusal_ = std::move(refusal);
  }

  /// From now on every waiting and future watch answers at once (for graceful shutdown).
  void release_watchers();

  std::vector<ServiceInstance> persistent_instances(std::uint64_t* version) const;
  std::uint64_t persistent_version() const;
  /// The persistent instances as JSON records separated by ",\n" (no DOM: the store's cached
  /// records are copied under the lock), with their version and the registry index.
  std::string persistent_json(std::uint64_t* version, std::uint64_t* index) const;
  /// Change tracking for incremental persistence (RegistryStore::track_changes / take_changes),
  /// under the lock; take_persistent_changes also sets `index` and returns the persistent version.
  void track_persistent_changes();
  std::uint64_t take_persistent_changes(
      const std::function<void(const std::string& service, const std::string& id, const std::string* json)>& visit,
      std::uint64_t* index);
  Result<void> restore(const std::vector<ServiceInstance>& instances, std::uint64_t index);

 private:
  void notify_locked();

  RealTimeSource real_time_;
  AsioSleeper real_sleeper_;
  const TimeSource& wait_time_;  // the clock long-poll deadlines are measured on (pairs with sleeper_)
  Sleeper& sleeper_;
  mutable std::mutex mutex_;
  RegistryStore store_;    // guarded by mutex_
  WaitList waiters_;       // parked under mutex_ (a change after a collect() is never missed)
  bool released_ = false;  // guarded by mutex_
  MemoryRegistryOptions options_;
  RegistryWriteThrough* writer_ = nullptr;                    // set before use, then read only
  std::function<std::optional<Error>()> persistent_refusal_;  // set before use, then read only
};

}  // namespace svckit
