#include "balance/policies.hpp"

namespace svckit {

BalancerPlugins::Builder& BalancerPlugins::Builder::add(std::string name, BalancerFactory factory) {
  factories_[std::move(name)] = std::move(factory);
  return *this;
}

BalancerPlugins BalancerPlugins::Builder::build() && {
  BalancerPlugins plugins;
  plugins.factories_ = std::move(factories_);
  return plugins;
}

Result<std::unique_ptr<LoadBalancer>> BalancerPlugins::create(std::string_view name, const BalancerOptions& options,
                                                              const BalancerDeps& deps) const {
  auto it = factories_.find(std::string(name));
  if (it == factories_.end()) {
    std::string known;
    for (const auto& n : names()) known += (known.empty() ? "" : ", ") + n;
    return make_error(ErrorCode::invalid_argument,
                      "unknown balancing policy '" + std::string(name) + "'; known: " + known, "policy");
  }
  if (options.panic_threshold < 0 || options.panic_threshold > 1) {
    return make_error(ErrorCode::invalid_argument, "panic_threshold must be in 0..1", "panic_threshold");
  }
  if (name == "maglev") {
    const auto m = options.maglev_table_size;
    bool prime = m >= 3;
    for (std::size_t d = 2; prime && d * d <= m; ++d) prime = m % d != 0;
    if (!prime)
      return make_error(ErrorCode::invalid_argument, "maglev_table_size must be a prime >= 3", "maglev_table_size");
  }
  return it->second(options, deps);
}

std::vector<std::string> BalancerPlugins::names() const {
  std::vector<std::string> out;
  for (const auto& [name, f] : factories_) out.push_back(name);
  return out;
}

void register_builtin_balancers(BalancerPlugins::Builder& builder) {
  using namespace balance_detail;
  builder.add("round_robin", make_round_robin)
      .add("random", make_random)
      .add("weighted_round_robin", make_weighted_round_robin)
      .add("weighted_random", make_weighted_random)
      .add("least_request", make_least_request)
      .add("peak_ewma", make_peak_ewma)
      .add("ring_hash", make_ring_hash)
      .add("maglev", make_maglev);
}

}  // namespace svckit
