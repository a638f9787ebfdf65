// EventBus: publish/subscribe between services, at least once. Backends: MemoryEventBus (one
// process: tests and single-process apps; below); brokers (Redis Streams, RabbitMQ, NATS
// JetStream) implement the same interface.
//
//   auto id = co_await publish_event(bus, "orders.created", {{"order", 42}}, /*target=*/"", Priority::high);
//   SubscribeOptions o;
//   o.pattern = "orders.*";
//   o.group = "billing";  // load-shared among the group's members; empty: every subscriber gets each
//   auto sub = bus.subscribe(o, [](const Event& e) -> Awaitable<Result<void>> { ... });
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <functional>
#include <memory>
#include <vector>

#include "svckit/core/random.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/events/event.hpp"
#include "svckit/resilience/backoff.hpp"

namespace svckit::events {

template <class T>
using Awaitable = boost::asio::awaitable<T>;

struct SubscribeOptions {
  std::string pattern;  // see pattern_matches()
  /// Non-empty: a consumer group — each event goes to one member (load-shared), and the group's
  /// events wait for a member when none is subscribed (durable). Empty: a broadcast listener, which
  /// gets every matching event published while it is subscribed.
  std::string group;
  /// The subscribing service: events targeted at another service are not delivered ("" = all).
  std::string service;
  int max_deliveries = 5;  // a handler error retries (backoff); after this many deliveries: dead letter
  BackoffPolicy retry_backoff{BackoffKind::full_jitter, std::chrono::milliseconds(100),
                              std::chrono::milliseconds(10'000), 2.0};
  /// > 0: events whose id was delivered within this window are skipped (publishers may retry).
  std::chrono::milliseconds dedupe_window{0};
  std::size_t concurrency = 1;  // handlers running at once for this subscription
};
Result<void> validate(const SubscribeOptions& options);

/// A handler's error retries the event (after retry_backoff) until max_deliveries; then the event
/// goes to the dead letters of its group (or listener). invalid_argument dead-letters it at once.
using EventHandler = std::function<Awaitable<Result<void>>(const Event&)>;

struct SubscriptionStats {
  std::uint64_t delivered = 0, handled = 0, retried = 0, dead_lettered = 0, duplicates = 0;
};

class Subscription {
 public:
  virtual ~Subscription() = default;
  /// Stops delivering; waits for running handlers. Events not yet handled stay with the group.
  virtual Awaitable<void> close() = 0;
  virtual SubscriptionStats stats() const = 0;
  /// True once events published from now on reach it (a broker: the group is declared, the
  /// listener knows where the stream ends). Memory: at once.
  virtual bool ready() const = 0;
};

struct DeadLetter {
  Event event;
  std::string error;  // the last handler error
  int deliveries = 0;
};

/// Thread-safe.
class EventBus {
 public:
  virtual ~EventBus() = default;
  /// Validates, fills id (when empty) and time, and returns the id once the event is stored (a
  /// broker: confirmed). Errors name the field; limit_exceeded when a bounded buffer is full —
  /// never a silent drop.
  virtual Awaitable<Result<std::string>> publish(Event event) = 0;
  /// Starts delivering to `handler` on `executor`. Errors name the option.
  virtual Result<std::unique_ptr<Subscription>> subscribe(boost::asio::any_io_executor executor,
                                                          SubscribeOptions options, EventHandler handler) = 0;
  /// The dead letters of a group (or of listeners on `pattern` when group is empty), oldest first.
  virtual Awaitable<Result<std::vector<DeadLetter>>> dead_letters(std::string group, std::size_t limit) = 0;
};

/// publish_event(event_type, data, target_service, priority): the shape of Python service SDKs.
Awaitable<Result<std::string>> publish_event(EventBus& bus, std::string type, nlohmann::json data,
                                             std::string target = {}, Priority priority = Priority::medium);

struct MemoryEventBusOptions {
  std::size_t max_pending = 100'000;      // per group / listener; more: publish → limit_exceeded
  std::size_t max_dead_letters = 10'000;  // per group / listener; the oldest go first
};

/// In one process. Each group and each listener has a queue (high before medium before low,
/// FIFO within a level); its members' delivery loops take from it. Thread-safe. Destroy the bus
/// before the io_contexts its subscriptions run on (parked loops hold timers of those contexts).
class MemoryEventBus final : public EventBus {
 public:
  MemoryEventBus(const TimeSource& time, Random& random, Sleeper& sleeper, MemoryEventBusOptions options = {});
  ~MemoryEventBus() override;

  Awaitable<Result<std::string>> publish(Event event) override;
  Result<std::unique_ptr<Subscription>> subscribe(boost::asio::any_io_executor executor, SubscribeOptions options,
                                                  EventHandler handler) override;
  Awaitable<Result<std::vector<DeadLetter>>> dead_letters(std::string group, std::size_t limit) override;

  struct Channel;  // a group's or listener's queue; public for the delivery loops in the .cpp
  struct State;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace svckit::events
