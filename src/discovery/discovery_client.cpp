#include "svckit/discovery/discovery_client.hpp"
#include "svckit/core/log.hpp"

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace svckit {

namespace asio = boost::asio;
using namespace std::chrono_literals;

DiscoveryClient::DiscoveryClient(const asio::any_io_executor& executor, Registry& registry, Random& random,
                                 DiscoveryOptions options, MetricsRegistry* metrics)
    : DiscoveryClient(executor, registry, real_time_, random, real_sleeper_, options, metrics) {}

DiscoveryClient::DiscoveryClient(const asio::any_io_executor& executor, Registry& registry, const TimeSource& time,
                                 Random& random, Sleeper& sleeper, DiscoveryOptions options, MetricsRegistry* metrics)
    : executor_(executor),
      registry_(registry),
      time_(time),
      random_(random),
      sleeper_(sleeper),
      options_(options),
      catalog_(std::make_shared<const Catalog>()),
      selector_(options.selection, random) {
  if (metrics != nullptr) {
    watch_errors_metric_ =
        &metrics->counter("svckit_discovery_watch_errors_total", "Failed registry watch calls.").get();
    empty_rejected_metric_ = &metrics
                                  ->counter("svckit_discovery_empty_push_rejected_total",
                                            "Snapshots that would have emptied a known service; not applied.")
                                  .get();
    heartbeat_failures_metric_ =
        &metrics->counter("svckit_discovery_heartbeat_failures_total", "Failed heartbeats.").get();
    instances_metric_ = &metrics->gauge("svckit_discovery_instances",
                                        "Instances of each service in the discovery cache (any status).", {"service"});
  }
}

DiscoveryClient::~DiscoveryClient() = default;

void DiscoveryClient::start() {
  if (started_ || stopping_) return;
  started_ = true;
  ++loops_running_;
  asio::co_spawn(executor_, watch_loop(), asio::detached);
}

Awaitable<bool> DiscoveryClient::wait_synced(std::chrono::milliseconds timeout) {
  co_return co_await synced_event_.wait(timeout);
}

std::chrono::milliseconds DiscoveryClient::jittered(std::chrono::milliseconds base) {
  // Full jitter in [base/2, base]: spreads reconnect storms after a registry restart.
  const auto half = base.count() / 2;
  return std::chrono::milliseconds(half +
                                   static_cast<std::int64_t>(random_.uniform(static_cast<std::uint64_t>(half) + 1)));
}

Awaitable<void> DiscoveryClient::sleep(CancelToken* stop, std::chrono::milliseconds d) {
  (void)co_await sleeper_.sleep_for(d, stop);
}

Awaitable<void> DiscoveryClient::watch_loop() {
  auto backoff = options_.retry_initial;
  while (!stopping_) {
    const auto after = index_.load();
    const auto asked = time_.steady_now();
    auto result = co_await registry_.watch({"", after, after == 0 ? 0ms : options_.watch_wait, watch_cancel_});
    if (stopping_) break;
    // A long poll that comes back at once with nothing new (a registry shutting down, a proxy
    // that does not hold requests) must not turn into a busy loop: wait a little (Consul's rule).
    if (result && after != 0 && result->events.empty() && !result->reset && result->index == after &&
        time_.steady_now() - asked < options_.watch_wait / 10) {
      co_await sleep(watch_cancel_.get(), jittered(options_.retry_initial));
      if (stopping_) break;
    }
    if (!result) {
      reachable_ = false;
      ++watch_errors_;
      if (watch_errors_metric_ != nullptr) watch_errors_metric_->inc();
      logs::warn("discovery", "event=watch_failed error=\"{}\" retry_in_ms={} cached_services={}",
                 result.error().describe(), backoff.count(), current_catalog()->size());
      co_await sleep(watch_cancel_.get(), jittered(backoff));
      backoff = std::min(backoff * 2, options_.retry_max);
      continue;
    }
    const bool reconnected = !reachable_;
    backoff = options_.retry_initial;
    apply(*result);
    reachable_ = true;  // after apply(): whoever sees it also sees the cache it reflects
    if (reconnected) logs::info("discovery", "event=watch_connected index={}", result->index);
  }
  if (--loops_running_ == 0) loops_done_.set();
}

void DiscoveryClient::apply(const WatchResult& result) {
  Catalog next = *current_catalog();
  std::vector<RegistryEvent> changes;
  if (result.reset) {
    apply_reset(result, next, changes);
  } else {
    std::map<std::string, Instances> touched;
    for (const auto& event : result.events) {
      const auto& name = event.instance.service;
      auto it = touched.find(name);
      if (it == touched.end()) {
        Instances start;
        if (stale_services_.erase(name) == 0) {
          if (auto found = next.find(name); found != next.end()) start = *found->second;
        }
        it = touched.emplace(name, std::move(start)).first;
      }
      auto& list = it->second;
      auto pos = std::find_if(list.begin(), list.end(), [&](const auto& in) { return in.id == event.instance.id; });
      if (event.type == EventType::deregistered) {
        if (pos != list.end()) list.erase(pos);
      } else if (pos != list.end()) {
        *pos = event.instance;
      } else {
        list.push_back(event.instance);
      }
      changes.push_back(event);
    }
    for (auto& [name, list] : touched) {
      if (list.empty()) {
        next.erase(name);
      } else {
        std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
        next[name] = std::make_shared<const Instances>(std::move(list));
      }
    }
  }
  publish(std::move(next));
  index_ = result.index;  // after publish(): stats().index never runs ahead of the cache
  if (!synced_) {
    synced_ = true;
    synced_event_.set();
  }
  notify(changes);
}

void DiscoveryClient::apply_reset(const WatchResult& result, Catalog& next, std::vector<RegistryEvent>& changes) {
  std::map<std::string, Instances> fresh;
  for (const auto& in : result.snapshot) fresh[in.service].push_back(in);
  Catalog rebuilt;
  for (auto& [name, list] : fresh) {
    std::sort(list.begin(), list.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    rebuilt[name] = std::make_shared<const Instances>(std::move(list));
  }
  // Diff old against new so that handlers see what changed.
  for (const auto& [name, old_list] : next) {
    auto now = rebuilt.find(name);
    if (now == rebuilt.end()) {
      if (options_.empty_push_protection && !old_list->empty()) {
        ++empty_rejected_;
        if (empty_rejected_metric_ != nullptr) empty_rejected_metric_->inc();
        logs::warn("discovery", "event=empty_push_rejected service={} kept_instances={}", name, old_list->size());
        rebuilt[name] = old_list;
        stale_services_.insert(name);
        continue;
      }
      for (const auto& in : *old_list) changes.push_back(RegistryEvent{result.index, EventType::deregistered, in, {}});
      continue;
    }
    for (const auto& in : *old_list) {
      auto match = std::find_if(now->second->begin(), now->second->end(), [&](const auto& x) { return x.id == in.id; });
      if (match == now->second->end()) {
        changes.push_back(RegistryEvent{result.index, EventType::deregistered, in, {}});
      } else if (match->status != in.status) {
        changes.push_back(RegistryEvent{result.index, EventType::status_changed, *match, in.status});
      } else if (!(*match == in)) {
        changes.push_back(RegistryEvent{result.index, EventType::updated, *match, {}});
      }
    }
  }
  for (const auto& [name, list] : rebuilt) {
    auto old = next.find(name);
    for (const auto& in : *list) {
      const bool known = old != next.end() && std::any_of(old->second->begin(), old->second->end(),
                                                          [&](const auto& x) { return x.id == in.id; });
      if (!known) changes.push_back(RegistryEvent{result.index, EventType::registered, in, {}});
    }
    if (stale_services_.count(name) != 0 && old != next.end() && list != old->second) stale_services_.erase(name);
  }
  next = std::move(rebuilt);
}

std::shared_ptr<const DiscoveryClient::Catalog> DiscoveryClient::current_catalog() const {
  std::lock_guard lock(catalog_mutex_);
  return catalog_;
}

void DiscoveryClient::publish(Catalog next) {
  auto published = std::make_shared<const Catalog>(std::move(next));
  if (instances_metric_ != nullptr) {
    for (const auto& [name, list] : *published) instances_metric_->with({name}).set(static_cast<double>(list->size()));
    for (const auto& [name, list] : *current_catalog()) {
      if (published->count(name) == 0) instances_metric_->with({name}).set(0);
    }
  }
  std::lock_guard lock(catalog_mutex_);
  catalog_.swap(published);  // the old catalog is released after the lock, by `published`
}

void DiscoveryClient::notify(const std::vector<RegistryEvent>& changes) {
  if (handlers_.empty()) return;
  const auto handlers = handlers_;  // a handler may remove itself
  for (const auto& event : changes) {
    for (const auto& [id, handler] : handlers) handler(event);
  }
}

std::vector<ServiceInstance> DiscoveryClient::discover(const std::string& service, const InstanceFilter& filter) const {
  const auto catalog = current_catalog();
  auto it = catalog->find(service);
  if (it == catalog->end()) return {};
  if (filter.empty()) return *it->second;
  std::vector<ServiceInstance> out;
  for (const auto& in : *it->second) {
    if (filter.matches(in)) out.push_back(in);
  }
  return out;
}

Awaitable<Result<std::vector<ServiceInstance>>> DiscoveryClient::discover_async(std::string service) {
  if (synced_) co_return discover(service);
  co_return co_await registry_.list(std::move(service), InstanceFilter{});
}

Result<ServiceInstance> DiscoveryClient::get_service(const std::string& service) const {
  const auto catalog = current_catalog();
  if (auto it = catalog->find(service); it != catalog->end()) {
    if (const auto* in = selector_.pick(service, *it->second)) return *in;
  }
  return make_error(ErrorCode::not_found, "no healthy instance of '" + service + "'", "service");
}

Result<std::string> DiscoveryClient::service_url(const std::string& service) const {
  auto in = get_service(service);
  if (!in) return in.error();
  return in->base_url();
}

std::vector<std::string> DiscoveryClient::services() const {
  std::vector<std::string> out;
  for (const auto& [name, list] : *current_catalog()) out.push_back(name);
  return out;
}

std::size_t DiscoveryClient::instance_count(const std::string& service) const {
  const auto catalog = current_catalog();
  const auto it = catalog->find(service);
  return it == catalog->end() ? 0 : it->second->size();
}

std::uint64_t DiscoveryClient::on_event(EventHandler handler) {
  handlers_.emplace_back(next_handler_id_, std::move(handler));
  return next_handler_id_++;
}

void DiscoveryClient::remove_handler(std::uint64_t id) {
  handlers_.erase(std::remove_if(handlers_.begin(), handlers_.end(), [&](const auto& h) { return h.first == id; }),
                  handlers_.end());
}

Awaitable<Result<ServiceInstance>> DiscoveryClient::register_self(ServiceInstance instance) {
  if (stopping_) co_return make_error(ErrorCode::cancelled, "discovery client is shutting down");
  auto stored = co_await registry_.register_instance(instance);
  if (!stored) co_return stored;
  self_ = *stored;
  // A deregistration cancelled the last token; the loop (still running, or the new one) waits on this.
  if (!heartbeat_cancel_ || heartbeat_cancel_->cancelled()) heartbeat_cancel_ = std::make_shared<CancelToken>();
  if (!heartbeat_running_ && stored->ttl.count() > 0) {
    heartbeat_running_ = true;
    ++loops_running_;
    asio::co_spawn(executor_, heartbeat_loop(), asio::detached);
  }
  co_return stored;
}

Awaitable<void> DiscoveryClient::heartbeat_loop() {
  while (!stopping_ && self_) {
    const auto interval = options_.heartbeat_interval.count() > 0 ? options_.heartbeat_interval : self_->ttl / 3;
    const auto stop = heartbeat_cancel_;  // replaced by a register_self after a deregistration
    co_await sleep(stop.get(), interval);
    if (stopping_ || !self_) break;
    auto r = co_await registry_.renew(self_->service, self_->id);
    if (r || stopping_ || !self_) continue;
    ++heartbeat_failures_;
    if (heartbeat_failures_metric_ != nullptr) heartbeat_failures_metric_->inc();
    if (r.error().code == ErrorCode::not_found) {
      // The registry lost us (restart without snapshot, or we expired): register again.
      auto again = co_await registry_.register_instance(*self_);
      if (again) {
        ++reregistrations_;
        logs::info("discovery", "event=reregistered service={} id={}", self_->service, self_->id);
      }
    } else {
      logs::warn("discovery", "event=heartbeat_failed service={} id={} error=\"{}\"", self_->service, self_->id,
                 r.error().describe());
    }
  }
  heartbeat_running_ = false;
  if (--loops_running_ == 0) loops_done_.set();
}

Awaitable<Result<void>> DiscoveryClient::update_status(InstanceStatus status) {
  if (!self_) co_return make_error(ErrorCode::not_found, "this process is not registered", "service");
  auto r = co_await registry_.set_status(self_->service, self_->id, status);
  if (r) self_->status = status;
  co_return r;
}

Awaitable<Result<void>> DiscoveryClient::deregister_self() {
  if (!self_) co_return Result<void>{};
  const auto me = *self_;
  self_.reset();  // stops the heartbeat loop
  if (heartbeat_cancel_) heartbeat_cancel_->cancel();
  co_return co_await registry_.deregister(me.service, me.id);
}

Awaitable<void> DiscoveryClient::shutdown(std::chrono::milliseconds drain) {
  if (self_ && options_.deregister_on_shutdown) {
    if (auto r = co_await update_status(InstanceStatus::maintenance); !r) {
      logs::warn("discovery", "event=drain_status_failed error=\"{}\"", r.error().describe());
    }
    if (drain.count() > 0) {
      co_await sleep(nullptr, drain);
    }
    if (auto r = co_await deregister_self(); !r) {
      logs::warn("discovery", "event=deregister_failed error=\"{}\"", r.error().describe());
    }
  }
  stopping_ = true;
  watch_cancel_->cancel();
  if (heartbeat_cancel_) heartbeat_cancel_->cancel();
  if (loops_running_ > 0) (void)co_await loops_done_.wait(std::chrono::seconds(30));
}

DiscoveryStats DiscoveryClient::stats() const {
  return DiscoveryStats{index_.load(),          synced_.load(),         reachable_.load(),
                        watch_errors_.load(),   empty_rejected_.load(), heartbeat_failures_.load(),
                        reregistrations_.load()};
}

}  // namespace svckit
