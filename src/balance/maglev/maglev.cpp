// maglev: Google's Maglev consistent hashing. A prime-sized lookup table is filled by each
// candidate walking its own permutation (offset, skip from its id), weighted: per round a host
// gains weight / max weight credits and takes one slot per whole credit. A pick is one lookup.
#include <algorithm>
#include <limits>

#include "balance/policies.hpp"
#include "balance/snapshot_balancer.hpp"

namespace svckit::balance_detail {
namespace {

struct MaglevState : Candidates {
  std::vector<std::uint32_t> table;  // slot -> position in indices
};

class Maglev final : public SnapshotBalancer<MaglevState> {
 public:
  Maglev(const BalancerOptions& options, const BalancerDeps& deps)
      : SnapshotBalancer(options, deps), random_(deps.random) {}
  std::string_view name() const override { return "maglev"; }

 private:
  void build(MaglevState& state) override {
    const std::uint64_t m = options_.maglev_table_size;
    const auto n = state.indices.size();
    if (n == 0 || m < 2) return;
    struct Walker {
      std::uint64_t offset, skip, next = 0;
      double weight, credit = 0;
    };
    std::vector<Walker> walkers;
    walkers.reserve(n);
    int max_weight = 1;
    for (auto index : state.indices) max_weight = std::max(max_weight, state.hosts->hosts[index].weight);
    for (auto index : state.indices) {
      const auto& host = state.hosts->hosts[index];
      walkers.push_back(Walker{hash_key(host.id) % m, hash_key(host.id + "#skip") % (m - 1) + 1, 0,
                               static_cast<double>(host.weight) / max_weight, 0});
    }
    constexpr auto kEmpty = std::numeric_limits<std::uint32_t>::max();
    state.table.assign(m, kEmpty);
    std::uint64_t filled = 0;
    while (filled < m) {
      for (std::uint32_t pos = 0; pos < n && filled < m; ++pos) {
        auto& w = walkers[pos];
        w.credit += w.weight;
        for (; w.credit >= 1.0 && filled < m; w.credit -= 1.0) {
          std::uint64_t slot = 0;
          do {
            slot = (w.offset + w.next * w.skip) % m;
            ++w.next;
          } while (state.table[slot] != kEmpty);
          state.table[slot] = pos;
          ++filled;
        }
      }
    }
  }

  std::size_t choose(const MaglevState& state, const PickRequest& request) override {
    const auto h = request.hash ? *request.hash : random_.next_u64();
    return state.table[scale64(h, state.table.size())];
  }
  Random& random_;
};

}  // namespace

std::unique_ptr<LoadBalancer> make_maglev(const BalancerOptions& options, const BalancerDeps& deps) {
  return std::make_unique<Maglev>(options, deps);
}

}  // namespace svckit::balance_detail
