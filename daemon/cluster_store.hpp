// ClusterStore: svckitd's registry kept in etcd (cluster mode, `store: etcd://h1:p1,h2:p2,...`), so
// several svckitd nodes over one etcd cluster serve one registry and any of them may go away.
//
// Writes go to etcd through the etcd:// registry (its key layout). A TTL instance's liveness is held
// by one node at a time (HeldLiveness): its alive key lives under that node's lease for the TTL
// (etcd::BucketLeases, one lease per TTL for all the instances the node holds), the node answers
// its heartbeats from memory — no etcd write, no read — and deletes the alive key when a TTL
// passed without one (a guarded delete: exactly once in the cluster). A heartbeat reaching another
// node moves the instance there (one write). A node that dies stops keeping its leases alive, and
// etcd deletes their keys no earlier than each instance's TTL after its last heartbeat. Registering
// costs one transaction shared with the registrations arriving meanwhile, and no lease grant.
// Each node's MemoryRegistry is a
// cache of that state, fed by one etcd watch: lists, gets and long polls are answered locally, and
// the registry index is etcd's revision, so a client may move to another node mid-watch and go on
// from its index. A write is answered once etcd stored it and this node's cache has applied it
// (read your writes on the node that answered).
//
// When etcd is unreachable, reads go on from the cache (connected() false, the metric
// svckit_cluster_store_connected 0, /healthz failing) and writes fail with `unavailable` (503):
// nothing is acknowledged that etcd did not store.
//
// Thread-safety: the RegistryWriteThrough calls may come from any thread; follow() runs as one
// coroutine.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/held_liveness.hpp"
#include "svckit/core/async_event.hpp"
#include "svckit/core/cancel_token.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/core/wait_list.hpp"
#include "svckit/etcd/bucket_leases.hpp"
#include "svckit/etcd/etcd_client.hpp"
#include "svckit/registry/memory_registry.hpp"
#include "svckit/registry/mirror_writes.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace svckit::daemon {

class ClusterStore final : public RegistryWriteThrough {
 public:
  /// `url`: an etcd:// URL (hosts, TLS and auth options as for the etcd:// registry, `?prefix=`).
  /// Errors name the setting `store`. `cache` must outlive the store.
  static Result<std::unique_ptr<ClusterStore>> create(const std::string& url, MemoryRegistry& cache,
                                                      const RegistryDeps& deps, MetricsRegistry& metrics);
  ~ClusterStore() override;

  /// Loads etcd's whole registry into the cache (before the node serves). Errors: etcd unreachable.
  Awaitable<Result<void>> load();
  /// Follows etcd's changes into the cache until stop(), reconnecting after failures.
  Awaitable<void> follow();
  /// Ends follow() (its watch is cancelled). Any thread.
  void stop();

  bool connected() const { return connected_.load(); }
  /// No write in progress (shutdown waits for this after stop(): a write's frame refers to the store).
  bool idle() const { return writes_.load() == 0; }
  /// Which node removes an expired instance's record once its grace has passed (the one that owns
  /// its health checks); until set, this node does. Any thread.
  void set_ownership(std::function<bool(const std::string& service, const std::string& id)> owns);
  /// Set-up only: `hook` runs (on the probe's coroutine) each time etcd leaves a probe unanswered —
  /// the other streams a node keeps open on etcd (config, ACL tokens) are re-opened by it.
  void on_probe_failed(std::function<void()> hook) { probe_hooks_.push_back(std::move(hook)); }
  /// Set-up only: `hook` runs when the probe finds etcd went back in time (restored from a backup:
  /// its revision is below what this node applied, or its cluster id changed) — the other copies
  /// a node keeps (config, ACL tokens) are read again by it. The registry cache is reloaded too.
  void on_store_rewound(std::function<void()> hook) { rewound_hooks_.push_back(std::move(hook)); }
  /// Expired instances waiting for their grace to pass (this node tracks every one).
  std::size_t expiring() const;
  /// TTL instances whose liveness this node holds (their heartbeats are answered here).
  std::size_t held() const { return held_.held(); }
  /// The etcd revision the cache has applied.
  std::uint64_t applied() const { return applied_.load(); }
  const std::string& url() const { return url_; }
  /// The etcd client and key prefix the store uses (cluster membership shares them).
  etcd::EtcdClient& etcd() { return *etcd_; }
  const std::string& prefix() const { return prefix_; }

  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance instance) override;
  Awaitable<Result<void>> deregister(std::string service, std::string id) override;
  Awaitable<Result<void>> renew(std::string service, std::string id) override;
  Awaitable<Result<void>> set_status(std::string service, std::string id, InstanceStatus status) override;

 private:
  ClusterStore(std::string url, std::unique_ptr<Registry> remote, std::unique_ptr<etcd::EtcdClient> etcd,
               std::string prefix, MemoryRegistry& cache, MetricsRegistry& metrics);
  /// After a write of (service, id): waits (at most a few seconds) until the cache has applied it.
  Awaitable<void> catch_up(const std::string& service, const std::string& id, bool removed);
  /// Waits (at most a few seconds) until the cache applied `target` (or, `removed`, no longer
  /// holds the instance).
  Awaitable<void> wait_applied(std::uint64_t target, const std::string& service, const std::string& id, bool removed);
  /// Applies one batch (or a reset) from etcd to the cache.
  /// Applies a watch answer or stream batch asked for at reload count `reloads`; false (nothing
  /// applied) when a reload came in between.
  bool apply(WatchResult changes, std::uint64_t reloads);
  /// follow() for a backend without ChangeStream: one watch after another.
  Awaitable<void> follow_by_watches();
  /// Removes the records of instances expired for longer than the grace (the ones this node owns),
  /// every second until stop(): with MirrorWrites, etcd does not remove them itself.
  Awaitable<void> reap_loop(MirrorWrites& mirror);
  /// Keeps this node's leases alive and deletes the alive keys of the instances it holds whose TTL
  /// ran out, every 250 ms until stop().
  Awaitable<void> liveness_loop(MirrorWrites& mirror);
  /// Deletes the alive keys of `due` (grouped into few transactions), then returns.
  Awaitable<void> expire_held(MirrorWrites& mirror, std::vector<HeldLiveness::Due> due);
  /// register_instance() with MirrorWrites: the alive key under this node's lease.
  Awaitable<Result<ServiceInstance>> register_held(MirrorWrites& mirror, ServiceInstance instance);
  /// renew() with MirrorWrites: answered here when this node holds the instance, else moved here.
  Awaitable<Result<void>> renew_held(MirrorWrites& mirror, std::string service, std::string id);
  /// This node lost track of what it holds (its cache was reloaded): lets go of everything.
  void release_held();
  /// Notes expiries (and removals) from one batch or reset, for reap_loop.
  void track_expiries(const WatchResult& changes);
  /// Beside a long-lived watch stream: asks etcd something every few seconds; when it does not
  /// answer, the cache is marked stale and the stream is re-opened (a silent network partition
  /// would otherwise leave the stream waiting forever, the cache unmarked).
  Awaitable<void> probe_loop();
  /// After a probe's answer: etcd went back in time (or is another cluster) -> reload everything.
  /// `applied_before` is what the cache had applied when the probe was sent: the stream may have
  /// applied later revisions while the answer travelled, which is no rewind.
  Awaitable<void> check_not_rewound(const nlohmann::json& header, std::uint64_t applied_before);
  void applied_to(std::uint64_t revision);
  void set_connected(bool connected);
  struct WriteInProgress {
    explicit WriteInProgress(std::atomic<int>& n) : count(n) { ++count; }
    ~WriteInProgress() { --count; }
    std::atomic<int>& count;
  };

  const std::string url_;
  std::unique_ptr<Registry> remote_;        // the etcd:// registry: every write goes through it
  MirrorWrites* mirror_ = nullptr;          // remote_'s MirrorWrites (etcd://: always)
  std::unique_ptr<etcd::EtcdClient> etcd_;  // for the revision a write must wait for
  const std::string prefix_;                // the registry's keys: prefix_ + "/..."
  MemoryRegistry& cache_;
  AsioSleeper sleeper_;
  WaitList progress_;  // woken whenever applied_ moves
  std::atomic<std::uint64_t> applied_{0};
  /// Bumped by a reload (check_not_rewound): a watch answer or stream batch that was asked for
  /// before it is dropped, not applied — it would move applied_ past revisions the reload's
  /// snapshot does not hold, and the re-opened stream would never deliver them.
  std::atomic<std::uint64_t> reloads_{0};
  std::mutex apply_mutex_;  // one apply() or reload at a time (follow() and probe_loop() may run on two threads)
  std::atomic<bool> connected_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<int> writes_{0};  // write calls in progress
  std::shared_ptr<CancelToken> cancel_ = std::make_shared<CancelToken>();
  std::mutex stream_mutex_;
  std::shared_ptr<CancelToken> stream_cancel_;        // guarded by stream_mutex_: the open watch stream's
  AsyncEvent probe_done_;                             // set when probe_loop() has returned
  std::vector<std::function<void()>> probe_hooks_;    // set-up only
  std::vector<std::function<void()>> rewound_hooks_;  // set-up only
  std::atomic<std::uint64_t> cluster_id_{0};          // etcd's, as first seen (0: not yet)
  AsyncEvent reap_done_;                              // set when reap_loop() has returned (or never ran)
  // One token per loop that sleeps (a token wakes one sleep): follow()'s retries use cancel_.
  std::shared_ptr<CancelToken> reap_cancel_ = std::make_shared<CancelToken>();
  std::shared_ptr<CancelToken> probe_cancel_ = std::make_shared<CancelToken>();
  std::shared_ptr<CancelToken> liveness_cancel_ = std::make_shared<CancelToken>();
  AsyncEvent liveness_done_;  // set when liveness_loop() has returned (or never ran)
  etcd::BucketLeases leases_;
  HeldLiveness held_;
  mutable std::mutex expiry_mutex_;
  // guarded by expiry_mutex_: when each expired instance's record is due for removal
  std::map<std::pair<std::string, std::string>, std::chrono::steady_clock::time_point> expiring_;
  std::function<bool(const std::string&, const std::string&)> owns_;  // guarded by expiry_mutex_
  Gauge& connected_gauge_;
  Gauge& revision_gauge_;
  Counter& resets_;
  Counter& reaped_;
  Counter& moved_;
  Counter& expired_here_;
};

}  // namespace svckit::daemon
