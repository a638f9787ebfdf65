// Factories of the built-in policies (one folder each); registered by register_builtin_balancers().
#pragma once

#include "svckit/balance/load_balancer.hpp"

namespace svckit::balance_detail {

std::unique_ptr<LoadBalancer> make_round_robin(const BalancerOptions& options, Random& random);
std::unique_ptr<LoadBalancer> make_random(const BalancerOptions& options, Random& random);
std::unique_ptr<LoadBalancer> make_weighted_round_robin(const BalancerOptions& options, Random& random);
std::unique_ptr<LoadBalancer> make_weighted_random(const BalancerOptions& options, Random& random);
std::unique_ptr<LoadBalancer> make_least_request(const BalancerOptions& options, Random& random);
std::unique_ptr<LoadBalancer> make_ring_hash(const BalancerOptions& options, Random& random);
std::unique_ptr<LoadBalancer> make_maglev(const BalancerOptions& options, Random& random);

}  // namespace svckit::balance_detail
