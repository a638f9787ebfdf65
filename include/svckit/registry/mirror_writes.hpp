// MirrorWrites: an optional capability of a registry backend, for a mirror that holds a copy of
// the whole registry (svckitd's cluster mode over etcd) and so can skip the backend's own reads —
// and that times TTL instances' heartbeats itself. Discover it with dynamic_cast.
//
// Liveness held by the mirror: a TTL instance written through these calls is alive while its
// alive key exists; the key lives under a lease the caller holds and keeps alive (one lease for
// many instances: etcd::BucketLeases), so registering and heartbeats cost the store no lease of
// their own. The caller deletes the key with expire_alive() when the instance's TTL ran out
// without a heartbeat (the instance is then listed `down`, event `expired`); should the caller
// die, its lease runs out and the store deletes the keys. The record itself has no lease: the
// mirror removes it with remove_expired() once it has been expired for expiry_grace().
// Each write of an alive key is identified by the store's index (etcd: revision) it got; the
// alive-key changes the store's stream delivers are reported to observe_alive()'s callback, so a
// mirror can tell when another one took an instance over.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>

#include "svckit/registry/registry.hpp"

namespace svckit {

class MirrorWrites {
 public:
  virtual ~MirrorWrites() = default;

  struct Stored {
    ServiceInstance instance;  // as stored (times set by the backend)
    std::uint64_t index = 0;   // the store's index (etcd: revision) of the write
    bool existed = false;      // register_new: the store holds a record of it already, nothing written
    bool unchanged = false;    // replace: the stored record is the same: nothing written
  };
  /// Registers `instance` if the store holds no record of it (else `existed`: take replace()), a
  /// TTL instance with its alive key under `alive_lease`. No read first; registrations that
  /// arrive together go to the store in one transaction, each guarded on its own.
  /// `instances_now`: how many instances of the service the caller's copy holds — checked
  /// against the backend's per-service limit in place of a count read (`limit_exceeded`, field
  /// `id`). Errors: invalid input (field named), `unavailable` / `timeout` when the store did not
  /// answer — then the write may or may not have happened (registering again is safe). Thread-safe.
  virtual Awaitable<Result<Stored>> register_new(ServiceInstance instance, std::size_t instances_now,
                                                 std::string alive_lease) = 0;
  /// Registers over an existing record (or a new one, counting the service's instances in the
  /// store): `unchanged` when the stored instance is the same (nothing written: the caller treats it
  /// as a heartbeat). A TTL instance's alive key goes under `alive_lease`. Errors as register_new.
  virtual Awaitable<Result<Stored>> replace(ServiceInstance instance, std::string alive_lease) = 0;
  /// Puts the alive key of an existing record under `alive_lease` (a heartbeat that reached a
  /// mirror not holding the instance; brings an expired one back). The index of the write, or
  /// nullopt when the store has no record of it. Thread-safe.
  virtual Awaitable<Result<std::optional<std::uint64_t>>> hold_alive(std::string service, std::string id,
                                                                     std::string alive_lease) = 0;
  /// Deletes the alive key if it is still the write made at `index` (else someone wrote it since:
  /// false). Thread-safe.
  virtual Awaitable<Result<bool>> expire_alive(std::string service, std::string id, std::uint64_t index) = 0;

  /// Removes the record of a TTL instance whose alive key is gone — only if it still is (checked
  /// by the store atomically). True when removed; false when there was nothing to remove. Safe to
  /// call from several mirrors at once: one removes it. Thread-safe.
  virtual Awaitable<Result<bool>> remove_expired(std::string service, std::string id) = 0;

  /// How long an expired instance stays listed (as `down`) before remove_expired() is due.
  virtual std::chrono::milliseconds expiry_grace() const = 0;

  /// Set-up only: `observer(service, id, index)` runs for every write or deletion of an alive key
  /// the backend's change stream (ChangeStream::follow) delivers, before the batch's sink.
  using AliveObserver = std::function<void(const std::string& service, const std::string& id, std::uint64_t index)>;
  virtual void observe_alive(AliveObserver observer) = 0;
};

}  // namespace svckit
