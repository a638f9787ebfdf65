// least_request: power of two choices (Envoy): two random candidates, the one with fewer requests
// in flight relative to its weight wins. Callers report load through Pick::load.
#include "balance/policies.hpp"
#include "balance/snapshot_balancer.hpp"

namespace svckit::balance_detail {
namespace {

class LeastRequest final : public SnapshotBalancer<Candidates> {
 public:
  LeastRequest(const BalancerOptions& options, Random& random) : SnapshotBalancer(options), random_(random) {}
  std::string_view name() const override { return "least_request"; }

 private:
  std::size_t choose(const Candidates& state, const PickRequest&) override {
    const auto n = state.indices.size();
    if (n == 1) return 0;
    const auto r = random_.next_u64();  // one draw, two 32-bit halves
    const auto a = static_cast<std::size_t>((r & 0xffffffffU) % n);
    auto b = static_cast<std::size_t>((r >> 32) % (n - 1));
    if (b >= a) ++b;  // two distinct candidates
    // a wins when (active_a + 1) / weight_a <= (active_b + 1) / weight_b, without division.
    const auto cost = [&](std::size_t pos, std::size_t other) {
      const auto active = state.loads[state.indices[pos]]->active.load(std::memory_order_relaxed);
      return static_cast<double>(active + 1) * state.hosts->hosts[state.indices[other]].weight;
    };
    return cost(a, b) <= cost(b, a) ? a : b;
  }
  Random& random_;
};

}  // namespace

std::unique_ptr<LoadBalancer> make_least_request(const BalancerOptions& options, const BalancerDeps& deps) {
  return std::make_unique<LeastRequest>(options, deps.random);
}

}  // namespace svckit::balance_detail
