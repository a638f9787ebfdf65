#include "svckit/balance/service_balancer.hpp"
#include "svckit/core/log.hpp"

#include <spdlog/spdlog.h>

namespace svckit {

Result<std::unique_ptr<ServiceBalancer>> ServiceBalancer::create(std::string service, ServiceBalancerOptions options,
                                                                 const BalancerPlugins& plugins,
                                                                 const BalancerDeps& deps, MetricsRegistry* metrics) {
  if (options.outlier) {
    if (auto ok = validate(*options.outlier); !ok) {
      auto error = ok.error();
      error.field = "outlier." + error.field;
      return error;
    }
  }
  auto balancer = plugins.create(options.policy, options.balancer, deps);
  if (!balancer) return balancer.error();
  return std::unique_ptr<ServiceBalancer>(
      new ServiceBalancer(std::move(service), std::move(options), std::move(*balancer), deps, metrics));
}

ServiceBalancer::ServiceBalancer(std::string service, ServiceBalancerOptions options,
                                 std::unique_ptr<LoadBalancer> balancer, const BalancerDeps& deps,
                                 MetricsRegistry* metrics)
    : service_(std::move(service)), options_(std::move(options)), balancer_(std::move(balancer)) {
  if (metrics != nullptr) {
    Metrics m{};
    m.panic = &metrics->gauge("svckit_lb_panic", "1 while the healthy share is below the panic threshold", {"service"});
    m.hosts = &metrics->gauge("svckit_lb_hosts", "Instances the balancer sees", {"service"});
    m.healthy =
        &metrics->gauge("svckit_lb_healthy_hosts", "Healthy, not ejected instances with weight > 0", {"service"});
    m.spilled =
        &metrics->gauge("svckit_lb_zone_spillover", "1 while traffic spills out of the local zone", {"service"});
    m.slow_start = &metrics->gauge("svckit_lb_slow_start_hosts", "Instances ramping up", {"service"});
    m.ejected = &metrics->gauge("svckit_outlier_ejected_hosts", "Instances ejected by outlier detection", {"service"});
    m.ejections = &metrics->counter("svckit_outlier_ejections_total", "Enforced ejections", {"service", "reason"});
    m.unejections =
        &metrics->counter("svckit_outlier_unejections_total", "Instances returned after an ejection", {"service"});
    metrics_ = m;
  }
  if (options_.outlier) {
    auto on_event = [this](const OutlierEvent& e) {
      if (e.type == OutlierEvent::Type::ejected) {
        logs::warn("balancer", "event=outlier_ejected service={} instance={} reason={} ejections={} duration_ms={}",
                   service_, e.id, to_string(e.reason), e.ejection_count, e.duration.count());
        if (metrics_) metrics_->ejections->with({service_, std::string(to_string(e.reason))}).inc();
      } else {
        logs::info("balancer", "event=outlier_unejected service={} instance={}", service_, e.id);
        if (metrics_) metrics_->unejections->with({service_}).inc();
      }
    };
    outlier_ = std::make_unique<OutlierDetector>(*options_.outlier, deps.time, deps.random, on_event);
  }
}

void ServiceBalancer::update(const std::vector<ServiceInstance>& instances, std::uint64_t version) {
  auto subset = select_subset(instances, options_.subset, version);
  std::lock_guard lock(mutex_);
  instances_ = subset ? (*subset)->hosts : std::vector<ServiceInstance>{};
  version_ = version;
  if (outlier_) {
    std::vector<std::string> ids;
    ids.reserve(instances_.size());
    for (const auto& in : instances_) ids.push_back(in.id);
    outlier_->set_hosts(ids);
  }
  rebuild_locked();
}

void ServiceBalancer::rebuild_locked() {
  std::vector<std::string> ejected;
  if (outlier_) {
    built_generation_ = outlier_->generation();
    ejected = outlier_->ejected();
  }
  balancer_->update(prefer_zone(instances_, options_.zone, &spilled_, version_, ejected));
  publish_locked();
}

void ServiceBalancer::publish_locked() {
  if (!metrics_) return;
  const auto s = balancer_->state();
  const std::vector<std::string> labels{service_};
  metrics_->panic->with(labels).set(s.panic ? 1 : 0);
  metrics_->hosts->with(labels).set(static_cast<double>(s.hosts));
  metrics_->healthy->with(labels).set(static_cast<double>(s.healthy));
  metrics_->spilled->with(labels).set(spilled_ ? 1 : 0);
  metrics_->slow_start->with(labels).set(static_cast<double>(s.slow_start));
  metrics_->ejected->with(labels).set(outlier_ ? static_cast<double>(outlier_->stats().ejected) : 0);
}

void ServiceBalancer::rebuild_if_ejections_changed() {
  if (!outlier_ || outlier_->generation() == built_generation_.load()) return;  // the common case: no lock
  std::lock_guard lock(mutex_);
  if (outlier_->generation() != built_generation_) rebuild_locked();
}

void ServiceBalancer::report(const Pick& pick, CallOutcome outcome, std::chrono::nanoseconds latency) {
  if (pick.instance == nullptr) return;
  balancer_->record(pick, latency);
  if (!outlier_) return;
  outlier_->report(pick.instance->id, outcome);
  rebuild_if_ejections_changed();
}

void ServiceBalancer::tick() {
  if (outlier_) outlier_->tick();
  rebuild_if_ejections_changed();
  std::lock_guard lock(mutex_);
  publish_locked();  // slow start counts change with time
}

void ServiceBalancer::active_check_passed(const std::string& instance_id) {
  if (!outlier_) return;
  outlier_->active_check_passed(instance_id);
  rebuild_if_ejections_changed();
}

bool ServiceBalancer::spilled_over() const {
  std::lock_guard lock(mutex_);
  return spilled_;
}

std::vector<ServiceInstance> ServiceBalancer::instances() const {
  std::lock_guard lock(mutex_);
  return instances_;
}

}  // namespace svckit
