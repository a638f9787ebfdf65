#include "svckit/health/health_monitor.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <mutex>

namespace svckit {

namespace asio = boost::asio;

std::string_view to_string(ServiceHealthStatus status) noexcept {
  switch (status) {
    case ServiceHealthStatus::unknown:
      return "unknown";
    case ServiceHealthStatus::healthy:
      return "healthy";
    case ServiceHealthStatus::degraded:
      return "degraded";
    case ServiceHealthStatus::unhealthy:
      return "unhealthy";
  }
  return "unknown";
}

namespace {

std::string key_of(const std::string& service, const std::string& id) { return service + '\n' + id; }

/// One check of one instance, running on its own strand.
struct Loop {
  Loop(const asio::any_io_executor& executor, std::string key_, std::size_t index_, HealthCheckSpec spec_,
       CheckTarget target_, std::shared_ptr<HealthChecker> checker_)
      : key(std::move(key_)),
        index(index_),
        spec(std::move(spec_)),
        target(std::move(target_)),
        checker(std::move(checker_)),
        strand(asio::make_strand(executor)) {}
  const std::string key;
  const std::size_t index;
  const HealthCheckSpec spec;
  const CheckTarget target;
  const std::shared_ptr<HealthChecker> checker;
  asio::strand<asio::any_io_executor> strand;
  CancelToken wake;  // ends the loop's sleep when it is stopped
  std::atomic<bool> stopped{false};

  void stop() {
    stopped = true;
    wake.cancel();
  }
};

struct Entry {
  std::string service;
  std::string id;
  std::string address;  // scheme://host:port: a change restarts the checks
  std::vector<HealthCheckSpec> specs;
  std::vector<CheckTracker> trackers;
  std::vector<std::shared_ptr<Loop>> loops;
  HealthState state = HealthState::unknown;
  SteadyTime last_traffic{};
};

HealthState aggregate(const std::vector<CheckTracker>& trackers) {
  bool all_healthy = !trackers.empty();
  for (const auto& t : trackers) {
    if (t.state() == HealthState::unhealthy) return HealthState::unhealthy;
    all_healthy = all_healthy && t.state() == HealthState::healthy;
  }
  return all_healthy ? HealthState::healthy : HealthState::unknown;
}

InstanceHealth snapshot(const Entry& e) {
  InstanceHealth out;
  out.service = e.service;
  out.id = e.id;
  out.state = e.state;
  for (std::size_t i = 0; i < e.specs.size(); ++i) {
    CheckHealth c;
    c.spec = e.specs[i];
    c.state = e.trackers[i].state();
    c.consecutive_passes = e.trackers[i].consecutive_passes();
    c.consecutive_failures = e.trackers[i].consecutive_failures();
    c.history.assign(e.trackers[i].history().begin(), e.trackers[i].history().end());
    out.checks.push_back(std::move(c));
  }
  return out;
}

}  // namespace

struct HealthMonitor::Shared {
  Shared(asio::any_io_executor ex, const HealthCheckers& c, const TimeSource& t, Random& r, HealthMonitorOptions o,
         ChangeCallback change, ResultCallback result, Sleeper* s)
      : executor(std::move(ex)),
        checkers(c),
        time(t),
        sleeper(s != nullptr ? *s : real_sleeper),
        injected_sleeper(s != nullptr),
        random(r),
        options(o),
        on_change(std::move(change)),
        on_result(std::move(result)) {}

  /// The loops' pacing clock: the injected TimeSource with an injected Sleeper, else real time.
  SteadyTime pace_now() const { return injected_sleeper ? time.steady_now() : std::chrono::steady_clock::now(); }

  asio::any_io_executor executor;
  const HealthCheckers& checkers;
  const TimeSource& time;
  AsioSleeper real_sleeper;
  Sleeper& sleeper;
  const bool injected_sleeper;
  Random& random;
  const HealthMonitorOptions options;
  const ChangeCallback on_change;
  const ResultCallback on_result;

  mutable std::mutex mutex;
  std::map<std::string, Entry> entries;
  bool stopped = false;

  std::chrono::milliseconds jitter_locked(const HealthCheckSpec& spec) {
    if (spec.jitter.count() <= 0) return std::chrono::milliseconds(0);
    return std::chrono::milliseconds(random.uniform(static_cast<std::uint64_t>(spec.jitter.count())));
  }

  /// Records a loop's result; returns the time from this check's start to the next one's.
  std::chrono::milliseconds record(const Loop& loop, CheckResult result) {
    std::optional<HealthChange> change;
    std::string service;
    std::chrono::milliseconds next = loop.spec.interval;
    {
      std::lock_guard lock(mutex);
      auto it = entries.find(loop.key);
      if (stopped || it == entries.end() || loop.index >= it->second.loops.size() ||
          it->second.loops[loop.index].get() != &loop) {
        return next;  // replaced or removed meanwhile: the loop is stopping
      }
      Entry& e = it->second;
      service = e.service;
      result.at = time.system_now();
      e.trackers[loop.index].record(result);
      const auto state = aggregate(e.trackers);
      if (state != e.state) {
        change = HealthChange{e.service, e.id, e.state, state, result.message};
        e.state = state;
      }
      const auto now = time.steady_now();
      const bool idle = loop.spec.no_traffic_interval.count() > 0 &&
                        (e.last_traffic == SteadyTime{} || now - e.last_traffic > loop.spec.no_traffic_interval);
      next = (idle ? loop.spec.no_traffic_interval : loop.spec.interval) + jitter_locked(loop.spec);
    }
    if (on_result) on_result(service, loop.spec.type, result);
    if (change && on_change) on_change(*change);
    return next;
  }
};

namespace {

asio::awaitable<void> run_loop(std::shared_ptr<HealthMonitor::Shared> shared, std::shared_ptr<Loop> loop,
                               std::chrono::milliseconds first_delay) {
  if (first_delay.count() > 0) (void)co_await shared->sleeper.sleep_for(first_delay, &loop->wake);
  while (!loop->stopped) {
    // Fixed rate: the next check starts `interval` after this one started (at once when a check
    // took longer), so a hung instance turns unhealthy within interval × threshold + timeout.
    const auto started = shared->pace_now();
    CheckResult result;
    try {
      result = co_await loop->checker->check(loop->target, loop->spec);
    } catch (const std::exception& e) {
      result.ok = false;
      result.message = std::string("check failed: ") + e.what();
    }
    if (loop->stopped) break;
    const auto next = shared->record(*loop, std::move(result));
    if (loop->stopped) break;
    const auto wait = started + next - shared->pace_now();
    if (wait.count() > 0) (void)co_await shared->sleeper.sleep_for(wait, &loop->wake);
  }
}

}  // namespace

HealthMonitor::HealthMonitor(asio::any_io_executor executor, const HealthCheckers& checkers, const TimeSource& time,
                             Random& random, HealthMonitorOptions options, ChangeCallback on_change,
                             ResultCallback on_result, Sleeper* sleeper)
    : shared_(std::make_shared<Shared>(std::move(executor), checkers, time, random, options, std::move(on_change),
                                       std::move(on_result), sleeper)) {}

HealthMonitor::~HealthMonitor() { stop(); }

Result<void> HealthMonitor::watch(const ServiceInstance& instance) {
  if (instance.checks.empty()) {
    unwatch(instance.service, instance.id);
    return {};
  }
  std::vector<std::shared_ptr<HealthChecker>> checkers;
  for (std::size_t i = 0; i < instance.checks.size(); ++i) {
    auto checker = shared_->checkers.find(instance.checks[i].type);
    if (!checker) {
      const auto field = "checks[" + std::to_string(i) + "].type";
      return make_error(ErrorCode::invalid_argument, field + " '" + instance.checks[i].type + "' has no checker",
                        field);
    }
    checkers.push_back(std::move(checker));
  }
  const auto key = key_of(instance.service, instance.id);
  const auto address = instance.scheme + "://" + instance.host + ":" + std::to_string(instance.port);
  std::vector<std::shared_ptr<Loop>> old_loops, new_loops;
  std::vector<std::chrono::milliseconds> delays;
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->stopped) return make_error(ErrorCode::unavailable, "health monitor stopped", "monitor");
    auto& e = shared_->entries[key];
    if (!e.loops.empty() && e.specs == instance.checks && e.address == address) return {};  // unchanged
    old_loops = std::move(e.loops);
    e.service = instance.service;
    e.id = instance.id;
    e.address = address;
    e.specs = instance.checks;
    e.trackers.clear();
    e.loops.clear();
    e.state = HealthState::unknown;
    for (std::size_t i = 0; i < e.specs.size(); ++i) {
      const auto& spec = e.specs[i];
      e.trackers.emplace_back(spec.healthy_threshold, spec.unhealthy_threshold, shared_->options.history_size);
      e.loops.push_back(
          std::make_shared<Loop>(shared_->executor, key, i, spec, CheckTarget::of(instance, spec), checkers[i]));
      delays.push_back(shared_->jitter_locked(spec));
    }
    new_loops = e.loops;
  }
  for (auto& loop : old_loops) loop->stop();
  for (std::size_t i = 0; i < new_loops.size(); ++i) {
    asio::co_spawn(new_loops[i]->strand, run_loop(shared_, new_loops[i], delays[i]), asio::detached);
  }
  return {};
}

void HealthMonitor::unwatch(const std::string& service, const std::string& id) {
  std::vector<std::shared_ptr<Loop>> loops;
  {
    std::lock_guard lock(shared_->mutex);
    auto it = shared_->entries.find(key_of(service, id));
    if (it == shared_->entries.end()) return;
    loops = std::move(it->second.loops);
    shared_->entries.erase(it);
  }
  for (auto& loop : loops) loop->stop();
}

void HealthMonitor::mark_traffic(const std::string& service, const std::string& id) {
  std::lock_guard lock(shared_->mutex);
  auto it = shared_->entries.find(key_of(service, id));
  if (it != shared_->entries.end()) it->second.last_traffic = shared_->time.steady_now();
}

void HealthMonitor::stop() {
  std::vector<std::shared_ptr<Loop>> loops;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stopped = true;
    for (auto& [key, e] : shared_->entries) {
      for (auto& loop : e.loops) loops.push_back(loop);
    }
    shared_->entries.clear();
  }
  for (auto& loop : loops) loop->stop();
}

std::optional<InstanceHealth> HealthMonitor::instance(const std::string& service, const std::string& id) const {
  std::lock_guard lock(shared_->mutex);
  auto it = shared_->entries.find(key_of(service, id));
  if (it == shared_->entries.end()) return std::nullopt;
  return snapshot(it->second);
}

std::vector<InstanceHealth> HealthMonitor::instances(const std::string& service) const {
  std::lock_guard lock(shared_->mutex);
  std::vector<InstanceHealth> out;
  for (auto it = shared_->entries.lower_bound(service + '\n');
       it != shared_->entries.end() && it->second.service == service; ++it) {
    out.push_back(snapshot(it->second));
  }
  return out;
}

namespace {
ServiceHealth summarise(const std::string& service, std::size_t healthy, std::size_t unhealthy, std::size_t unknown) {
  ServiceHealth s{service, ServiceHealthStatus::unknown, healthy, unhealthy, unknown};
  if (healthy > 0 && unhealthy == 0 && unknown == 0)
    s.status = ServiceHealthStatus::healthy;
  else if (healthy > 0)
    s.status = ServiceHealthStatus::degraded;
  else if (unhealthy > 0)
    s.status = ServiceHealthStatus::unhealthy;
  return s;
}
}  // namespace

ServiceHealth HealthMonitor::service(const std::string& service) const {
  for (auto& s : services()) {
    if (s.service == service) return s;
  }
  return ServiceHealth{service, ServiceHealthStatus::unknown, 0, 0, 0};
}

std::vector<ServiceHealth> HealthMonitor::services() const {
  std::lock_guard lock(shared_->mutex);
  std::vector<ServiceHealth> out;
  std::string current;
  std::size_t counts[3] = {0, 0, 0};
  bool any = false;
  for (const auto& [key, e] : shared_->entries) {  // keys sort by service first
    if (any && e.service != current) {
      out.push_back(summarise(current, counts[1], counts[2], counts[0]));
      counts[0] = counts[1] = counts[2] = 0;
    }
    current = e.service;
    any = true;
    ++counts[static_cast<int>(e.state)];
  }
  if (any) out.push_back(summarise(current, counts[1], counts[2], counts[0]));
  return out;
}

}  // namespace svckit
