// Factories of the built-in policies (one folder each); registered by register_builtin_balancers().
#pragma once

#include "svckit/balance/load_balancer.hpp"

namespace svckit::balance_detail {

std::unique_ptr<LoadBalancer> make_round_robin(const BalancerOptions& options, const BalancerDeps& deps);
std::unique_ptr<LoadBalancer> make_random(const BalancerOptions& options, const BalancerDeps& deps);
std::unique_ptr<LoadBalancer> make_weighted_round_robin(const BalancerOptions& options, const BalancerDeps& deps);
std::unique_ptr<LoadBalancer> make_weighted_random(const BalancerOptions& options, const BalancerDeps& deps);
std::unique_ptr<LoadBalancer> make_least_request(const BalancerOptions& options, const BalancerDeps& deps);
std::unique_ptr<LoadBalancer> make_peak_ewma(const BalancerOptions& options, const BalancerDeps& deps);
std::unique_ptr<LoadBalancer> make_ring_hash(const BalancerOptions& options, const BalancerDeps& deps);
std::unique_ptr<LoadBalancer> make_maglev(const BalancerOptions& options, const BalancerDeps& deps);

}  // namespace svckit::balance_detail
