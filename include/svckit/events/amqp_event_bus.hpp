// AmqpEventBus: the EventBus on RabbitMQ (AMQP 0-9-1 through rabbitmq-c). One durable topic
// exchange per event namespace (the type's first segment: "orders.created" → exchange
// "svckit.orders", routing key "orders.created"); events are persistent and a publish returns once
// the broker confirmed it (publisher confirms: for a durable queue, after it is on disk). A group
// is a durable queue "svckit.group.<group>" bound with the pattern (`*` one word, `>` → `#`),
// x-max-priority 3 (high events overtake), x-max-length max_pending with reject-publish (a full
// group refuses publishes: limit_exceeded), and a dead-letter exchange. A listener is an exclusive
// server-named queue. Deliveries are acknowledged manually after the handler succeeded; a failed
// event is retried in place after its backoff and, after max_deliveries, published to the
// dead-letter exchange "svckit.dead" (routing key = group; queue "svckit.dead.<group>", bounded)
// with its error, then acknowledged. Unacknowledged deliveries of a member that died go back to
// the group when its connection closes.
//
// The publisher has its own connection and thread; each subscription has one consumer connection
// and thread; handlers run as coroutines on the subscription's executor. A lost connection is
// re-opened with backoff (50 ms doubling to 5 s) and the topology declared again; while it is down,
// publishes wait in a bounded buffer (`max_buffered`; beyond: limit_exceeded) and each fails with
// unavailable unless confirmed within `publish_timeout` — never a silent drop. A delivery whose
// handler finishes after its connection was lost is not acknowledged (the broker redelivers it).
//
// Limits of this backend: a pattern's first segment must be literal (it names the exchange); the
// delivery count restarts when an event moves to another connection (the broker's redelivered flag
// counts as one more); a group's queue keeps the bindings of every pattern its members used.
#pragma once

#include <mutex>

#include "svckit/amqp/amqp_server.hpp"
#include "svckit/events/event_bus.hpp"

namespace svckit::events {

/// The broker (host, port, user, password, vhost, connect_timeout: amqp/amqp_server.hpp) and
/// the bus's own settings.
struct AmqpEventBusOptions : amqp::AmqpServerOptions {
  std::string prefix = "svckit";        // exchanges <prefix>.<namespace>, <prefix>.dead; queues <prefix>.group.<g>
  std::size_t max_pending = 1'000'000;  // per group queue; more: publish → limit_exceeded
  std::size_t max_dead_letters = 10'000;
  std::chrono::milliseconds publish_timeout{5'000};
  std::size_t max_buffered = 10'000;  // publishes waiting for a connection or a confirm
  std::uint16_t prefetch = 256;       // deliveries a member holds unacknowledged

  /// amqp://host[:port][/vhost] with ?user=, ?password_env=NAME or ?password_file=PATH (secrets
  /// never sit in the URL), ?prefix=, ?prefetch=, ?timeout= (publish). Errors name the option
  /// (`url` for the URL itself).
  static Result<AmqpEventBusOptions> from_url(std::string_view url);
};

/// Thread-safe. Close and destroy subscriptions before the bus, the bus before the io_contexts its
/// subscriptions run on.
class AmqpEventBus final : public EventBus {
 public:
  /// Connects the publisher and declares the dead-letter exchange; unavailable when the broker
  /// does not answer.
  static Result<std::unique_ptr<AmqpEventBus>> connect(const TimeSource& time, Random& random, Sleeper& sleeper,
                                                       AmqpEventBusOptions options = {});
  ~AmqpEventBus() override;

  Awaitable<Result<std::string>> publish(Event event) override;
  /// Declares the queue and its binding before returning (ready() at once); refuses a pattern
  /// whose first segment is not literal (field `pattern`).
  Result<std::unique_ptr<Subscription>> subscribe(boost::asio::any_io_executor executor, SubscribeOptions options,
                                                  EventHandler handler) override;
  Awaitable<Result<std::vector<DeadLetter>>> dead_letters(std::string group, std::size_t limit) override;

  /// Times the publisher's connection was re-opened (for tests and metrics).
  std::uint64_t reconnects() const;

  struct Publisher;  // the publishing thread; public for the .cpp

 private:
  AmqpEventBus(const TimeSource& time, Random& random, Sleeper& sleeper, AmqpEventBusOptions options,
               std::unique_ptr<Publisher> publisher);
  const TimeSource& time_;
  Random& random_;
  Sleeper& sleeper_;
  std::mutex mutex_;  // guards random_
  AmqpEventBusOptions options_;
  std::unique_ptr<Publisher> publisher_;
};

}  // namespace svckit::events
