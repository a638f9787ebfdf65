// LoadBalancer: picks an instance from a HostSet. Policies are pure logic (an injected Random and
// TimeSource, no threads of their own) chosen by name through BalancerPlugins.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/balance/host_set.hpp"
#include "svckit/core/random.hpp"
#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit {

/// Live load of one host, kept across host-set updates (by instance id) for load-aware policies.
struct HostLoad {
  std::atomic<std::int64_t> active{0};         // requests in flight
  std::atomic<double> latency_ewma_ns{0};      // peak_ewma: peak-sensitive moving average of latency
  std::atomic<std::int64_t> sampled_at_ns{0};  // steady time of the last latency sample
};

struct PickRequest {
  std::optional<std::uint64_t> hash;                  // key for ring_hash / maglev (see hash_key())
  const std::vector<std::string>* exclude = nullptr;  // instance ids already tried (retry elsewhere)
};

struct Pick {
  const ServiceInstance* instance = nullptr;  // valid while `snapshot` is held
  HostLoad* load = nullptr;                   // the host's live load (callers count requests in flight)
  bool panic = false;                         // healthy share below the threshold: all hosts were used
  std::shared_ptr<const void> snapshot;       // keeps instance and load alive (one reference count per pick)
};

struct BalancerOptions {
  /// Envoy semantics: below this healthy share (healthy / hosts with weight > 0), balance across all
  /// hosts instead of overloading the few healthy ones. 0 disables panic mode. Default: 0.5.
  double panic_threshold = 0.5;
  /// ring_hash: points on the ring for a host of weight 100 (scaled by weight, at least 1). Fixed
  /// per host, not per ring, so removing a host moves only its own keys. Default: 256.
  std::size_t ring_points_per_host = 256;
  /// maglev: lookup table size; must be prime. Default: 65537.
  std::size_t maglev_table_size = 65537;
  /// peak_ewma: how fast old latency samples fade (Finagle's decay time). Default: 10s.
  std::chrono::milliseconds peak_ewma_decay{10'000};
  /// Slow start (Envoy's slow_start_config): a host that joins after the first update, or turns
  /// healthy again, gets weight × max(min_weight_percent, (age / window)^(1 / aggression)) until
  /// `slow_start_window` has passed. 0 disables it. Applies to weighted_round_robin,
  /// weighted_random, least_request and peak_ewma; the hash policies (ring_hash, maglev) keep full
  /// weights so that keys do not move while a host ramps up. Default: off.
  std::chrono::milliseconds slow_start_window{0};
  double slow_start_aggression = 1.0;         // > 0; 1 = linear ramp. Default: 1.
  double slow_start_min_weight_percent = 10;  // floor of the ramp, in percent. Default: 10.
};

/// What a balancer is doing now, for metrics and status pages.
struct BalancerState {
  std::size_t hosts = 0;       // instances in the snapshot
  std::size_t routable = 0;    // weight > 0, any status
  std::size_t healthy = 0;     // weight > 0, healthy and not ejected
  std::size_t candidates = 0;  // what picks choose from (healthy, or routable in panic)
  std::size_t slow_start = 0;  // hosts still ramping up
  bool panic = false;
};

/// What a policy may use. Referenced objects must outlive the balancer.
struct BalancerDeps {
  Random& random;
  const TimeSource& time;  // read by peak_ewma on record() and, while a host ramps up, on pick()
};

/// Thread-safety: update() and pick() may run concurrently from any threads; pick() takes no lock
/// except on a thread's first pick after an update (it reads a per-thread cached reference to an
/// immutable state), for every policy.
class LoadBalancer {
 public:
  virtual ~LoadBalancer() = default;
  virtual std::string_view name() const = 0;
  /// Installs a new snapshot; builds the policy's tables.
  virtual void update(std::shared_ptr<const HostSet> hosts) = 0;
  /// not_found: no host with weight > 0; unavailable: every candidate is excluded.
  virtual Result<Pick> pick(const PickRequest& request) = 0;
  /// Reports how a picked request went (latency-aware policies learn from it; others ignore it).
  virtual void record(const Pick& /*pick*/, std::chrono::nanoseconds /*latency*/) {}
  /// The current snapshot's counts and panic flag. Thread-safe.
  virtual BalancerState state() const = 0;
};

/// Stable 64-bit hash of a key (FNV-1a with a 64-bit finaliser): same value on every platform.
std::uint64_t hash_key(std::string_view key) noexcept;

using BalancerFactory = std::function<std::unique_ptr<LoadBalancer>(const BalancerOptions&, const BalancerDeps&)>;

/// Built once by a Builder, then frozen; create() is thread-safe.
class BalancerPlugins {
 public:
  class Builder {
   public:
    Builder& add(std::string name, BalancerFactory factory);
    BalancerPlugins build() &&;

   private:
    friend class BalancerPlugins;
    std::map<std::string, BalancerFactory> factories_;
  };
  /// Unknown names are invalid_argument listing the known policies.
  Result<std::unique_ptr<LoadBalancer>> create(std::string_view name, const BalancerOptions& options,
                                               const BalancerDeps& deps) const;
  std::vector<std::string> names() const;

 private:
  std::map<std::string, BalancerFactory> factories_;
};

/// round_robin, random, weighted_round_robin (smooth), weighted_random, least_request, peak_ewma,
/// ring_hash, maglev.
void register_builtin_balancers(BalancerPlugins::Builder& builder);

}  // namespace svckit
