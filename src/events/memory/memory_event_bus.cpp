#include <utility>  // before Asio 1.74 awaitable.hpp

#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstdio>
#include <deque>
#include <list>
#include <map>
#include <mutex>
#include <optional>

#include "svckit/core/log.hpp"
#include "svckit/core/service_instance.hpp"
#include "svckit/core/wait_list.hpp"
#include "svckit/events/delivery_policy.hpp"
#include "svckit/events/event_bus.hpp"

namespace svckit::events {

namespace asio = boost::asio;

Result<void> validate(const SubscribeOptions& o) {
  if (auto r = validate_pattern(o.pattern); !r) return r;
  if (!o.group.empty()) {
    if (auto r = validate_service_name(o.group, "group"); !r) return r;
  }
  if (!o.service.empty()) {
    if (auto r = validate_service_name(o.service, "service"); !r) return r;
  }
  if (o.max_deliveries < 1 || o.max_deliveries > 1000) {
    return make_error(ErrorCode::invalid_argument, "max_deliveries must be in 1..1000", "max_deliveries");
  }
  if (o.dedupe_window.count() < 0) {
    return make_error(ErrorCode::invalid_argument, "dedupe_window must not be negative", "dedupe_window");
  }
  if (o.concurrency == 0 || o.concurrency > 1024) {
    return make_error(ErrorCode::invalid_argument, "concurrency must be in 1..1024", "concurrency");
  }
  return validate(o.retry_backoff);
}

Awaitable<Result<std::string>> publish_event(EventBus& bus, std::string type, nlohmann::json data, std::string target,
                                             Priority priority) {
  Event event;
  event.type = std::move(type);
  event.data = std::move(data);
  event.target = std::move(target);
  event.priority = priority;
  co_return co_await bus.publish(std::move(event));
}

struct Pending {
  Event event;
  int deliveries = 0;  // deliveries so far (a retry is queued again with its count)
};

/// A group's (or one listener's) queue. Everything guarded by State::mutex.
struct MemoryEventBus::Channel {
  std::string group;                          // "" for a listener
  std::string pattern;                        // what it receives
  std::string service;                        // "" = any target
  std::array<std::deque<Pending>, 3> levels;  // high, medium, low
  std::size_t size = 0;
  WaitList waiters;  // delivery loops waiting for an event
  std::size_t members = 0;
  std::deque<DeadLetter> dead;
  std::shared_ptr<SharedDedupeWindow> dedupe;  // shared by the members (null: none)

  void push(Pending p) {
    levels[static_cast<std::size_t>(p.event.priority)].push_back(std::move(p));
    ++size;
    waiters.notify_one();  // a loop that was woken but gone passes the wake-up on
  }
  std::optional<Pending> pop() {
    for (auto& level : levels) {
      if (!level.empty()) {
        auto p = std::move(level.front());
        level.pop_front();
        --size;
        return p;
      }
    }
    return std::nullopt;
  }
  bool wants(const Event& e) const {
    return pattern_matches(pattern, e.type) && (e.target.empty() || service.empty() || e.target == service);
  }
};

struct MemoryEventBus::State {
  State(const TimeSource& t, Random& r, Sleeper& s, MemoryEventBusOptions o)
      : time(t), random(r), sleeper(s), options(o) {}
  const TimeSource& time;
  Random& random;
  Sleeper& sleeper;
  MemoryEventBusOptions options;
  std::mutex mutex;
  std::map<std::string, std::shared_ptr<Channel>> groups;  // guarded by mutex
  std::list<std::shared_ptr<Channel>> listeners;           // guarded by mutex
  std::deque<DeadLetter> listener_dead;                    // guarded by mutex
};

namespace {

class MemorySubscription final : public Subscription {
  struct Shared;  // the loops' state, shared with them (below)

 public:
  /// `dedupe`: the channel's window, taken under the bus's lock (null: none).
  MemorySubscription(std::shared_ptr<MemoryEventBus::State> state, std::shared_ptr<MemoryEventBus::Channel> channel,
                     std::shared_ptr<SharedDedupeWindow> dedupe, SubscribeOptions options, EventHandler handler)
      : shared_(std::make_shared<Shared>(std::move(state), std::move(channel), std::move(dedupe), std::move(options),
                                         std::move(handler))) {}
  /// Without close(): stops the loops (they end at their next look, within a second) and leaves.
  ~MemorySubscription() override { leave(*shared_); }

  void start(const asio::any_io_executor& executor) {
    shared_->loops = shared_->policy.options().concurrency;
    for (std::size_t i = 0; i < shared_->policy.options().concurrency; ++i) {
      asio::co_spawn(asio::make_strand(executor), deliver(shared_), asio::detached);
    }
  }

  Awaitable<void> close() override {
    leave(*shared_);
    for (;;) {
      std::optional<WaitList::Ticket> ended;
      {
        std::lock_guard lock(shared_->state->mutex);
        if (shared_->loops == 0) co_return;
        ended.emplace(shared_->ended.park());  // under the lock: the last loop's close() is not missed
      }
      if (co_await ended->wait_for(std::chrono::hours(1), shared_->state->sleeper)) co_return;
    }
  }

  bool ready() const override { return true; }

  SubscriptionStats stats() const override { return shared_->policy.stats(); }

 private:
  struct Shared {
    Shared(std::shared_ptr<MemoryEventBus::State> st, std::shared_ptr<MemoryEventBus::Channel> ch,
           std::shared_ptr<SharedDedupeWindow> dedupe, SubscribeOptions options, EventHandler h)
        : state(std::move(st)),
          channel(std::move(ch)),
          policy(state->time, state->random.next_u64(), std::move(options), std::move(dedupe)),
          handler(std::move(h)) {}
    std::shared_ptr<MemoryEventBus::State> state;
    std::shared_ptr<MemoryEventBus::Channel> channel;
    DeliveryPolicy policy;  // the group's dedupe window is the channel's
    EventHandler handler;
    std::atomic<bool> stopping{false};
    std::size_t loops = 0;  // guarded by state->mutex
    WaitList ended;         // close() waits here; closed when the last loop ends
  };

  /// Once: no more deliveries; the group keeps its queue, a listener's goes.
  static void leave(Shared& s) {
    std::lock_guard lock(s.state->mutex);
    if (s.stopping.exchange(true)) return;
    --s.channel->members;
    if (s.channel->group.empty()) s.state->listeners.remove(s.channel);
    s.channel->waiters.notify_all();  // this subscription's loops stop; the group's others park again
  }

  /// Puts a failed event back after its backoff (the loop goes on meanwhile).
  static Awaitable<void> requeue_later(std::shared_ptr<Shared> s, Pending p, std::chrono::nanoseconds delay) {
    co_await s->state->sleeper.sleep_for(delay);
    std::lock_guard lock(s->state->mutex);
    s->channel->push(std::move(p));
  }

  static void dead_letter(Shared& s, Pending p, std::string error) {
    auto& dead = s.channel->group.empty() ? s.state->listener_dead : s.channel->dead;
    dead.push_back({std::move(p.event), std::move(error), p.deliveries});
    while (dead.size() > s.state->options.max_dead_letters) dead.pop_front();
  }

  static Awaitable<void> deliver(std::shared_ptr<Shared> s) {
    const auto executor = co_await asio::this_coro::executor;
    while (!s->stopping) {
      std::optional<Pending> next;
      std::optional<WaitList::Ticket> parked;
      {
        std::lock_guard lock(s->state->mutex);
        next = s->channel->pop();
        if (!next) parked.emplace(s->channel->waiters.park());  // under the lock: no push is missed
      }
      if (parked) {
        // Woken by a push or by leave(); the timeout only bounds a wait nothing ends.
        (void)co_await parked->wait_for(std::chrono::minutes(1), s->state->sleeper);
        continue;
      }
      if (s->policy.screen(next->event, next->deliveries + 1) != DeliveryPolicy::Screen::deliver) continue;
      auto handled = co_await s->handler(next->event);
      ++next->deliveries;
      const auto verdict = s->policy.after(handled, next->deliveries);
      if (verdict.kind == DeliveryPolicy::Verdict::Kind::dead_letter) {
        logs::warn("events", "event=event_dead_lettered type={} id={} group={} deliveries={} error=\"{}\"",
                   next->event.type, next->event.id, s->channel->group, next->deliveries, verdict.reason);
        {
          std::lock_guard lock(s->state->mutex);
          dead_letter(*s, std::move(*next), verdict.reason);
        }
        s->policy.dead_lettered();  // after the store: a reader who sees the count finds the letter
      } else if (verdict.kind == DeliveryPolicy::Verdict::Kind::retry) {
        asio::co_spawn(executor, requeue_later(s, std::move(*next), verdict.delay), asio::detached);
      }
    }
    std::lock_guard lock(s->state->mutex);
    if (--s->loops == 0) s->ended.close();
  }

  std::shared_ptr<Shared> shared_;
};

}  // namespace

MemoryEventBus::MemoryEventBus(const TimeSource& time, Random& random, Sleeper& sleeper, MemoryEventBusOptions options)
    : state_(std::make_shared<State>(time, random, sleeper, options)) {}

MemoryEventBus::~MemoryEventBus() = default;

Awaitable<Result<std::string>> MemoryEventBus::publish(Event event) {
  if (auto v = validate(event); !v) co_return v.error();
  if (event.id.empty()) event.id = random_hex_id(state_->random);
  if (event.time == SystemTime{}) event.time = state_->time.system_now();
  std::lock_guard lock(state_->mutex);
  std::vector<Channel*> to;
  for (auto& [name, group] : state_->groups) {
    if (group->wants(event)) to.push_back(group.get());
  }
  for (auto& listener : state_->listeners) {
    if (listener->wants(event)) to.push_back(listener.get());
  }
  for (const auto* channel : to) {  // all or nothing: no subscriber gets it if one cannot
    if (channel->size >= state_->options.max_pending) {
      co_return make_error(
          ErrorCode::limit_exceeded,
          "the queue of " +
              (channel->group.empty() ? "a listener on '" + channel->pattern + "'" : "group '" + channel->group + "'") +
              " holds " + std::to_string(channel->size) + " events (max_pending)",
          "max_pending");
    }
  }
  for (auto* channel : to) channel->push(Pending{event, 0});
  co_return event.id;
}

Result<std::unique_ptr<Subscription>> MemoryEventBus::subscribe(asio::any_io_executor executor,
                                                                SubscribeOptions options, EventHandler handler) {
  if (auto v = validate(options); !v) return v.error();
  std::shared_ptr<Channel> channel;
  std::shared_ptr<SharedDedupeWindow> dedupe;
  {
    std::lock_guard lock(state_->mutex);
    if (options.group.empty()) {
      channel = std::make_shared<Channel>();
      state_->listeners.push_back(channel);
    } else {
      auto& group = state_->groups[options.group];
      if (!group) {
        group = std::make_shared<Channel>();
        group->group = options.group;
      } else if (group->pattern != options.pattern || group->service != options.service) {
        return make_error(ErrorCode::invalid_argument,
                          "group '" + options.group + "' subscribes to '" + group->pattern + "' for service '" +
                              group->service + "': its members must too",
                          "pattern");
      }
      channel = group;
    }
    channel->pattern = options.pattern;
    channel->service = options.service;
    if (options.dedupe_window.count() > 0 && !channel->dedupe) {
      channel->dedupe = std::make_shared<SharedDedupeWindow>(state_->time, options.dedupe_window);
    }
    dedupe = channel->dedupe;
    ++channel->members;
  }
  auto subscription =
      std::make_unique<MemorySubscription>(state_, channel, std::move(dedupe), std::move(options), std::move(handler));
  subscription->start(executor);
  return std::unique_ptr<Subscription>(std::move(subscription));
}

Awaitable<Result<std::vector<DeadLetter>>> MemoryEventBus::dead_letters(std::string group, std::size_t limit) {
  std::lock_guard lock(state_->mutex);
  const std::deque<DeadLetter>* dead = &state_->listener_dead;
  if (!group.empty()) {
    auto it = state_->groups.find(group);
    if (it == state_->groups.end()) co_return make_error(ErrorCode::not_found, "no group '" + group + "'", "group");
    dead = &it->second->dead;
  }
  std::vector<DeadLetter> out(dead->begin(),
                              dead->begin() + static_cast<std::ptrdiff_t>(std::min(limit, dead->size())));
  co_return out;
}

}  // namespace svckit::events
