// weighted_random: a candidate with probability weight / total weight (prefix sums, binary search).
#include <algorithm>
#include <cmath>

#include "balance/policies.hpp"
#include "balance/snapshot_balancer.hpp"

namespace svckit::balance_detail {
namespace {

struct WeightedState : Candidates {
  std::vector<std::uint64_t> prefix;  // prefix[i] = sum of weights of indices[0..i]
};

class WeightedRandom final : public SnapshotBalancer<WeightedState> {
 public:
  WeightedRandom(const BalancerOptions& options, const BalancerDeps& deps)
      : SnapshotBalancer(options, deps), random_(deps.random) {}
  std::string_view name() const override { return "weighted_random"; }

 private:
  void build(WeightedState& state) override {
    std::uint64_t total = 0;
    state.prefix.reserve(state.indices.size());
    for (auto index : state.indices) {
      total +=
          std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(state.effective_weight[index] * 100.0)));
      state.prefix.push_back(total);
    }
  }
  std::size_t choose(const WeightedState& state, const PickRequest&) override {
    const auto r = scale64(random_.next_u64(), state.prefix.back());
    return static_cast<std::size_t>(std::upper_bound(state.prefix.begin(), state.prefix.end(), r) -
                                    state.prefix.begin());
  }
  Random& random_;
};

}  // namespace

std::unique_ptr<LoadBalancer> make_weighted_random(const BalancerOptions& options, const BalancerDeps& deps) {
  return std::make_unique<WeightedRandom>(options, deps);
}

}  // namespace svckit::balance_detail
