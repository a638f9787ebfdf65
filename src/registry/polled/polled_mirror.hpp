// PolledMirror: watch() for registry backends whose servers answer states and have no blocking
// query — Eureka (clients fetch the registry, or its delta, every 30 s) and Nacos v1 (clients poll
// /instance/list). The backend says how to read the whole state of a scope (one service, or every
// service); the mirror applies each answer to an in-process MemoryRegistry as the exact difference
// to the last one, so watchers get ordered events with indices of their own, resumable from any
// index the mirror still holds. A waiting watch re-reads its scope every `poll`, and is woken by
// any read of an overlapping scope (another watcher's, or one after this client's own writes).
//
// Guarantees (docs/registry-eureka.md, docs/registry-nacos.md): every difference between two reads
// is delivered once, in order; changes between two reads are coalesced (an instance registered and
// removed within one poll is not seen). A TTL instance that turns down is reported `expired`.
// Indices are this client's: they start at the wall clock's milliseconds when the mirror is made
// (so they do not go back across a restart of the client), and an index the mirror never gave
// answers with a reset. Events carry the mirror's registration and heartbeat times; get() and
// list() of the backend read the server's.
//
// Thread-safety: thread-safe; a read that started before another read of an overlapping scope
// was applied is dropped, so an old answer never overwrites a newer one.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <functional>
#include <map>
#include <mutex>

#include "svckit/registry/memory_registry.hpp"

namespace svckit {

class PolledMirror {
 public:
  /// The whole state of `scope` (one service; every service when empty), as the server answers it
  /// now. Instances that do not validate are left out of the mirror.
  using Fetch = std::function<Awaitable<Result<std::vector<ServiceInstance>>>(std::string scope)>;

  /// `time` must outlive the mirror; `fetch` is called from watch() and refresh().
  PolledMirror(const TimeSource& time, std::chrono::milliseconds poll, Fetch fetch);

  /// Registry::watch, served from the mirror. A call from index 0 reads the scope first, so its
  /// snapshot is the server's state now. A failed read ends the watch with its error.
  Awaitable<Result<WatchResult>> watch(WatchRequest request);
  /// Reads `scope` now and applies it.
  Awaitable<Result<void>> refresh(std::string scope);

 private:
  /// True when `scope` (or every service) was read within `poll`.
  bool fresh(const std::string& scope) const;
  static void mark_expired(WatchResult& result);

  const TimeSource& time_;
  std::chrono::milliseconds poll_;
  Fetch fetch_;
  MemoryRegistry mirror_;
  mutable std::mutex mutex_;
  std::uint64_t tickets_ = 0;                                             // guarded by mutex_
  std::map<std::string, std::uint64_t> applied_;                          // scope -> ticket of the read applied last
  std::map<std::string, std::chrono::steady_clock::time_point> read_at_;  // scope -> when that read was applied
};

}  // namespace svckit
