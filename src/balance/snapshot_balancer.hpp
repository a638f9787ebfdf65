// SnapshotBalancer: what every policy shares — the panic decision, per-host load carried across
// updates, exclusion of hosts already tried, and a lock-free pick over an immutable state.
#pragma once

#include <algorithm>
#include <atomic>
#include <memory>

#include "svckit/balance/load_balancer.hpp"

namespace svckit::balance_detail {

/// The hosts a policy balances over for one snapshot.
struct Candidates {
  std::shared_ptr<const HostSet> hosts;
  std::vector<std::uint32_t> indices;            // into hosts->hosts: healthy, or routable in panic
  std::vector<std::shared_ptr<HostLoad>> loads;  // one per host (all hosts), kept by id across updates
  bool panic = false;
};

Candidates make_candidates(std::shared_ptr<const HostSet> hosts, double panic_threshold, const Candidates* previous);

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
  explicit SnapshotBalancer(const BalancerOptions& options) : options_(options) {}

  void update(std::shared_ptr<const HostSet> hosts) final {
    const auto previous = state_.load();
    auto next = std::make_shared<State>();
    static_cast<Candidates&>(*next) = make_candidates(std::move(hosts), options_.panic_threshold, previous.get());
    build(*next);
    state_.store(std::move(next));
  }

  Result<Pick> pick(const PickRequest& request) final {
    auto state = state_.load();
    if (!state || state->indices.empty()) {
      return make_error(ErrorCode::not_found, "no instance can take traffic", "service");
    }
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

 protected:
  /// Builds policy tables for a new state (candidates already filled).
  virtual void build(State& /*state*/) {}
  /// A position into state.indices (taken modulo its size).
  virtual std::size_t choose(const State& state, const PickRequest& request) = 0;

  BalancerOptions options_;

 private:
  std::atomic<std::shared_ptr<const State>> state_;
};

}  // namespace svckit::balance_detail
