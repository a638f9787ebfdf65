// Example for docs/balancing.md: pick instances with a policy chosen by name, retry elsewhere,
// route a user consistently, and count requests in flight for least_request.
#include <iostream>

#include "svckit/balance/load_balancer.hpp"

int main() {
  svckit::RealRandom random;
  svckit::RealTimeSource time;
  svckit::BalancerPlugins::Builder builder;
  svckit::register_builtin_balancers(builder);
  const svckit::BalancerPlugins policies = std::move(builder).build();

  std::vector<svckit::ServiceInstance> instances;
  for (int i = 1; i <= 3; ++i) {
    svckit::ServiceInstance in;
    in.service = "product-service";
    in.host = "10.0.0." + std::to_string(i);
    in.port = 8080;
    in.weight = i == 3 ? 0 : 100;  // weight 0: registered, but gets no traffic
    in.normalize();
    instances.push_back(in);
  }
  const auto hosts = svckit::HostSet::make(instances);  // immutable snapshot, shared by every pick

  // least_request: the caller reports requests in flight through Pick::load.
  auto least = std::move(policies.create("least_request", {}, {random, time}).value());
  least->update(hosts);
  auto pick = least->pick({});
  if (!pick) return 1;
  ++pick->load->active;  // request starts
  std::cout << "least_request -> " << pick->instance->base_url() << "\n";
  --pick->load->active;  // request ends

  // Retry on another instance: exclude what was tried.
  const std::vector<std::string> tried{pick->instance->id};
  svckit::PickRequest retry;
  retry.exclude = &tried;
  auto other = least->pick(retry);
  std::cout << "retry         -> " << other->instance->base_url() << "\n";

  // Consistent hashing: the same user always lands on the same instance while it is up.
  auto maglev = std::move(policies.create("maglev", {}, {random, time}).value());
  maglev->update(hosts);
  svckit::PickRequest by_user;
  by_user.hash = svckit::hash_key("user-42");
  const auto first = maglev->pick(by_user)->instance->id;
  const bool stable = maglev->pick(by_user)->instance->id == first;
  std::cout << "maglev user-42 -> " << first << (stable ? " (stable)" : " (UNSTABLE)") << "\n";
  return other && other->instance->id != pick->instance->id && stable ? 0 : 1;
}
