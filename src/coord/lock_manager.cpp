#include "svckit/coord/lock_manager.hpp"
#include "svckit/core/log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <map>
#include <mutex>

namespace svckit::coord {

namespace asio = boost::asio;
using namespace std::chrono_literals;

std::string_view to_string(LockMode mode) noexcept { return mode == LockMode::shared ? "shared" : "exclusive"; }

Result<void> validate_lock_name(const std::string& name) {
  if (name.empty() || name.size() > 200) {
    return make_error(ErrorCode::invalid_argument, "a lock name has 1 to 200 characters", "name");
  }
  for (const char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '.' || c == ':' || c == '/';
    if (!ok) return make_error(ErrorCode::invalid_argument, "a lock name has letters, digits and -_.:/ only", "name");
  }
  return {};
}

namespace detail {

struct LockManagerState {
  LockManagerState(std::shared_ptr<LockBackend> b, asio::any_io_executor ex, const TimeSource& t, Sleeper& s,
                   std::string id)
      : backend(std::move(b)), executor(std::move(ex)), time(t), sleeper(s), manager_id(std::move(id)) {}

  std::shared_ptr<LockBackend> backend;
  asio::any_io_executor executor;
  const TimeSource& time;
  Sleeper& sleeper;
  const std::string manager_id;
  std::atomic<std::uint64_t> next_owner{1};

  std::atomic<std::uint64_t> acquired{0}, contended{0}, lost{0}, renewals{0}, renewals_failed{0};
  std::shared_ptr<Counter> acquired_metric;         // series held for the manager's life
  std::shared_ptr<Counter> contended_metric;        // series held for the manager's life
  std::shared_ptr<Counter> lost_metric;             // series held for the manager's life
  std::shared_ptr<Counter> renewals_failed_metric;  // series held for the manager's life
  std::shared_ptr<Histogram> wait_metric;           // series held for the manager's life
  std::shared_ptr<Gauge> held_metric;               // series held for the manager's life

  std::mutex mutex;
  std::map<std::pair<std::string, std::string>, std::weak_ptr<Holding>> reentrant;  // guarded by mutex

  static void count(std::atomic<std::uint64_t>& value, const std::shared_ptr<Counter>& metric) {
    value.fetch_add(1, std::memory_order_relaxed);
    if (metric != nullptr) metric->inc();
  }
};

/// One backend acquisition, shared by the Lock handles of a reentrant owner.
struct Holding {
  std::shared_ptr<LockManagerState> manager;
  HeldLock held;
  std::string reentrant_owner;
  std::chrono::milliseconds lease{0};
  bool watchdog = true;
  std::function<void(const std::string&)> on_lost;
  std::shared_ptr<CancelToken> lost = std::make_shared<CancelToken>();
  std::shared_ptr<CancelToken> stop = std::make_shared<CancelToken>();  // ends the watchdog

  std::mutex mutex;
  std::uint32_t holds = 1;  // guarded by mutex
  bool released = false;    // guarded by mutex
  bool was_lost = false;    // guarded by mutex

  void forget_reentrant() {
    if (reentrant_owner.empty()) return;
    std::lock_guard lock(manager->mutex);
    auto it = manager->reentrant.find({held.name, reentrant_owner});
    if (it != manager->reentrant.end() && it->second.lock().get() == this) manager->reentrant.erase(it);
  }

  void declare_lost(const char* why) {
    {
      std::lock_guard lock(mutex);
      if (released || was_lost) return;
      was_lost = true;
    }
    logs::warn("locks", "event=lock_lost lock={} backend={} fencing_token={} why=\"{}\"", held.name,
               manager->backend->kind(), held.fencing_token, why);
    LockManagerState::count(manager->lost, manager->lost_metric);
    forget_reentrant();
    lost->cancel();
    if (on_lost) on_lost(held.name);
  }
};

namespace {

/// Renews the lease every lease/3 (watchdog) or waits for it to run out (no watchdog); declares
/// the lock lost lease/10 before it could lapse unconfirmed. `confirmed_at`: when the request
/// that last set the lease was sent (the lease runs from no earlier than that).
Awaitable<void> keep_alive(std::shared_ptr<Holding> h, SteadyTime confirmed_at) {
  auto& m = *h->manager;
  const auto lease = h->lease;
  const auto margin = std::max<std::chrono::milliseconds>(lease / 10, 1ms);
  const auto period = std::max<std::chrono::milliseconds>(lease / 3, 1ms);
  const auto retry = std::max<std::chrono::milliseconds>(period / 3, 1ms);
  auto next_renewal = confirmed_at + period;
  for (;;) {
    const auto lapse_warning = confirmed_at + lease - margin;
    const auto wake = h->watchdog ? std::min(next_renewal, lapse_warning) : lapse_warning;
    const auto now = m.time.steady_now();
    bool slept_through = true;
    if (wake > now) {
      const auto nap = std::chrono::duration_cast<std::chrono::nanoseconds>(wake - now);
      slept_through = co_await m.sleeper.sleep_for(nap, h->stop.get());
    }
    if (!slept_through) co_return;  // stopped
    if (h->stop->cancelled()) co_return;
    const auto attempt_at = m.time.steady_now();
    if (attempt_at >= lapse_warning) {
      h->declare_lost(h->watchdog ? "renewals failed until the lease was about to lapse" : "lease ran out");
      co_return;
    }
    auto renewed = co_await m.backend->extend(h->held, lease);
    if (h->stop->cancelled()) co_return;  // released meanwhile
    if (renewed) {
      LockManagerState::count(m.renewals, nullptr);
      confirmed_at = attempt_at;
      next_renewal = attempt_at + period;
    } else if (renewed.error().code == ErrorCode::not_found) {
      h->declare_lost("the backend refused the renewal: no longer held");
      co_return;
    } else {
      LockManagerState::count(m.renewals_failed, m.renewals_failed_metric);
      logs::warn("locks", "event=lock_renewal_failed lock={} backend={} error=\"{}\"", h->held.name, m.backend->kind(),
                 renewed.error().message);
      next_renewal = m.time.steady_now() + retry;
    }
  }
}

/// Gives up one hold; the backend lock goes with the last.
Awaitable<Result<void>> release_holding(std::shared_ptr<Holding> h) {
  bool was_lost = false;
  {
    std::lock_guard lock(h->mutex);
    was_lost = h->was_lost;
    if (--h->holds > 0) {
      if (was_lost) co_return make_error(ErrorCode::not_found, "lock " + h->held.name + " was lost while held", "name");
      co_return Result<void>{};
    }
    h->released = true;
  }
  h->forget_reentrant();
  h->stop->cancel();
  auto& m = *h->manager;
  if (m.held_metric != nullptr) m.held_metric->add(-1);
  // Even a lost lock is released: when renewals failed, the backend may still hold it for a while.
  auto released = co_await m.backend->release(h->held);
  if (was_lost) co_return make_error(ErrorCode::not_found, "lock " + h->held.name + " was lost while held", "name");
  co_return released;
}

Awaitable<void> release_in_background(std::shared_ptr<Holding> h) { (void)co_await release_holding(std::move(h)); }

}  // namespace
}  // namespace detail

using detail::Holding;
using detail::LockManagerState;

Lock::Lock(std::shared_ptr<Holding> holding) : holding_(std::move(holding)) {}
Lock::Lock(Lock&& other) noexcept = default;
Lock& Lock::operator=(Lock&& other) noexcept {
  if (this != &other) {
    Lock old(std::move(*this));  // released in the background when still held
    holding_ = std::move(other.holding_);
  }
  return *this;
}
Lock::~Lock() {
  if (!holding_) return;
  auto executor = holding_->manager->executor;
  asio::co_spawn(executor, detail::release_in_background(std::move(holding_)), asio::detached);
}

const std::string& Lock::name() const {
  static const std::string kNone;
  return holding_ ? holding_->held.name : kNone;
}
LockMode Lock::mode() const { return holding_ ? holding_->held.mode : LockMode::exclusive; }
std::uint64_t Lock::fencing_token() const { return holding_ ? holding_->held.fencing_token : 0; }
bool Lock::held() const {
  if (!holding_) return false;
  std::lock_guard lock(holding_->mutex);
  return !holding_->released && !holding_->was_lost;
}
std::uint32_t Lock::hold_count() const {
  if (!holding_) return 0;
  std::lock_guard lock(holding_->mutex);
  return holding_->holds;
}
std::shared_ptr<CancelToken> Lock::lost() const { return holding_ ? holding_->lost : nullptr; }

Awaitable<Result<void>> Lock::release() {
  auto h = std::move(holding_);
  if (!h) co_return Result<void>{};
  co_return co_await detail::release_holding(std::move(h));
}

LockManager::LockManager(std::shared_ptr<LockBackend> backend, asio::any_io_executor executor, const TimeSource& time,
                         Sleeper& sleeper, Random& random, MetricsRegistry* metrics)
    : state_(std::make_shared<LockManagerState>(std::move(backend), std::move(executor), time, sleeper,
                                                random_hex_id(random).substr(0, 16))) {
  if (metrics == nullptr) return;
  const std::vector<std::string> labels{state_->backend->kind()};
  state_->acquired_metric =
      metrics->counter("svckit_lock_acquired_total", "Lock acquisitions that succeeded", {"backend"}).handle(labels);
  state_->contended_metric =
      metrics->counter("svckit_lock_contended_total", "Lock acquisitions that found the lock held", {"backend"})
          .handle(labels);
  state_->lost_metric =
      metrics->counter("svckit_lock_lost_total", "Held locks lost (lease expired or renewal refused)", {"backend"})
          .handle(labels);
  state_->renewals_failed_metric =
      metrics->counter("svckit_lock_renewals_failed_total", "Watchdog lease renewals that failed", {"backend"})
          .handle(labels);
  state_->wait_metric =
      metrics->histogram("svckit_lock_wait_seconds", "Time spent acquiring a lock", {"backend"}).handle(labels);
  state_->held_metric = metrics->gauge("svckit_lock_held", "Locks held by this process", {"backend"}).handle(labels);
}

LockManager::~LockManager() = default;

Awaitable<Result<Lock>> LockManager::acquire(std::string name, LockOptions options) {
  auto state = state_;
  if (auto valid = validate_lock_name(name); !valid) co_return valid.error();
  if (options.lease < 3ms) co_return make_error(ErrorCode::invalid_argument, "lease must be at least 3ms", "lease");
  if (options.wait < 0ms) co_return make_error(ErrorCode::invalid_argument, "wait must not be negative", "wait");

  if (!options.reentrant_owner.empty()) {
    std::shared_ptr<Holding> existing;
    {
      std::lock_guard lock(state->mutex);
      auto it = state->reentrant.find({name, options.reentrant_owner});
      if (it != state->reentrant.end()) existing = it->second.lock();
    }
    if (existing) {
      std::unique_lock lock(existing->mutex);
      if (!existing->released && !existing->was_lost) {
        if (existing->held.mode == LockMode::shared && options.mode == LockMode::exclusive) {
          co_return make_error(ErrorCode::invalid_argument,
                               "owner " + options.reentrant_owner + " holds " + name +
                                   " shared and cannot take it exclusive (an upgrade could deadlock)",
                               "mode");
        }
        ++existing->holds;
        lock.unlock();
        LockManagerState::count(state->acquired, state->acquired_metric);
        co_return Lock(std::move(existing));
      }
    }
  }

  AcquireRequest request;
  request.name = name;
  request.mode = options.mode;
  request.owner = state->manager_id + "-" + std::to_string(state->next_owner.fetch_add(1));
  request.lease = options.lease;
  const auto started = state->time.steady_now();
  request.wait_until = started + options.wait;
  request.cancel = options.cancel;
  auto held = co_await state->backend->acquire(std::move(request));
  const auto waited = state->time.steady_now() - started;
  if (state->wait_metric != nullptr) state->wait_metric->observe(std::chrono::duration<double>(waited).count());
  if (!held) {
    const auto code = held.error().code;
    if (code == ErrorCode::timeout || code == ErrorCode::limit_exceeded) {
      LockManagerState::count(state->contended, state->contended_metric);
    }
    co_return held.error();
  }
  if (held->contended) LockManagerState::count(state->contended, state->contended_metric);

  auto holding = std::make_shared<Holding>();
  holding->manager = state;
  holding->held = std::move(*held);
  holding->reentrant_owner = options.reentrant_owner;
  holding->lease = options.lease;
  holding->watchdog = options.watchdog;
  holding->on_lost = std::move(options.on_lost);
  if (!options.reentrant_owner.empty()) {
    std::lock_guard lock(state->mutex);
    state->reentrant[{name, options.reentrant_owner}] = holding;
  }
  LockManagerState::count(state->acquired, state->acquired_metric);
  if (state->held_metric != nullptr) state->held_metric->add(1);
  // The lease runs from no earlier than the moment the acquisition was sent.
  asio::co_spawn(state->executor, detail::keep_alive(holding, started), asio::detached);
  co_return Lock(std::move(holding));
}

Awaitable<Result<std::vector<Lock>>> LockManager::acquire_all(std::vector<std::string> names, LockOptions options) {
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::vector<Lock> taken;
  taken.reserve(names.size());
  for (auto& name : names) {
    auto lock = co_await acquire(name, options);
    if (!lock) {
      for (auto& l : taken) (void)co_await l.release();
      co_return lock.error();
    }
    taken.push_back(std::move(*lock));
  }
  co_return taken;
}

LockStats LockManager::stats() const {
  LockStats s;
  s.acquired = state_->acquired.load();
  s.contended = state_->contended.load();
  s.lost = state_->lost.load();
  s.renewals = state_->renewals.load();
  s.renewals_failed = state_->renewals_failed.load();
  return s;
}

const LockBackend& LockManager::backend() const { return *state_->backend; }

}  // namespace svckit::coord
