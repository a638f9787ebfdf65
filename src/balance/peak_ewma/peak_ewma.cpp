// peak_ewma: latency-aware power of two choices (Finagle's PeakEwma, as in brpc's locality-aware
// balancing). Each host keeps a moving average of its latency that jumps up to any slower sample at
// once (peak) and decays towards faster ones over `peak_ewma_decay`; the cost of a host is that
// average times (requests in flight + 1) / weight, and the cheaper of two random candidates wins.
// Hosts without samples cost 0, so new instances are tried promptly. As in Finagle, the average
// also fades with the time since its last sample when a cost is read: a host that was slow once
// and has been avoided since gets tried again instead of being shunned for good.
#include <cmath>

#include "balance/policies.hpp"
#include "balance/snapshot_balancer.hpp"

namespace svckit::balance_detail {
namespace {

std::int64_t to_ns(SteadyTime t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

class PeakEwma final : public SnapshotBalancer<Candidates> {
 public:
  PeakEwma(const BalancerOptions& options, const BalancerDeps& deps)
      : SnapshotBalancer(options, deps), random_(deps.random) {}
  std::string_view name() const override { return "peak_ewma"; }

  void record(const Pick& pick, std::chrono::nanoseconds latency) override {
    if (pick.load == nullptr) return;
    auto& load = *pick.load;
    const auto now = to_ns(time_.steady_now());
    const auto sample = static_cast<double>(latency.count());
    const auto previous_at = load.sampled_at_ns.exchange(now, std::memory_order_relaxed);
    const double old = load.latency_ewma_ns.load(std::memory_order_relaxed);
    double next = sample;
    if (previous_at != 0 && sample < old) {  // faster than the average: blend in with time decay
      const double elapsed = static_cast<double>(std::max<std::int64_t>(0, now - previous_at));
      const double decay_ns = std::max(1.0, static_cast<double>(options_.peak_ewma_decay.count()) * 1e6);
      const double w = std::exp(-elapsed / decay_ns);
      next = old * w + sample * (1.0 - w);
    }
    load.latency_ewma_ns.store(next, std::memory_order_relaxed);  // last writer wins: a sample, not a sum
  }

 private:
  std::size_t choose(const Candidates& state, const PickRequest&) override {
    const auto now = to_ns(time_.steady_now());
    const double decay_ns = std::max(1.0, static_cast<double>(options_.peak_ewma_decay.count()) * 1e6);
    const auto cost = [&](std::size_t pos) {
      const auto& load = *state.loads[state.indices[pos]];
      const double active = static_cast<double>(load.active.load(std::memory_order_relaxed));
      const auto idle_ns =
          static_cast<double>(std::max<std::int64_t>(0, now - load.sampled_at_ns.load(std::memory_order_relaxed)));
      return load.latency_ewma_ns.load(std::memory_order_relaxed) * std::exp(-idle_ns / decay_ns) * (active + 1.0) /
             state.effective_weight[state.indices[pos]];
    };
    return best_of_two(random_, state.indices.size(), [&](std::size_t a, std::size_t b) { return cost(a) <= cost(b); });
  }

  Random& random_;
};

}  // namespace

std::unique_ptr<LoadBalancer> make_peak_ewma(const BalancerOptions& options, const BalancerDeps& deps) {
  return std::make_unique<PeakEwma>(options, deps);
}

}  // namespace svckit::balance_detail
