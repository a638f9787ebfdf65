// ServiceClient::inspect: a read-only view of one service's balancing state.
#include <algorithm>

#include "client/service_client_impl.hpp"
#include "client/service_state.hpp"
#include "svckit/client/service_client.hpp"

namespace svckit {

std::optional<ServiceBalancingView> ServiceClient::inspect(const std::string& service) const {
  std::shared_ptr<ServiceState> state;
  {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->services.find(service);
    if (it == impl_->services.end() || !it->second) return std::nullopt;
    state = it->second;
  }
  if (!state->balancer) return std::nullopt;  // gateway mode: the gateway balances
  ServiceBalancingView view;
  view.service = service;
  view.balancer = state->balancer->state();
  view.spilled_over = state->balancer->spilled_over();
  view.service_breaker = state->service_breaker.state();
  std::vector<OutlierHostView> outliers;
  if (const auto* detector = state->balancer->outlier()) outliers = detector->hosts();
  std::map<std::string, std::shared_ptr<CircuitBreaker>> breakers;
  {
    std::lock_guard lock(state->mutex);
    breakers = state->instance_breakers;
  }
  for (const auto& in : state->balancer->instances()) {
    InstanceBalancingView v;
    v.id = in.id;
    v.address = in.authority();
    v.status = in.status;
    v.weight = in.weight;
    const auto o = std::lower_bound(outliers.begin(), outliers.end(), in.id,
                                    [](const OutlierHostView& h, const std::string& id) { return h.id < id; });
    if (o != outliers.end() && o->id == in.id) v.outlier = *o;
    if (auto b = breakers.find(in.id); b != breakers.end()) v.breaker = b->second->state();
    view.instances.push_back(std::move(v));
  }
  std::sort(view.instances.begin(), view.instances.end(),
            [](const InstanceBalancingView& a, const InstanceBalancingView& b) { return a.id < b.id; });
  return view;
}

}  // namespace svckit
