#include <cmath>

#include "balance/snapshot_balancer.hpp"

namespace svckit::balance_detail {
namespace {

/// Envoy's slow-start factor: max(min_percent, (age / window)^(1 / aggression)), in (0, 1].
double ramp_factor(std::chrono::nanoseconds age, const BalancerOptions& options) {
  const double window = std::chrono::duration<double>(options.slow_start_window).count();
  const double elapsed = std::max(std::chrono::duration<double>(age).count(), 0.001);
  const double aggression = options.slow_start_aggression > 0 ? options.slow_start_aggression : 1.0;
  const double floor = std::clamp(options.slow_start_min_weight_percent / 100.0, 0.0, 1.0);
  return std::max(floor, std::pow(std::min(elapsed / window, 1.0), 1.0 / aggression));
}

}  // namespace

Candidates make_candidates(std::shared_ptr<const HostSet> hosts, const BalancerOptions& options,
                           const Candidates* previous, SteadyTime now) {
  Candidates c;
  c.hosts = std::move(hosts);
  const auto& set = *c.hosts;
  const double healthy_share =
      set.routable.empty() ? 0.0 : static_cast<double>(set.healthy.size()) / static_cast<double>(set.routable.size());
  c.panic = !set.routable.empty() && healthy_share < options.panic_threshold;
  c.indices = c.panic ? set.routable : set.healthy;

  const bool slow_start = options.slow_start_window.count() > 0;
  const auto is_healthy = [](const HostSet& s, std::size_t i) {
    return std::binary_search(s.healthy.begin(), s.healthy.end(), static_cast<std::uint32_t>(i));
  };
  c.loads.reserve(set.hosts.size());
  c.effective_weight.reserve(set.hosts.size());
  c.ramp_start.assign(set.hosts.size(), SteadyTime{});
  for (std::size_t i = 0; i < set.hosts.size(); ++i) {
    const auto& h = set.hosts[i];
    std::shared_ptr<HostLoad> load;
    if (previous != nullptr && previous->hosts) {
      const auto& old = previous->hosts->hosts;
      auto it = std::lower_bound(old.begin(), old.end(), h.id,
                                 [](const auto& in, const std::string& id) { return in.id < id; });
      if (it != old.end() && it->id == h.id) {
        const auto j = static_cast<std::size_t>(it - old.begin());
        load = previous->loads[j];
        c.ramp_start[i] = previous->ramp_start[j];
        if (slow_start && is_healthy(set, i) && !is_healthy(*previous->hosts, j)) c.ramp_start[i] = now;
      } else if (slow_start) {
        c.ramp_start[i] = now;  // joined after the first update
      }
    }
    c.loads.push_back(load ? std::move(load) : std::make_shared<HostLoad>());

    double weight = h.weight;
    if (c.ramp_start[i] != SteadyTime{}) {
      const auto age = now - c.ramp_start[i];
      if (slow_start && age < options.slow_start_window) {
        weight *= ramp_factor(age, options);
        ++c.slow_start;
      } else {
        c.ramp_start[i] = SteadyTime{};
      }
    }
    c.effective_weight.push_back(weight);
  }
  if (c.slow_start > 0) {  // rebuild 20 times per window, at most every millisecond
    const auto step = std::max<std::chrono::nanoseconds>(options.slow_start_window / 20, std::chrono::milliseconds(1));
    c.refresh_at_ns = (now + step).time_since_epoch().count();
  }
  return c;
}

}  // namespace svckit::balance_detail
