#include "daemon/metric_expiry.hpp"

namespace svckit::daemon {

std::vector<std::string> MetricExpiry::sweep(const LabelValues& live) {
  std::vector<std::string> expired;
  if (after_.count() <= 0) return expired;
  const auto now = time_.steady_now();
  const auto activity = metrics_.label_activity("service");
  LabelValues remove;
  std::map<std::string, Idle, std::less<>> still_idle;
  for (const auto& [service, figure] : activity) {
    if (live.count(service) > 0 || service == "_unknown") continue;
    auto it = idle_.find(service);
    if (it == idle_.end() || it->second.activity != figure) {
      still_idle.emplace(service, Idle{figure, now});
    } else if (now - it->second.since >= after_) {
      remove.insert(service);
    } else {
      still_idle.emplace(service, it->second);
    }
  }
  idle_ = std::move(still_idle);
  if (!remove.empty()) {
    metrics_.remove_series("service", remove);
    expired.assign(remove.begin(), remove.end());
  }
  return expired;
}

}  // namespace svckit::daemon
