// weighted_round_robin: nginx's smooth weighted round robin. Each round every candidate gains its
// weight, the richest is picked and pays the total: weights {5,1,1} give a,a,b,a,c,a,a — spread
// out, never bursts. The whole cycle (sum of weights / gcd picks) is precomputed at update, so a
// pick is one atomic increment and one lookup. A cycle longer than kMaxSchedule falls back to the
// live algorithm under a mutex.
#include <cmath>
#include <mutex>
#include <numeric>

#include "balance/policies.hpp"
#include "balance/snapshot_balancer.hpp"

namespace svckit::balance_detail {
namespace {

constexpr std::uint64_t kMaxSchedule = 1 << 16;

struct SmoothState : Candidates {
  std::vector<std::uint32_t> schedule;  // one full cycle of positions; empty when too long
  std::vector<std::int64_t> weights;    // effective weight per position
  std::int64_t total = 0;
  mutable std::mutex mutex;  // guards current, only for the unscheduled fallback
  mutable std::vector<std::int64_t> current;
};

/// One step of nginx's algorithm: returns the chosen position and updates `current`.
std::uint32_t smooth_step(const std::vector<std::int64_t>& weights, std::int64_t total,
                          std::vector<std::int64_t>& current) {
  std::uint32_t best = 0;
  for (std::uint32_t i = 0; i < weights.size(); ++i) {
    current[i] += weights[i];
    if (current[i] > current[best]) best = i;
  }
  current[best] -= total;
  return best;
}

class SmoothWeightedRoundRobin final : public SnapshotBalancer<SmoothState> {
 public:
  using SnapshotBalancer::SnapshotBalancer;
  std::string_view name() const override { return "weighted_round_robin"; }

 private:
  void build(SmoothState& state) override {
    std::int64_t g = 0;
    for (auto index : state.indices) {
      state.weights.push_back(std::max<std::int64_t>(1, std::llround(state.effective_weight[index])));
      g = std::gcd(g, state.weights.back());
    }
    if (g == 0) return;
    for (auto& w : state.weights) {
      w /= g;
      state.total += w;
    }
    state.current.assign(state.weights.size(), 0);
    if (static_cast<std::uint64_t>(state.total) > kMaxSchedule) return;  // live fallback
    std::vector<std::int64_t> current(state.weights.size(), 0);
    state.schedule.reserve(static_cast<std::size_t>(state.total));
    for (std::int64_t k = 0; k < state.total; ++k)
      state.schedule.push_back(smooth_step(state.weights, state.total, current));
  }

  std::size_t choose(const SmoothState& state, const PickRequest&) override {
    if (!state.schedule.empty()) {
      return state.schedule[next_.fetch_add(1, std::memory_order_relaxed) % state.schedule.size()];
    }
    std::lock_guard lock(state.mutex);
    return smooth_step(state.weights, state.total, state.current);
  }

  std::atomic<std::uint64_t> next_{0};
};

}  // namespace

std::unique_ptr<LoadBalancer> make_weighted_round_robin(const BalancerOptions& options, const BalancerDeps& deps) {
  return std::make_unique<SmoothWeightedRoundRobin>(options, deps);
}

}  // namespace svckit::balance_detail
