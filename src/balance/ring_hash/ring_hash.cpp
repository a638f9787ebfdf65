// ring_hash: ketama-style consistent hashing. Each candidate owns points on a 64-bit ring in
// proportion to its own weight (at least one); a key goes to the first point at or after its hash.
// A host's points depend only on its id and weight, never on the other hosts, so removing one of
// N hosts moves exactly the keys that host owned (about 1/N) and no other key.
#include <algorithm>

#include "balance/policies.hpp"
#include "balance/snapshot_balancer.hpp"

namespace svckit::balance_detail {
namespace {

struct RingState : Candidates {
  std::vector<std::pair<std::uint64_t, std::uint32_t>> ring;  // (point hash, position in indices), sorted
};

class RingHash final : public SnapshotBalancer<RingState> {
 public:
  RingHash(const BalancerOptions& options, Random& random) : SnapshotBalancer(options), random_(random) {}
  std::string_view name() const override { return "ring_hash"; }

 private:
  void build(RingState& state) override {
    const double per_weight_unit = static_cast<double>(options_.ring_points_per_host) / 100.0;
    for (std::uint32_t pos = 0; pos < state.indices.size(); ++pos) {
      const auto& host = state.hosts->hosts[state.indices[pos]];
      const auto points = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(per_weight_unit * host.weight + 0.5));
      for (std::uint64_t k = 0; k < points; ++k) {
        state.ring.emplace_back(hash_key(host.id + "_" + std::to_string(k)), pos);
      }
    }
    std::sort(state.ring.begin(), state.ring.end());
  }

  std::size_t choose(const RingState& state, const PickRequest& request) override {
    const auto h = request.hash ? *request.hash : random_.next_u64();
    auto it = std::lower_bound(state.ring.begin(), state.ring.end(), std::pair<std::uint64_t, std::uint32_t>{h, 0});
    if (it == state.ring.end()) it = state.ring.begin();
    return it->second;
  }
  Random& random_;
};

}  // namespace

std::unique_ptr<LoadBalancer> make_ring_hash(const BalancerOptions& options, Random& random) {
  return std::make_unique<RingHash>(options, random);
}

}  // namespace svckit::balance_detail
