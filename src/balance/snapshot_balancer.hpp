// SnapshotBalancer: what every policy shares — the panic decision, per-host load carried across
// updates, slow start, exclusion of hosts already tried, and a lock-free pick over an immutable
// state.
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

/// Power of two choices: draws two distinct positions in [0, n) with one random number and returns
/// `a` when prefer(a, b), else `b`. REQUIRES: n >= 1.
template <class Prefer>
std::size_t best_of_two(Random& random, std::size_t n, Prefer prefer) {
  if (n == 1) return 0;
  const auto r = random.next_u64();  // two 32-bit halves
  const auto a = static_cast<std::size_t>((r & 0xffffffffU) % n);
  auto b = static_cast<std::size_t>((r >> 32) % (n - 1));
  if (b >= a) ++b;
  return prefer(a, b) ? a : b;
}

template <class State>
class SnapshotBalancer : public LoadBalancer {
 public:
  SnapshotBalancer(const BalancerOptions& options, const BalancerDeps& deps) : options_(options), time_(deps.time) {}

  void update(std::shared_ptr<const HostSet> hosts) final {
    std::lock_guard lock(write_mutex_);
    install(std::move(hosts), state_.load());
  }

  Result<Pick> pick(const PickRequest& request) final {
    auto state = state_.load();
    if (!state || state->indices.empty()) {
      return make_error(ErrorCode::not_found, "no instance can take traffic", "service");
    }
    if (state->refresh_at_ns != std::numeric_limits<std::int64_t>::max()) state = refresh_if_due(std::move(state));
    const std::size_t n = state->indices.size();
    const std::size_t first = choose(*state, request) % n;
    for (std::size_t k = 0; k < n; ++k) {  // walk on from the choice past hosts already tried
      const auto index = state->indices[(first + k) % n];
      const auto& instance = state->hosts->hosts[index];
      if (request.exclude != nullptr &&
          std::find(request.exclude->begin(), request.exclude->end(), instance.id) != request.exclude->end()) {
        continue;
      }
      Pick pick{&instance, state->loads[index].get(), state->panic, nullptr};
      pick.snapshot = std::move(state);  // the state owns hosts and loads
      return pick;
    }
    return make_error(ErrorCode::unavailable, "every instance was already tried", "exclude");
  }

  BalancerState state() const final {
    BalancerState out;
    const auto state = state_.load();
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
    state_.store(std::move(next));
  }

  /// While hosts ramp up, weights change with time: one picker rebuilds the state when it is due;
  /// the others go on with the state they hold.
  std::shared_ptr<const State> refresh_if_due(std::shared_ptr<const State> state) {
    if (time_.steady_now().time_since_epoch().count() < state->refresh_at_ns) return state;
    std::unique_lock lock(write_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return state;
    auto current = state_.load();
    if (current == state) install(state->hosts, state);
    current = state_.load();
    return current && !current->indices.empty() ? current : state;
  }

  std::atomic<std::shared_ptr<const State>> state_;
  std::mutex write_mutex_;  // serialises update() and slow-start refreshes
};

}  // namespace svckit::balance_detail
