// round_robin: each candidate in turn (weights only decide in or out: weight 0 is out).
#include "balance/policies.hpp"
#include "balance/snapshot_balancer.hpp"

namespace svckit::balance_detail {
namespace {

class RoundRobin final : public SnapshotBalancer<Candidates> {
 public:
  using SnapshotBalancer::SnapshotBalancer;
  std::string_view name() const override { return "round_robin"; }

 private:
  std::size_t choose(const Candidates&, const PickRequest&) override {
    return static_cast<std::size_t>(next_.fetch_add(1, std::memory_order_relaxed));
  }
  std::atomic<std::uint64_t> next_{0};
};

}  // namespace

std::unique_ptr<LoadBalancer> make_round_robin(const BalancerOptions& options, const BalancerDeps& deps) {
  return std::make_unique<RoundRobin>(options, deps);
}

}  // namespace svckit::balance_detail
