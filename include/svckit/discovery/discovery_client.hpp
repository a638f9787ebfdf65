// DiscoveryClient: a process's view of the registry. Keeps a local cache fresh through one watch,
// registers the process itself with a heartbeat, and survives registry outages (static stability).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include <boost/asio/any_io_executor.hpp>

#include "svckit/core/async_event.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/core/random.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/discovery/instance_selection.hpp"
#include "svckit/registry/registry.hpp"

namespace svckit {

struct DiscoveryOptions {
  std::chrono::milliseconds watch_wait{30'000};     // Default: 30s long polls.
  std::chrono::milliseconds retry_initial{100};     // Default: first retry after ~100ms (jittered)...
  std::chrono::milliseconds retry_max{10'000};      // ...doubling up to 10s while the registry is down.
  std::chrono::milliseconds heartbeat_interval{0};  // Default: 0 = ttl / 3.
  /// Default: true. A snapshot that drops every instance of a service that had some is not applied
  /// (the last known instances stay) until a change event for that service arrives.
  bool empty_push_protection = true;
  /// How get_service() and service_url() choose an instance (instance_selection.hpp). Default:
  /// weighted (smooth weighted round robin).
  InstanceSelection selection = InstanceSelection::weighted;
  /// Default: true. false: shutdown() leaves this process's registration in place (it expires by
  /// its TTL, or an operator removes it) — auto_deregister: false in a service_discovery config.
  bool deregister_on_shutdown = true;
};

struct DiscoveryStats {
  std::uint64_t index = 0;          // registry index the cache reflects
  bool synced = false;              // a first snapshot has been applied
  bool registry_reachable = false;  // the last watch call succeeded
  std::uint64_t watch_errors = 0;
  std::uint64_t empty_pushes_rejected = 0;
  std::uint64_t heartbeat_failures = 0;
  std::uint64_t reregistrations = 0;  // heartbeat found us gone (registry restarted) and registered again
};

/// Threading: discover(), service_url(), services() and stats() are thread-safe; they copy a
/// reference to an immutable snapshot under a mutex held for a few nanoseconds (libstdc++ 12's
/// std::atomic<shared_ptr> unlocks a load with a relaxed store: a data race TSan reports, so it is
/// not used here). Everything else must be called from
/// coroutines on `executor`, which must be a strand or a single-threaded io_context.
/// Lifetime: call shutdown() (or stop the io_context) before destroying the client; the registry
/// must outlive it.
class DiscoveryClient {
 public:
  using EventHandler = std::function<void(const RegistryEvent&)>;

  /// Real time: the watch's pacing, retry backoff and heartbeats run on the real clock.
  DiscoveryClient(const boost::asio::any_io_executor& executor, Registry& registry, Random& random,
                  DiscoveryOptions options = {}, MetricsRegistry* metrics = nullptr);
  /// Injected time: pacing is measured on `time` and every wait (retry backoff, busy-loop guard,
  /// heartbeat interval, drain) runs on `sleeper`, so a simulation drives the client in virtual
  /// time. `time` and `sleeper` must outlive the client and pair with one clock.
  DiscoveryClient(const boost::asio::any_io_executor& executor, Registry& registry, const TimeSource& time,
                  Random& random, Sleeper& sleeper, DiscoveryOptions options = {}, MetricsRegistry* metrics = nullptr);
  ~DiscoveryClient();
  DiscoveryClient(const DiscoveryClient&) = delete;
  DiscoveryClient& operator=(const DiscoveryClient&) = delete;

  /// Starts the watch loop that keeps the cache fresh. Idempotent.
  void start();
  /// True once the first snapshot is in the cache (false if `timeout` passed first).
  Awaitable<bool> wait_synced(std::chrono::milliseconds timeout);

  /// Registers this process. With ttl > 0 a heartbeat runs every ttl/3 (or heartbeat_interval); if a
  /// heartbeat finds the instance gone (registry restarted, instance expired), it registers again.
  Awaitable<Result<ServiceInstance>> register_self(ServiceInstance instance);
  Awaitable<Result<void>> update_status(InstanceStatus status);
  Awaitable<Result<void>> deregister_self();
  /// Graceful exit: maintenance -> wait `drain` (callers stop picking us) -> deregister (unless
  /// options.deregister_on_shutdown is false: then the status stays as it was) -> stop loops.
  Awaitable<void> shutdown(std::chrono::milliseconds drain);

  /// Cached instances of `service` that match `filter` (no network round trip).
  std::vector<ServiceInstance> discover(const std::string& service, const InstanceFilter& filter = {}) const;
  /// Cache first; before the first sync, asks the registry directly.
  Awaitable<Result<std::vector<ServiceInstance>>> discover_async(std::string service);
  /// One healthy instance (weight above 0) chosen by options.selection — weighted by default, so
  /// an instance of weight 200 gets twice the picks of one of weight 100. not_found when none.
  Result<ServiceInstance> get_service(const std::string& service) const;
  /// get_service()'s base_url().
  Result<std::string> service_url(const std::string& service) const;
  std::vector<std::string> services() const;
  /// Cached instances of `service`, any status, without copying them (0 for an unknown service).
  std::size_t instance_count(const std::string& service) const;

  /// Handlers run on the client's executor for every change applied to the cache. Returns an id.
  std::uint64_t on_event(EventHandler handler);
  void remove_handler(std::uint64_t id);

  DiscoveryStats stats() const;

 private:
  using Instances = std::vector<ServiceInstance>;
  using Catalog = std::map<std::string, std::shared_ptr<const Instances>>;

  Awaitable<void> watch_loop();
  Awaitable<void> heartbeat_loop();
  /// Sleeps on the injected sleeper; `stop` (may be null) ends it early.
  Awaitable<void> sleep(CancelToken* stop, std::chrono::milliseconds d);
  void apply(const WatchResult& result);
  void apply_reset(const WatchResult& result, Catalog& next, std::vector<RegistryEvent>& changes);
  void publish(Catalog next);
  void notify(const std::vector<RegistryEvent>& changes);
  std::chrono::milliseconds jittered(std::chrono::milliseconds base);

  boost::asio::any_io_executor executor_;
  Registry& registry_;
  RealTimeSource real_time_;
  AsioSleeper real_sleeper_;
  const TimeSource& time_;
  Random& random_;
  Sleeper& sleeper_;
  DiscoveryOptions options_;

  std::shared_ptr<const Catalog> current_catalog() const;
  mutable std::mutex catalog_mutex_;
  std::shared_ptr<const Catalog> catalog_;  // guarded by catalog_mutex_; the Catalog itself is immutable
  mutable InstanceSelector selector_;
  std::atomic<std::uint64_t> index_{0};
  std::atomic<bool> synced_{false};
  std::atomic<bool> reachable_{false};
  std::atomic<std::uint64_t> watch_errors_{0}, empty_rejected_{0}, heartbeat_failures_{0}, reregistrations_{0};

  // Executor-confined state.
  std::set<std::string> stale_services_;  // kept by empty-push protection, replaced on their next event
  std::optional<ServiceInstance> self_;
  bool started_ = false;
  bool heartbeat_running_ = false;
  bool stopping_ = false;
  int loops_running_ = 0;
  std::shared_ptr<CancelToken> watch_cancel_ = std::make_shared<CancelToken>();  // the watch and its retry waits
  std::shared_ptr<CancelToken> heartbeat_cancel_;                                // the running heartbeat loop's waits
  AsyncEvent synced_event_;
  AsyncEvent loops_done_;
  std::vector<std::pair<std::uint64_t, EventHandler>> handlers_;
  std::uint64_t next_handler_id_ = 1;

  Counter* watch_errors_metric_ = nullptr;
  Counter* empty_rejected_metric_ = nullptr;
  Counter* heartbeat_failures_metric_ = nullptr;
  Family<Gauge>* instances_metric_ = nullptr;
};

}  // namespace svckit
