#include "svckit/health/outlier_detector.hpp"

#include "core/per_thread_cache.hpp"

#include <algorithm>
#include <cmath>

namespace svckit {

CallOutcome outcome_from_status(int status) noexcept {
  if (status <= 0) return CallOutcome::local_failure;
  if (status == 502 || status == 503 || status == 504) return CallOutcome::http_gateway_failure;
  if (status >= 500 && status <= 599) return CallOutcome::http_5xx;
  return CallOutcome::success;
}

std::string_view to_string(EjectionReason reason) noexcept {
  switch (reason) {
    case EjectionReason::consecutive_5xx:
      return "consecutive_5xx";
    case EjectionReason::consecutive_gateway_failure:
      return "consecutive_gateway_failure";
    case EjectionReason::consecutive_local_origin_failure:
      return "consecutive_local_origin_failure";
    case EjectionReason::success_rate:
      return "success_rate";
    case EjectionReason::failure_percentage:
      return "failure_percentage";
  }
  return "unknown";
}

Result<void> validate(const OutlierOptions& o) {
  const auto bad = [](const std::string& field, const std::string& why) {
    return make_error(ErrorCode::invalid_argument, field + " " + why, field);
  };
  if (o.interval.count() <= 0) return bad("interval", "must be > 0");
  if (o.base_ejection_time.count() <= 0) return bad("base_ejection_time", "must be > 0");
  if (o.max_ejection_time < o.base_ejection_time) return bad("max_ejection_time", "must be >= base_ejection_time");
  const std::pair<const char*, double> percents[] = {
      {"max_ejection_percent", o.max_ejection_percent},
      {"enforcing_consecutive_5xx", o.enforcing_consecutive_5xx},
      {"enforcing_consecutive_gateway_failure", o.enforcing_consecutive_gateway_failure},
      {"enforcing_consecutive_local_origin_failure", o.enforcing_consecutive_local_origin_failure},
      {"enforcing_success_rate", o.enforcing_success_rate},
      {"failure_percentage_threshold", o.failure_percentage_threshold},
      {"enforcing_failure_percentage", o.enforcing_failure_percentage}};
  for (const auto& [field, value] : percents) {
    if (!(value >= 0 && value <= 100)) return bad(field, "must be a percentage in 0..100");
  }
  if (o.consecutive_5xx < 1) return bad("consecutive_5xx", "must be >= 1");
  if (o.consecutive_gateway_failure < 1) return bad("consecutive_gateway_failure", "must be >= 1");
  if (o.consecutive_local_origin_failure < 1) return bad("consecutive_local_origin_failure", "must be >= 1");
  if (!(o.success_rate_stdev_factor >= 0)) return bad("success_rate_stdev_factor", "must be >= 0");
  return {};
}

namespace {
std::atomic<std::uint64_t> next_detector_id{1};
}  // namespace

OutlierDetector::OutlierDetector(OutlierOptions options, const TimeSource& time, Random& random, Callback on_event)
    : options_(options),
      time_(time),
      random_(random),
      on_event_(std::move(on_event)),
      id_(next_detector_id.fetch_add(1, std::memory_order_relaxed)),
      next_interval_(time.steady_now() + options_.interval) {}

void OutlierDetector::set_hosts(const std::vector<std::string>& ids) {
  std::lock_guard lock(mutex_);
  std::map<std::string, Host, std::less<>> next;
  for (const auto& id : ids) {
    auto it = hosts_.find(id);
    next.emplace(id, it != hosts_.end() ? it->second : Host{});
  }
  hosts_ = std::move(next);
  hosts_version_.fetch_add(1, std::memory_order_release);
  const auto before = ejected_count_;
  ejected_count_ = static_cast<std::size_t>(
      std::count_if(hosts_.begin(), hosts_.end(), [](const auto& h) { return h.second.ejected; }));
  if (before != ejected_count_) ++generation_;
}

bool OutlierDetector::enforced(double percent) {
  if (percent >= 100) return true;
  if (percent <= 0) return false;
  return random_.uniform01() * 100.0 < percent;
}

void OutlierDetector::try_eject(const std::string& id, Host& host, EjectionReason reason, double enforcing,
                                std::vector<OutlierEvent>& events) {
  if (host.ejected) return;
  if (!enforced(enforcing)) {
    ++stats_.skipped_not_enforced;
    return;
  }
  // Envoy: never above max_ejection_percent, but one host may always go.
  const double after = 100.0 * static_cast<double>(ejected_count_ + 1) / static_cast<double>(hosts_.size());
  if (ejected_count_ > 0 && after > options_.max_ejection_percent) {
    ++stats_.skipped_max_percent;
    return;
  }
  host.ejected = true;
  host.ejected_at = time_.steady_now();
  host.ejection_count += 1;
  host.reason = reason;
  host.ejected_for = std::min(options_.base_ejection_time * host.ejection_count, options_.max_ejection_time);
  ++ejected_count_;
  ++generation_;
  ++stats_.ejections[reason];
  events.push_back({OutlierEvent::Type::ejected, id, reason, host.ejection_count, host.ejected_for});
}

void OutlierDetector::uneject(const std::string& id, Host& host, std::vector<OutlierEvent>& events) {
  if (!host.ejected) return;
  host.ejected = false;
  host.live->reset_streaks();
  --ejected_count_;
  ++generation_;
  ++stats_.unejections;
  events.push_back({OutlierEvent::Type::unejected, id, host.reason, host.ejection_count, {}});
}

std::shared_ptr<OutlierDetector::Live> OutlierDetector::live_for(const std::string& id) {
  thread_local detail::PerThreadCache<Live> known;
  if (auto live = known.find(id_, hosts_version_.load(std::memory_order_acquire), id)) return live;
  std::shared_ptr<Live> live;
  {
    std::lock_guard lock(mutex_);
    auto it = hosts_.find(id);
    if (it == hosts_.end()) return nullptr;
    live = it->second.live;
  }
  known.remember(id, live);
  return live;
}

void OutlierDetector::report(const std::string& id, CallOutcome outcome) {
  const auto live = live_for(id);
  if (!live) return;
  if (outcome == CallOutcome::success) {  // the common case: no lock
    live->interval_success.fetch_add(1, std::memory_order_relaxed);
    live->reset_streaks();
    return;
  }
  std::vector<OutlierEvent> events;
  {
    std::lock_guard lock(mutex_);
    auto it = hosts_.find(id);
    if (it == hosts_.end() || it->second.live != live) return;  // forgotten meanwhile
    Host& h = it->second;
    Live& c = *h.live;
    const bool split = options_.split_external_local_origin_errors;
    c.interval_failure.fetch_add(1, std::memory_order_relaxed);
    if (outcome == CallOutcome::local_failure && split) {
      if (c.consecutive_local.fetch_add(1, std::memory_order_relaxed) + 1 >=
          options_.consecutive_local_origin_failure) {
        c.consecutive_local.store(0, std::memory_order_relaxed);
        try_eject(id, h, EjectionReason::consecutive_local_origin_failure,
                  options_.enforcing_consecutive_local_origin_failure, events);
      }
    } else {
      // Without the split, a local failure is what a proxy would answer as 503: 5xx and gateway.
      const bool gateway = outcome != CallOutcome::http_5xx;
      if (gateway &&
          c.consecutive_gateway.fetch_add(1, std::memory_order_relaxed) + 1 >= options_.consecutive_gateway_failure) {
        c.consecutive_gateway.store(0, std::memory_order_relaxed);
        try_eject(id, h, EjectionReason::consecutive_gateway_failure, options_.enforcing_consecutive_gateway_failure,
                  events);
      }
      if (c.consecutive_5xx.fetch_add(1, std::memory_order_relaxed) + 1 >= options_.consecutive_5xx) {
        c.consecutive_5xx.store(0, std::memory_order_relaxed);
        try_eject(id, h, EjectionReason::consecutive_5xx, options_.enforcing_consecutive_5xx, events);
      }
    }
  }
  emit(events);
}

void OutlierDetector::run_interval_detectors(std::vector<OutlierEvent>& events) {
  // The interval's counts, taken (and reset) at once: reports from now on count in the next one.
  struct Counts {
    std::uint64_t success = 0, failure = 0;
  };
  std::map<const Host*, Counts> counts;
  for (auto& [id, h] : hosts_) {
    counts[&h] = Counts{h.live->interval_success.exchange(0, std::memory_order_relaxed),
                        h.live->interval_failure.exchange(0, std::memory_order_relaxed)};
  }
  const auto total_of = [&counts](const Host& h) { return counts[&h].success + counts[&h].failure; };
  const auto rate = [&counts](const Host& h) {
    const auto& c = counts[&h];
    return 100.0 * static_cast<double>(c.success) / static_cast<double>(c.success + c.failure);
  };
  // Success rate (Envoy): among hosts with enough requests, eject those below mean - factor × stdev.
  std::vector<std::pair<Host*, const std::string*>> volume;
  double sum = 0;
  for (auto& [id, h] : hosts_) {
    const auto total = total_of(h);
    if (h.ejected || total < options_.success_rate_request_volume || total == 0) continue;
    volume.emplace_back(&h, &id);
    sum += rate(h);
  }
  if (!volume.empty() && volume.size() >= options_.success_rate_minimum_hosts) {
    const double mean = sum / static_cast<double>(volume.size());
    double var = 0;
    for (const auto& [h, id] : volume) var += (rate(*h) - mean) * (rate(*h) - mean);
    const double threshold =
        mean - options_.success_rate_stdev_factor * std::sqrt(var / static_cast<double>(volume.size()));
    for (const auto& [h, id] : volume) {
      if (rate(*h) < threshold)
        try_eject(*id, *h, EjectionReason::success_rate, options_.enforcing_success_rate, events);
    }
  }
  // Failure percentage: an absolute bar, for when most hosts fail alike.
  std::size_t eligible = 0;
  for (const auto& [id, h] : hosts_) {
    if (!h.ejected && total_of(h) >= options_.failure_percentage_request_volume) ++eligible;
  }
  if (eligible > 0 && eligible >= options_.failure_percentage_minimum_hosts) {
    for (auto& [id, h] : hosts_) {
      const auto total = total_of(h);
      if (h.ejected || total < options_.failure_percentage_request_volume) continue;
      if (100.0 - rate(h) >= options_.failure_percentage_threshold) {
        try_eject(id, h, EjectionReason::failure_percentage, options_.enforcing_failure_percentage, events);
      }
    }
  }
  for (auto& [id, h] : hosts_) {
    // A host that stayed in for a whole interval earns back one step of its ejection multiplier.
    if (!h.ejected && h.ejection_count > 0 && time_.steady_now() - h.ejected_at >= h.ejected_for + options_.interval) {
      --h.ejection_count;
    }
  }
}

void OutlierDetector::tick() {
  std::vector<OutlierEvent> events;
  {
    std::lock_guard lock(mutex_);
    const auto now = time_.steady_now();
    for (auto& [id, h] : hosts_) {
      if (h.ejected && now - h.ejected_at >= h.ejected_for) uneject(id, h, events);
    }
    if (now >= next_interval_) {
      run_interval_detectors(events);
      next_interval_ = now + options_.interval;
    }
  }
  emit(events);
}

void OutlierDetector::active_check_passed(const std::string& id) {
  if (!options_.uneject_on_active_check_pass) return;
  std::vector<OutlierEvent> events;
  {
    std::lock_guard lock(mutex_);
    auto it = hosts_.find(id);
    if (it != hosts_.end()) uneject(id, it->second, events);
  }
  emit(events);
}

bool OutlierDetector::is_ejected(const std::string& id) const {
  std::lock_guard lock(mutex_);
  auto it = hosts_.find(id);
  return it != hosts_.end() && it->second.ejected;
}

std::vector<std::string> OutlierDetector::ejected() const {
  std::lock_guard lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [id, h] : hosts_) {
    if (h.ejected) out.push_back(id);  // map order: sorted
  }
  return out;
}

std::uint64_t OutlierDetector::generation() const { return generation_.load(std::memory_order_acquire); }

OutlierStats OutlierDetector::stats() const {
  std::lock_guard lock(mutex_);
  auto out = stats_;
  out.hosts = hosts_.size();
  out.ejected = ejected_count_;
  return out;
}

std::vector<OutlierHostView> OutlierDetector::hosts() const {
  std::lock_guard lock(mutex_);
  const auto now = time_.steady_now();
  std::vector<OutlierHostView> out;
  out.reserve(hosts_.size());
  for (const auto& [id, host] : hosts_) {
    OutlierHostView v;
    v.id = id;
    v.ejected = host.ejected;
    v.ejection_count = host.ejection_count;
    v.reason = host.reason;
    if (host.ejected) {
      const auto left = host.ejected_for - std::chrono::duration_cast<std::chrono::milliseconds>(now - host.ejected_at);
      v.remaining = std::max(left, std::chrono::milliseconds(0));
    }
    v.consecutive_5xx = host.live->consecutive_5xx.load(std::memory_order_relaxed);
    v.consecutive_gateway_failures = host.live->consecutive_gateway.load(std::memory_order_relaxed);
    v.consecutive_local_failures = host.live->consecutive_local.load(std::memory_order_relaxed);
    out.push_back(std::move(v));
  }
  return out;  // hosts_ is a map: sorted by id
}

void OutlierDetector::emit(const std::vector<OutlierEvent>& events) const {
  if (!on_event_) return;
  for (const auto& e : events) on_event_(e);
}

}  // namespace svckit
