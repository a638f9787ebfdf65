// NatsEventBus: the EventBus on NATS JetStream (through cnats). Every event goes to the subject
// <prefix>.ev.<type> of one stream (interest retention: an event is kept until every consumer
// whose filter matches it has acknowledged it; file storage). A publish is an asynchronous
// JetStream publish with the event id as Nats-Msg-Id (the broker drops a re-published id within
// `duplicate_window`); it returns once the broker's PubAck arrived. Patterns are NATS subject
// filters as they are (`orders.*`, `*.created`, `orders.>`).
//
// A group is a durable push consumer (name = group, deliver group = group: the members share it),
// created at the stream's end on first subscribe, acknowledged explicitly after the handler
// succeeded. A failed event is negatively acknowledged with the backoff as its delay (the broker
// redelivers it and counts deliveries); after max_deliveries it is published to
// <prefix>.dead.<group> (a second stream, bounded per group) and terminated. A member that dies
// leaves its unacknowledged events to the group after `ack_wait`. A listener is an ephemeral
// consumer from the stream's end.
//
// Reconnection is cnats's: with backoff (50 ms doubling to 5 s, forever); subscriptions are
// resumed and the streams declared again. While disconnected, publishes are buffered by cnats up
// to `reconnect_buffer_bytes` (beyond: limit_exceeded) and each reports unavailable unless its
// PubAck comes within `publish_timeout` — never a silent drop (a timed-out publish may still be
// stored: republish with the same id and the broker de-duplicates it).
//
// Limits of this backend: priority does not reorder (a stream keeps publish order); a group's
// consumer keeps the pattern it was created with (another pattern for the same group: refused,
// field `pattern`); consumers live in the broker's store (a broker restarted without its store
// loses them: subscribe again).
#pragma once

#include "svckit/events/event_bus.hpp"

namespace svckit::events {

struct NatsEventBusOptions {
  std::vector<std::string> servers{"nats://127.0.0.1:4222"};
  std::string prefix = "svckit";          // subjects <prefix>.ev.<type>, <prefix>.dead.<group>
  std::string stream = "SVCKIT_EVENTS";   // dead letters: stream + "_DEAD"
  std::size_t max_pending = 1'000'000;    // events in the stream; more: publish → limit_exceeded
  std::size_t max_dead_letters = 10'000;  // per group / listener pattern; the oldest go first
  std::chrono::milliseconds publish_timeout{5'000};
  std::chrono::milliseconds duplicate_window{120'000};
  /// A delivered event not acknowledged within this goes to another member (the holder is presumed
  /// dead); handlers running longer keep theirs by telling the broker every ack_wait / 3.
  std::chrono::milliseconds ack_wait{30'000};
  int max_ack_pending = 1'000;  // per group: delivered and not yet acknowledged
  int reconnect_buffer_bytes = 8 * 1024 * 1024;
  std::chrono::milliseconds connect_timeout{2'000};
};

/// Thread-safe. Destroy subscriptions (after close()) before the bus, the bus before the
/// io_contexts its subscriptions run on.
class NatsEventBus final : public EventBus {
 public:
  /// Connects and declares the streams; unavailable when no server answers.
  static Result<std::unique_ptr<NatsEventBus>> connect(const TimeSource& time, Random& random, Sleeper& sleeper,
                                                       NatsEventBusOptions options = {});
  ~NatsEventBus() override;

  Awaitable<Result<std::string>> publish(Event event) override;
  /// Fire and forget: a core NATS publish, handed to cnats's buffer without waiting for the
  /// broker. The stream still stores it when it arrives (subscribers get it as usual), but nothing
  /// confirms that it did: lost if the connection drops before it is written out. For telemetry-
  /// like events where publish latency matters more than delivery. Errors: validation (naming the
  /// field), limit_exceeded when cnats's buffer is full, unavailable when the connection is closed.
  Result<std::string> publish_unconfirmed(Event event);
  /// Declares the consumer and subscribes before returning (one round trip each; ready() at once).
  Result<std::unique_ptr<Subscription>> subscribe(boost::asio::any_io_executor executor, SubscribeOptions options,
                                                  EventHandler handler) override;
  Awaitable<Result<std::vector<DeadLetter>>> dead_letters(std::string group, std::size_t limit) override;

  /// Times the connection was re-established (for tests and metrics).
  std::uint64_t reconnects() const;

  struct Context;  // the connection and what subscriptions share; public for the .cpp's callbacks

 private:
  explicit NatsEventBus(std::shared_ptr<Context> context);
  std::shared_ptr<Context> context_;
};

}  // namespace svckit::events
