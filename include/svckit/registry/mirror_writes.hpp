// MirrorWrites: an optional capability of a registry backend, for a mirror that holds a copy of
// the whole registry (svckitd's cluster mode over etcd) and so can skip the backend's own reads.
//
// register_new() registers an instance the caller's copy says is new: no read of the record
// first, no count of the service's instances, and registrations that arrive together go to the
// store in one transaction (a group commit), each still guarded on its own — a record that exists
// after all is left alone and reported, never overwritten. A TTL instance registered this way
// expires like any other (it is listed `down`, event `expired`, once its heartbeats stop), but its
// record is not removed by the store after the grace: the mirror removes it with
// remove_expired() once it has been expired for expiry_grace() — one store write per expiry
// instead of one per registration. Discover it with dynamic_cast.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <chrono>
#include <cstdint>

#include "svckit/registry/registry.hpp"

namespace svckit {

class MirrorWrites {
 public:
  virtual ~MirrorWrites() = default;

  struct Stored {
    ServiceInstance instance;  // as stored (times set by the backend)
    std::uint64_t index = 0;   // the store's index (etcd: revision) of the write
    bool existed = false;      // the store holds a record of this instance already: nothing was written
  };
  /// Registers `instance` if the store holds no record of it (else `existed`, and the caller takes
  /// Registry::register_instance, which updates a record). `instances_now`: how many instances of
  /// the service the caller's copy holds — checked against the backend's per-service limit in
  /// place of a count read (`limit_exceeded`, field `id`). Errors: invalid input (field named),
  /// `unavailable` / `timeout` when the store did not answer — then the write may or may not have
  /// happened (like any store timeout; registering again is safe). Thread-safe.
  virtual Awaitable<Result<Stored>> register_new(ServiceInstance instance, std::size_t instances_now) = 0;

  /// Removes the record of a TTL instance whose liveness has run out — only if it still has (not
  /// renewed, re-registered or made persistent meanwhile; checked by the store atomically). True
  /// when removed; false when there was nothing to remove. Safe to call from several mirrors at
  /// once: one removes it. Thread-safe.
  virtual Awaitable<Result<bool>> remove_expired(std::string service, std::string id) = 0;

  /// How long an expired instance stays listed (as `down`) before remove_expired() is due.
  virtual std::chrono::milliseconds expiry_grace() const = 0;
};

}  // namespace svckit
