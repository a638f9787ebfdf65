// least_request: power of two choices (Envoy): two random candidates, the one with fewer requests
// in flight relative to its weight wins. Callers report load through Pick::load.
#include "balance/policies.hpp"
#include "balance/snapshot_balancer.hpp"

namespace svckit::balance_detail {
namespace {

class LeastRequest final : public SnapshotBalancer<Candidates> {
 public:
  LeastRequest(const BalancerOptions& options, const BalancerDeps& deps)
      : SnapshotBalancer(options, deps), random_(deps.random) {}
  std::string_view name() const override { return "least_request"; }

 private:
  std::size_t choose(const Candidates& state, const PickRequest&) override {
    // a wins when (active_a + 1) / weight_a <= (active_b + 1) / weight_b, without division.
    const auto cost = [&](std::size_t pos, std::size_t other) {
      const auto active = state.loads[state.indices[pos]]->active.load(std::memory_order_relaxed);
      return static_cast<double>(active + 1) * state.effective_weight[state.indices[other]];
    };
    return best_of_two(random_, state.indices.size(),
                       [&](std::size_t a, std::size_t b) { return cost(a, b) <= cost(b, a); });
  }
  Random& random_;
};

}  // namespace

std::unique_ptr<LoadBalancer> make_least_request(const BalancerOptions& options, const BalancerDeps& deps) {
  return std::make_unique<LeastRequest>(options, deps);
}

}  // namespace svckit::balance_detail
