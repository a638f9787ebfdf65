// SnapshotBalancer: what every policy shares — the panic decision, per-host load carried across
// updates, slow start, exclusion of hosts already tried, and a pick over an immutable state that
// takes no lock except on a thread's first pick after an update.
#pragma once

#include <algorithm>
#include <atomic>
#include <limits>
#include <memory>
#include <mutex>

#include "svckit/balance/load_balancer.hpp"

namespace svckit::balance_detail {

/// The hosts a policy balances over for one snapshot.
struct Candidates {
  std::shared_ptr<const HostSet> hosts;
  std::vector<std::uint32_t> indices;            // into hosts->hosts: healthy, or routable in panic
  std::vector<std::shared_ptr<HostLoad>> loads;  // one per host (all hosts), kept by id across updates
  std::vector<double> effective_weight;          // one per host: the instance weight, lowered in slow start
  std::vector<SteadyTime> ramp_start;            // one per host: start of its slow start, or {} when none
  std::int64_t refresh_at_ns = std::numeric_limits<std::int64_t>::max();  // rebuild then (slow start)
  std::size_t slow_start = 0;                                             // hosts ramping now
  bool panic = false;
};

/// Fills a state for `hosts`. `previous` (the state being replaced, or null for the first update)
/// carries loads and ramp starts by instance id; hosts new since a previous state, or healthy again,
/// start their slow start at `now`.
Candidates make_candidates(std::shared_ptr<const HostSet> hosts, const BalancerOptions& options,
                           const Candidates* previous, SteadyTime now);

/// Maps 32 random bits onto [0, n) with a multiply instead of a division (Lemire). REQUIRES: n < 2^32.
inline std::size_t scale32(std::uint64_t bits32, std::size_t n) {
  return static_cast<std::size_t>((bits32 * static_cast<std::uint64_t>(n)) >> 32);
}

/// The same for 64 random bits and any 64-bit n.
inline std::uint64_t scale64(std::uint64_t bits, std::uint64_t n) {
  __extension__ using u128 = unsigned __int128;
  return static_cast<std::uint64_t>((static_cast<u128>(bits) * n) >> 64);
}

/// Power of two choices: draws two distinct positions in [0, n) with one random number and returns
/// `a` when prefer(a, b), else `b`. REQUIRES: n >= 1.
template <class Prefer>
std::size_t best_of_two(Random& random, std::size_t n, Prefer prefer) {
  if (n == 1) return 0;
  const auto r = random.next_u64();  // two 32-bit halves
  const auto a = scale32(r & 0xffffffffU, n);
  auto b = scale32(r >> 32, n - 1);
  if (b >= a) ++b;
  return prefer(a, b) ? a : b;
}

template <class State>
class SnapshotBalancer : public LoadBalancer {
 public:
  SnapshotBalancer(const BalancerOptions& options, const BalancerDeps& deps) : options_(options), time_(deps.time) {}

  void update(std::shared_ptr<const HostSet> hosts) final {
    std::lock_guard lock(write_mutex_);
    install(std::move(hosts), load_state());
  }

  Result<Pick> pick(const PickRequest& request) final {
    auto& cached = current();
    const State* state = cached.get();
    if (state == nullptr || state->indices.empty()) {
      return make_error(ErrorCode::not_found, "no instance can take traffic", "service");
    }
    std::shared_ptr<const State> refreshed;
    if (state->refresh_at_ns != std::numeric_limits<std::int64_t>::max() &&
        time_.steady_now().time_since_epoch().count() >= state->refresh_at_ns) {
      refreshed = refresh_if_due();
      if (refreshed) state = refreshed.get();
    }
    const std::size_t n = state->indices.size();
    std::size_t position = choose(*state, request);
    if (position >= n) position %= n;      // only round robin's counter needs the division
    for (std::size_t k = 0; k < n; ++k) {  // walk on from the choice past hosts already tried
      const auto index = state->indices[position];
      if (++position == n) position = 0;
      const auto& instance = state->hosts->hosts[index];
      if (request.exclude != nullptr &&
          std::find(request.exclude->begin(), request.exclude->end(), instance.id) != request.exclude->end()) {
        continue;
      }
      Pick pick{&instance, state->loads[index].get(), state->panic, nullptr};
      // The state owns hosts and loads: one reference count per pick keeps them alive.
      pick.snapshot = refreshed ? std::shared_ptr<const void>(std::move(refreshed)) : cached;
      return pick;
    }
    return make_error(ErrorCode::unavailable, "every instance was already tried", "exclude");
  }

  BalancerState state() const final {
    BalancerState out;
    const auto state = load_state();
    if (!state) return out;
    out.hosts = state->hosts->hosts.size();
    out.routable = state->hosts->routable.size();
    out.healthy = state->hosts->healthy.size();
    out.candidates = state->indices.size();
    out.slow_start = state->slow_start;
    out.panic = state->panic;
    return out;
  }

 protected:
  /// Builds policy tables for a new state (candidates already filled).
  virtual void build(State& /*state*/) {}
  /// A position into state.indices (taken modulo its size).
  virtual std::size_t choose(const State& state, const PickRequest& request) = 0;

  BalancerOptions options_;
  const TimeSource& time_;

 private:
  void install(std::shared_ptr<const HostSet> hosts, const std::shared_ptr<const State>& previous) {
    auto next = std::make_shared<State>();
    static_cast<Candidates&>(*next) = make_candidates(std::move(hosts), options_, previous.get(), time_.steady_now());
    build(*next);
    const State* raw = next.get();
    std::shared_ptr<const State> published = std::move(next);
    {
      std::lock_guard lock(state_mutex_);
      state_.swap(published);  // the replaced state is released after the lock, by `published`
    }
    latest_.store(raw, std::memory_order_release);  // after the state: readers then load it or a newer one
  }

  /// While hosts ramp up, weights change with time: one picker rebuilds the state when it is due
  /// and returns it; the others (and every pick before it is due) return null.
  std::shared_ptr<const State> refresh_if_due() {
    auto state = load_state();
    if (!state || time_.steady_now().time_since_epoch().count() < state->refresh_at_ns) return nullptr;
    std::unique_lock lock(write_mutex_, std::try_to_lock);
    if (!lock.owns_lock() || load_state() != state) return nullptr;
    install(state->hosts, state);
    auto next = load_state();
    return next && !next->indices.empty() ? next : nullptr;
  }

  /// Each thread keeps its own reference to the latest state of the last few balancers it used
  /// and compares it with `latest_`: a pick reads one atomic nobody writes on the hot path instead
  /// of copying the shared state under a lock. The comparison cannot be
  /// fooled by a reused address: the entry's reference keeps its state alive, so no other state
  /// (of this or any balancer) can live there. An entry keeps a replaced state alive until its
  /// thread picks from this balancer again (or uses four others).
  struct CacheEntry {
    const void* owner = nullptr;
    std::shared_ptr<const State> state;
  };
  static constexpr std::size_t kCacheEntries = 4;
  struct ThreadCache {
    CacheEntry entries[kCacheEntries];
    std::size_t next_victim = 0;
  };

  const std::shared_ptr<const State>& current() const {
    thread_local ThreadCache tc;
    CacheEntry* entry = nullptr;
    for (auto& e : tc.entries) {
      if (e.owner == this) entry = &e;
    }
    if (entry == nullptr) {
      entry = &tc.entries[tc.next_victim++ % kCacheEntries];
      *entry = CacheEntry{this, nullptr};
    }
    if (entry->state.get() != latest_.load(std::memory_order_acquire)) entry->state = load_state();
    return entry->state;
  }

  std::shared_ptr<const State> load_state() const {
    std::lock_guard lock(state_mutex_);
    return state_;
  }

  // Not std::atomic<shared_ptr>: libstdc++ 12 unlocks its load() with a relaxed store, a data race
  // (TSan reports it against a concurrent store).
  mutable std::mutex state_mutex_;
  std::shared_ptr<const State> state_;         // guarded by state_mutex_
  std::atomic<const State*> latest_{nullptr};  // state_'s pointer, for the per-thread caches
  std::mutex write_mutex_;                     // serialises update() and slow-start refreshes
};

}  // namespace svckit::balance_detail
