// random: a uniformly random candidate from the injected Random.
#include "balance/policies.hpp"
#include "balance/snapshot_balancer.hpp"

namespace svckit::balance_detail {
namespace {

class RandomPick final : public SnapshotBalancer<Candidates> {
 public:
  RandomPick(const BalancerOptions& options, const BalancerDeps& deps)
      : SnapshotBalancer(options, deps), random_(deps.random) {}
  std::string_view name() const override { return "random"; }

 private:
  std::size_t choose(const Candidates& state, const PickRequest&) override {
    return scale32(random_.next_u64() >> 32, state.indices.size());
  }
  Random& random_;
};

}  // namespace

std::unique_ptr<LoadBalancer> make_random(const BalancerOptions& options, const BalancerDeps& deps) {
  return std::make_unique<RandomPick>(options, deps);
}

}  // namespace svckit::balance_detail
