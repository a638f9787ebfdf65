// ring_hash: ketama-style consistent hashing. Each candidate owns points on a 64-bit ring in
// proportion to its own weight (at least one); a key goes to the first point at or after its hash.
// A host's points depend only on its id and weight, never on the other hosts, so removing one of
// N hosts moves exactly the keys that host owned (about 1/N) and no other key.
#include <algorithm>

#include <cmath>

#include "balance/policies.hpp"
#include "balance/snapshot_balancer.hpp"

namespace svckit::balance_detail {
namespace {

struct RingState : Candidates {
  std::vector<std::uint64_t> points;  // sorted point hashes
  std::vector<std::uint32_t> owners;  // owners[i] = position in indices of the host owning points[i]
  std::vector<std::uint32_t> bucket;  // bucket[b] = first point whose top 16 bits are >= b (65537 entries)
};

constexpr int kBucketShift = 48;  // 65536 buckets: a lookup searches ~points/65536 entries, not all

class RingHash final : public SnapshotBalancer<RingState> {
 public:
  RingHash(const BalancerOptions& options, const BalancerDeps& deps)
      : SnapshotBalancer(options, deps), random_(deps.random) {}
  std::string_view name() const override { return "ring_hash"; }

 private:
  void build(RingState& state) override {
    const double per_weight_unit = static_cast<double>(options_.ring_points_per_host) / 100.0;
    std::vector<std::pair<std::uint64_t, std::uint32_t>> ring;
    for (std::uint32_t pos = 0; pos < state.indices.size(); ++pos) {
      const auto& host = state.hosts->hosts[state.indices[pos]];
      const auto points =
          std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::llround(per_weight_unit * host.weight)));
      for (std::uint64_t k = 0; k < points; ++k) ring.emplace_back(hash_key(host.id + "_" + std::to_string(k)), pos);
    }
    std::sort(ring.begin(), ring.end());
    state.points.reserve(ring.size());
    state.owners.reserve(ring.size());
    for (const auto& [hash, pos] : ring) {
      state.points.push_back(hash);
      state.owners.push_back(pos);
    }
    state.bucket.resize((std::size_t{1} << (64 - kBucketShift)) + 1);
    std::size_t i = 0;
    for (std::size_t b = 0; b + 1 < state.bucket.size(); ++b) {
      while (i < state.points.size() && (state.points[i] >> kBucketShift) < b) ++i;
      state.bucket[b] = static_cast<std::uint32_t>(i);
    }
    state.bucket.back() = static_cast<std::uint32_t>(state.points.size());
  }

  std::size_t choose(const RingState& state, const PickRequest& request) override {
    const auto h = request.hash ? *request.hash : random_.next_u64();
    const auto b = static_cast<std::size_t>(h >> kBucketShift);
    const auto first = state.points.begin() + state.bucket[b];
    const auto last = state.points.begin() + state.bucket[b + 1];
    auto it = std::lower_bound(first, last, h);  // == last: the next point is the next bucket's first
    if (it == state.points.end()) it = state.points.begin();
    return state.owners[static_cast<std::size_t>(it - state.points.begin())];
  }
  Random& random_;
};

}  // namespace

std::unique_ptr<LoadBalancer> make_ring_hash(const BalancerOptions& options, const BalancerDeps& deps) {
  return std::make_unique<RingHash>(options, deps);
}

}  // namespace svckit::balance_detail
