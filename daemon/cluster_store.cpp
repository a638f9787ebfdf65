#include "daemon/cluster_store.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include <map>

#include "svckit/core/log.hpp"
#include "svckit/net/backend_url.hpp"
#include "svckit/registry/change_stream.hpp"
#include "svckit/registry/mirror_writes.hpp"

namespace svckit::daemon {

namespace asio = boost::asio;

namespace {

constexpr std::chrono::milliseconds kWatchWait{30'000};    // one etcd watch, then another
constexpr std::chrono::milliseconds kCatchUpLimit{5'000};  // a write waits this long for the cache
constexpr std::chrono::milliseconds kRetryFirst{100};      // after a failed watch, doubling...
constexpr std::chrono::milliseconds kRetryMost{2'000};     // ...up to this
constexpr std::chrono::milliseconds kProbeEvery{3'000};    // etcd asked this often beside the stream
constexpr std::chrono::milliseconds kReapEvery{1'000};     // expired records looked at this often
constexpr std::chrono::milliseconds kLivenessEvery{250};   // held TTLs and leases looked at this often
constexpr std::size_t kExpireAtOnce = 512;                 // alive keys deleted per round at most

Error store_error(Error e) {
  e.field = "store";
  return e;
}

}  // namespace

Result<std::unique_ptr<ClusterStore>> ClusterStore::create(const std::string& url, MemoryRegistry& cache,
                                                           const RegistryDeps& deps, MetricsRegistry& metrics) {
  if (!url.starts_with("etcd://")) {
    return make_error(ErrorCode::invalid_argument, "store must be an etcd:// URL (or empty: the embedded store)",
                      "store");
  }
  auto parsed = net::parse_backend_url(url, 2379);
  if (!parsed) return store_error(parsed.error());
  auto remote = etcd_registry_factory()(*parsed, deps);
  if (!remote) return store_error(remote.error());
  auto options = etcd::etcd_options_from_url(*parsed);
  if (!options) return store_error(options.error());
  std::string prefix = "/svckit";
  for (const auto& [key, value] : parsed->query) {
    if (key == "prefix") prefix = value;
  }
  auto etcd = std::make_unique<etcd::EtcdClient>(deps.executor, std::move(*options));
  return std::unique_ptr<ClusterStore>(
      new ClusterStore(url, std::move(*remote), std::move(etcd), std::move(prefix), cache, metrics));
}

ClusterStore::ClusterStore(std::string url, std::unique_ptr<Registry> remote, std::unique_ptr<etcd::EtcdClient> etcd,
                           std::string prefix, MemoryRegistry& cache, MetricsRegistry& metrics)
    : url_(std::move(url)),
      remote_(std::move(remote)),
      etcd_(std::move(etcd)),
      prefix_(std::move(prefix)),
      cache_(cache),
      leases_(*etcd_),
      connected_gauge_(
          metrics
              .gauge("svckit_cluster_store_connected", "1 while svckitd follows the registry in etcd; 0: stale cache")
              .get()),
      revision_gauge_(
          metrics.gauge("svckit_cluster_store_revision", "The etcd revision this node's cache has applied.").get()),
      resets_(metrics
                  .counter("svckit_cluster_store_reloads_total",
                           "Full reloads of the registry from etcd (start, and history compacted past a resume).")
                  .get()),
      reaped_(metrics
                  .counter("svckit_cluster_expired_removed_total",
                           "Records of expired instances this node removed from etcd once their grace had passed.")
                  .get()),
      moved_(metrics
                 .counter("svckit_cluster_liveness_taken_over_total",
                          "Heartbeats that made this node the holder of an instance's liveness (one etcd write each).")
                 .get()),
      expired_here_(metrics
                        .counter("svckit_cluster_expired_total",
                                 "TTL instances whose heartbeats stopped, expired by this node (their holder).")
                        .get()) {
  mirror_ = dynamic_cast<MirrorWrites*>(remote_.get());
  if (mirror_ != nullptr) {
    mirror_->observe_alive([this](const std::string& service, const std::string& id, std::uint64_t revision) {
      held_.observe({service, id}, revision);
    });
  }
}

ClusterStore::~ClusterStore() { stop(); }

void ClusterStore::stop() {
  stopped_ = true;
  cancel_->cancel();
  reap_cancel_->cancel();
  probe_cancel_->cancel();
  liveness_cancel_->cancel();
  std::lock_guard lock(stream_mutex_);
  if (stream_cancel_) stream_cancel_->cancel();
  progress_.notify_all();
}

void ClusterStore::applied_to(std::uint64_t revision) {
  if (revision > applied_.load()) applied_ = revision;
  revision_gauge_.set(static_cast<double>(applied_.load()));
  progress_.notify_all();
}

void ClusterStore::set_connected(bool connected) {
  if (connected_.exchange(connected) != connected) {
    if (connected) {
      logs::info("cluster", "event=cluster_store_connected store={} revision={}", url_, applied_.load());
    } else {
      logs::warn("cluster",
                 "event=cluster_store_disconnected store={} (reads are served from this node's cache; writes "
                 "fail with 503 until etcd answers)",
                 url_);
    }
  }
  connected_gauge_.set(connected ? 1 : 0);
}

Awaitable<Result<void>> ClusterStore::load() {
  auto all = co_await remote_->watch(WatchRequest("", 0, std::chrono::milliseconds(0)));
  if (!all) co_return store_error(all.error());
  cache_.load_replicated(all->snapshot, all->index);
  resets_.inc();
  applied_to(all->index);
  set_connected(true);
  logs::info("cluster", "event=cluster_store_loaded store={} instances={} revision={}", url_, all->snapshot.size(),
             all->index);
  co_return Result<void>{};
}

void ClusterStore::set_ownership(std::function<bool(const std::string& service, const std::string& id)> owns) {
  std::lock_guard lock(expiry_mutex_);
  owns_ = std::move(owns);
}

std::size_t ClusterStore::expiring() const {
  std::lock_guard lock(expiry_mutex_);
  return expiring_.size();
}

void ClusterStore::track_expiries(const WatchResult& changes) {
  const auto* mirror = dynamic_cast<const MirrorWrites*>(remote_.get());
  if (mirror == nullptr) return;  // the backend removes expired records itself
  const auto due = std::chrono::steady_clock::now() + mirror->expiry_grace();
  std::lock_guard lock(expiry_mutex_);
  if (changes.reset) {
    // When they expired is not known: a full grace from now. An instance down for another reason
    // (its checks) is left alone by remove_expired, which finds it alive.
    expiring_.clear();
    for (const auto& in : changes.snapshot) {
      if (!in.persistent() && in.status == InstanceStatus::down) expiring_[{in.service, in.id}] = due;
    }
    return;
  }
  for (const auto& e : changes.events) {
    const std::pair key{e.instance.service, e.instance.id};
    if (e.type == EventType::expired) expiring_[key] = due;
    if (e.type == EventType::deregistered) expiring_.erase(key);
  }
}

Awaitable<void> ClusterStore::reap_loop(MirrorWrites& mirror) {
  while (!stopped_) {
    (void)co_await sleeper_.sleep_for(kReapEvery, reap_cancel_.get());
    if (stopped_ || !connected_.load()) continue;
    std::vector<std::pair<std::string, std::string>> mine;
    {
      std::lock_guard lock(expiry_mutex_);
      const auto now = std::chrono::steady_clock::now();
      for (const auto& [key, due] : expiring_) {
        // Not this node's: its owner removes it (the deregistration that follows drops it here);
        // kept, so that it is removed should this node become its owner.
        if (due <= now && (!owns_ || owns_(key.first, key.second))) mine.push_back(key);
      }
    }
    for (const auto& [service, id] : mine) {
      if (stopped_) break;
      auto removed = co_await mirror.remove_expired(service, id);
      if (!removed) {
        logs::debug("cluster", "event=cluster_expired_remove_failed service={} instance={} error=\"{}\"", service, id,
                    removed.error().describe());
        break;  // etcd is away: the next round tries again
      }
      if (*removed) reaped_.inc();
      std::lock_guard lock(expiry_mutex_);
      expiring_.erase({service, id});  // removed, or alive again / persistent / gone: nothing due
    }
  }
  reap_done_.set();
}

bool ClusterStore::apply(WatchResult changes, std::uint64_t reloads) {
  const std::lock_guard lock(apply_mutex_);
  if (reloads_.load() != reloads) return false;
  track_expiries(changes);
  if (changes.reset) {  // the first load, etcd compacted the history we needed, or went back in time
    if (applied_.load() != 0) {
      logs::warn("cluster", "event=cluster_store_reload store={} from_revision={} to_revision={}", url_,
                 applied_.load(), changes.index);
    }
    if (applied_.load() != 0) release_held();  // the changes in between were not seen
    cache_.load_replicated(changes.snapshot, changes.index);
    resets_.inc();
  } else {
    std::map<std::uint64_t, std::vector<RegistryEvent>> by_revision;
    for (auto& e : changes.events) by_revision[e.index].push_back(std::move(e));
    for (const auto& [revision, events] : by_revision) cache_.apply_replicated(revision, events);
  }
  applied_to(changes.index);
  return true;
}

Awaitable<void> ClusterStore::follow() {
  auto* stream = dynamic_cast<ChangeStream*>(remote_.get());
  if (stream == nullptr) {  // a backend without a long-lived subscription: one watch after another
    co_await follow_by_watches();
    co_return;
  }
  const auto executor = co_await asio::this_coro::executor;
  asio::co_spawn(executor, probe_loop(), asio::detached);
  if (mirror_ != nullptr) {
    asio::co_spawn(executor, reap_loop(*mirror_), asio::detached);
    asio::co_spawn(executor, liveness_loop(*mirror_), asio::detached);
  } else {
    reap_done_.set();
    liveness_done_.set();
  }
  auto retry = kRetryFirst;
  while (!stopped_) {
    auto stream_cancel = std::make_shared<CancelToken>();
    {
      std::lock_guard lock(stream_mutex_);
      stream_cancel_ = stream_cancel;
    }
    if (stopped_) break;
    const auto reloads = reloads_.load();
    ChangeStream::Sink sink = [this, &retry, reloads](WatchResult batch) -> Awaitable<Result<void>> {
      if (!apply(std::move(batch), reloads))
        co_return make_error(ErrorCode::cancelled, "reloaded: the stream re-opens");
      set_connected(true);
      retry = kRetryFirst;
      co_return Result<void>{};
    };
    auto ended = co_await stream->follow(applied_.load(), stream_cancel, sink);
    if (stopped_) break;
    set_connected(false);
    logs::debug("cluster", "event=cluster_store_watch_failed error=\"{}\"", ended ? "ended" : ended.error().describe());
    (void)co_await sleeper_.sleep_for(retry, cancel_.get());
    retry = std::min(retry * 2, kRetryMost);
  }
  (void)co_await probe_done_.wait(std::chrono::seconds(10));  // their frames refer to this store
  (void)co_await reap_done_.wait(std::chrono::seconds(10));
  (void)co_await liveness_done_.wait(std::chrono::seconds(10));
}

Awaitable<void> ClusterStore::probe_loop() {
  const nlohmann::json probe{{"key", etcd::base64_encode(prefix_ + "/")},
                             {"range_end", etcd::base64_encode(etcd::prefix_end(prefix_ + "/"))},
                             {"count_only", true}};
  while (!stopped_) {
    (void)co_await sleeper_.sleep_for(kProbeEvery, probe_cancel_.get());
    if (stopped_) break;
    const auto applied_before = applied_.load();
    auto answered = co_await etcd_->call("/v3/kv/range", probe);
    if (stopped_) break;
    if (answered) {
      co_await check_not_rewound(answered->value("header", nlohmann::json::object()), applied_before);
      continue;
    }
    if (connected_.load()) {
      logs::warn("cluster", "event=cluster_store_probe_failed error=\"{}\" (re-opening the watch)",
                 answered.error().describe());
    }
    set_connected(false);
    for (const auto& hook : probe_hooks_) hook();
    std::lock_guard lock(stream_mutex_);
    if (stream_cancel_) stream_cancel_->cancel();
  }
  probe_done_.set();
}

Awaitable<void> ClusterStore::check_not_rewound(const nlohmann::json& header, std::uint64_t applied_before) {
  const auto id = static_cast<std::uint64_t>(etcd::json_int(header, "cluster_id"));
  const auto revision = static_cast<std::uint64_t>(etcd::json_int(header, "revision"));
  std::uint64_t seen = 0;
  cluster_id_.compare_exchange_strong(seen, id);  // the first answer names the cluster
  const bool other_cluster = seen != 0 && id != 0 && id != seen;
  // Against what was applied when the probe left, not now: etcd answered at the revision it had
  // then, and the watch stream may since have delivered (and the cache applied) later ones — a
  // race under write load that used to reload everything, and, with a stream batch landing after
  // the reload, leave a gap of registrations in this node's cache.
  if (!other_cluster && revision >= applied_before) {
    if (revision < applied_.load()) {  // the stream was faster than the probe's answer: no rewind
      logs::debug("cluster", "event=cluster_store_probe_raced revision={} applied_before={} applied={}", revision,
                  applied_before, applied_.load());
    }
    co_return;
  }
  logs::error(
      "cluster",
      "event=cluster_store_rewound store={} revision={} applied={} cluster_id_changed={} (etcd was restored from a "
      "backup or replaced: reloading everything; watches from later indexes get a reset)",
      url_, revision, applied_.load(), other_cluster);
  auto all = co_await remote_->watch(WatchRequest("", 0, std::chrono::milliseconds(0)));
  if (!all) co_return;  // the next probe tries again
  cluster_id_ = id;
  {
    const std::lock_guard lock(apply_mutex_);
    ++reloads_;  // what the stream or a watch delivers from now on was asked for before this snapshot
    WatchResult reset;
    reset.reset = true;
    reset.index = all->index;
    reset.snapshot = std::move(all->snapshot);
    track_expiries(reset);
    release_held();
    cache_.load_replicated(reset.snapshot, reset.index);
    resets_.inc();
    applied_ = reset.index;  // backwards: applied_to() only moves forward
    applied_to(reset.index);
  }
  {
    std::lock_guard lock(stream_mutex_);
    if (stream_cancel_) stream_cancel_->cancel();  // the stream waits for revisions from before
  }
  for (const auto& hook : rewound_hooks_) hook();
}

Awaitable<void> ClusterStore::follow_by_watches() {
  auto retry = kRetryFirst;
  while (!stopped_) {
    // After a failure, a watch that answers at once first: it tells that etcd is back without
    // waiting for a change (a long watch would only return with one).
    const auto wait = connected_.load() ? kWatchWait : std::chrono::milliseconds(0);
    const auto reloads = reloads_.load();
    auto changes = co_await remote_->watch(WatchRequest("", applied_.load(), wait, cancel_));
    if (stopped_) break;
    if (!changes) {
      set_connected(false);
      logs::debug("cluster", "event=cluster_store_watch_failed error=\"{}\"", changes.error().describe());
      (void)co_await sleeper_.sleep_for(retry, cancel_.get());
      retry = std::min(retry * 2, kRetryMost);
      continue;
    }
    retry = kRetryFirst;
    set_connected(true);
    (void)apply(std::move(*changes), reloads);  // not applied after a reload: asked again from its revision
  }
}

Awaitable<void> ClusterStore::catch_up(const std::string& service, const std::string& id, bool removed) {
  // The revision of the write just made: the instance record's (the etcd:// registry's layout,
  // P/i/<service>/<id>) — not etcd's head, which other users of the same etcd move too. A removal
  // has no record left to ask: wait until the cache no longer holds the instance.
  std::uint64_t target = 0;
  if (!removed) {
    const nlohmann::json probe{{"key", etcd::base64_encode(prefix_ + "/i/" + service + "/" + id)}};
    auto answer = co_await etcd_->call("/v3/kv/range", probe);
    if (!answer) co_return;  // stored all the same; the cache follows when etcd answers again
    const auto kvs = answer->value("kvs", nlohmann::json::array());
    if (kvs.empty()) co_return;  // gone meanwhile: nothing to wait for
    target = static_cast<std::uint64_t>(etcd::json_int(kvs[0], "mod_revision"));
  }
  co_await wait_applied(target, service, id, removed);
}

Awaitable<void> ClusterStore::wait_applied(std::uint64_t target, const std::string& service, const std::string& id,
                                           bool removed) {
  const auto done = [&] { return removed ? !cache_.contains(service, id) : applied_.load() >= target; };
  const auto deadline = std::chrono::steady_clock::now() + kCatchUpLimit;
  while (!done() && !stopped_) {
    auto ticket = progress_.park();
    if (done()) break;
    const auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero() || !co_await ticket.wait_for(left, sleeper_)) {
      logs::warn("cluster", "event=cluster_store_lagging applied={} wanted={} service={} instance={}", applied_.load(),
                 target, service, id);
      break;
    }
  }
}

Awaitable<Result<ServiceInstance>> ClusterStore::register_instance(ServiceInstance instance) {
  const WriteInProgress in_progress(writes_);
  instance.normalize();
  if (mirror_ != nullptr) co_return co_await register_held(*mirror_, std::move(instance));
  auto stored = co_await remote_->register_instance(std::move(instance));
  if (!stored) co_return stored.error();
  co_await catch_up(stored->service, stored->id, false);
  co_return stored;
}

Awaitable<Result<ServiceInstance>> ClusterStore::register_held(MirrorWrites& mirror, ServiceInstance instance) {
  std::string lease = "0";
  if (!instance.persistent()) {
    auto granted = co_await leases_.lease_for(instance.ttl);
    if (!granted) co_return granted.error();
    lease = std::move(*granted);
  }
  const HeldLiveness::Key key{instance.service, instance.id};
  const auto ttl = instance.ttl;
  held_.begin(key);
  Result<MirrorWrites::Stored> stored = make_error(ErrorCode::internal, "not written");
  if (!cache_.contains(instance.service, instance.id)) {
    // New to this node's cache: no read of etcd first, and written together with the
    // registrations that arrive meanwhile. If another node registered it after all, etcd's
    // guard leaves that record alone and replace() below updates it.
    stored = co_await mirror.register_new(instance, cache_.instance_count(instance.service), lease);
  }
  if (!stored || stored->existed) stored = co_await mirror.replace(std::move(instance), lease);
  if (!stored) {
    held_.abandon(key);
    co_return stored.error();
  }
  if (stored->unchanged) {  // the same registration again: a heartbeat
    held_.abandon(key);
    auto renewed = co_await renew_held(mirror, key.first, key.second);
    if (!renewed) co_return renewed.error();
    stored->instance.last_heartbeat =
        std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now());
    co_return std::move(stored->instance);
  }
  if (stored->instance.persistent()) {
    held_.abandon(key);
  } else {
    held_.settle(key, stored->index, ttl, std::chrono::steady_clock::now());
  }
  co_await wait_applied(stored->index, key.first, key.second, false);
  co_return std::move(stored->instance);
}

Awaitable<Result<void>> ClusterStore::deregister(std::string service, std::string id) {
  const WriteInProgress in_progress(writes_);
  auto removed = co_await remote_->deregister(service, id);
  if (!removed) co_return removed.error();
  co_await catch_up(service, id, true);
  co_return removed;
}

Awaitable<Result<void>> ClusterStore::renew(std::string service, std::string id) {
  const WriteInProgress in_progress(writes_);
  if (mirror_ != nullptr) co_return co_await renew_held(*mirror_, std::move(service), std::move(id));
  // Lease keep-alives: no revision (so nothing to wait for), unless an expired instance came back.
  auto renewed = co_await remote_->renew(std::move(service), std::move(id));
  if (!renewed) co_return renewed.error();
  co_return renewed;
}

Awaitable<Result<void>> ClusterStore::renew_held(MirrorWrites& mirror, std::string service, std::string id) {
  if (!connected_.load()) {
    // Cut off from etcd this node could neither keep its leases alive nor expire anything.
    co_return make_error(ErrorCode::unavailable, "the cluster store (etcd) is unreachable from this node", "store");
  }
  const HeldLiveness::Key key{service, id};
  if (held_.heartbeat(key, std::chrono::steady_clock::now())) co_return Result<void>{};
  auto current = co_await cache_.get(service, id);
  if (!current) co_return current.error();  // not_found, named
  if (current->persistent()) co_return Result<void>{};
  // Held by another node (or expired, or by nobody since this node's cache was reloaded): the
  // alive key moves under this node's lease.
  auto lease = co_await leases_.lease_for(current->ttl);
  if (!lease) co_return lease.error();
  held_.begin(key);
  auto written = co_await mirror.hold_alive(service, id, *lease);
  if (!written || !*written) {
    held_.abandon(key);
    if (!written) co_return written.error();
    co_return make_error(ErrorCode::not_found, "no instance '" + id + "' of service '" + service + "'", "id");
  }
  held_.settle(key, **written, current->ttl, std::chrono::steady_clock::now());
  moved_.inc();
  co_await wait_applied(**written, service, id, false);  // an expired one is listed alive again
  co_return Result<void>{};
}

void ClusterStore::release_held() {
  // Unkept, the leases run out on their own, and etcd deletes the keys still under them — no
  // earlier than their instances' TTL. Heartbeats meanwhile move their instances to new leases.
  leases_.forget_all();
  held_.clear();
}

Awaitable<void> ClusterStore::liveness_loop(MirrorWrites& mirror) {
  while (!stopped_) {
    (void)co_await sleeper_.sleep_for(kLivenessEvery, liveness_cancel_.get());
    if (stopped_) break;
    if (!connected_.load()) continue;
    (void)co_await leases_.keep_alive_due();
    auto due = held_.take_due(std::chrono::steady_clock::now(), kExpireAtOnce);
    if (!due.empty() && !stopped_) co_await expire_held(mirror, std::move(due));
  }
  liveness_done_.set();
}

Awaitable<void> ClusterStore::expire_held(MirrorWrites& mirror, std::vector<HeldLiveness::Due> due) {
  // All at once: etcd::GroupCommit puts them into a few transactions.
  auto left = std::make_shared<std::atomic<std::size_t>>(due.size());
  auto all_done = std::make_shared<AsyncEvent>();
  const auto executor = co_await asio::this_coro::executor;
  for (auto& one : due) {
    asio::co_spawn(
        executor,
        [](ClusterStore& self, MirrorWrites& m, HeldLiveness::Due d, std::shared_ptr<std::atomic<std::size_t>> count,
           std::shared_ptr<AsyncEvent> done) -> Awaitable<void> {
          auto deleted = co_await m.expire_alive(d.key.first, d.key.second, d.revision);
          if (!deleted) {
            self.held_.kept(d.key, std::chrono::steady_clock::now() + kReapEvery);  // etcd away: again later
          } else {
            self.held_.expired(d.key, d.revision);  // deleted, or another node wrote it since
            if (*deleted) self.expired_here_.inc();
          }
          if (--*count == 0) done->set();
        }(*this, mirror, std::move(one), left, all_done),
        asio::detached);
  }
  (void)co_await all_done->wait(std::chrono::seconds(30));
}

Awaitable<Result<void>> ClusterStore::set_status(std::string service, std::string id, InstanceStatus status) {
  const WriteInProgress in_progress(writes_);
  // Every node's health checks report the same verdicts: only a change is written.
  auto current = co_await cache_.get(service, id);
  if (current && current->status == status) co_return Result<void>{};
  auto changed = co_await remote_->set_status(service, id, status);
  if (!changed) co_return changed.error();
  co_await catch_up(service, id, false);
  co_return changed;
}

}  // namespace svckit::daemon
