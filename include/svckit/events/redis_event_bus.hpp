// RedisEventBus: the EventBus on Redis Streams. One stream per event namespace (the type's first
// segment: "orders.created" → {svckit-events}:s:orders); a publish is an XADD (its reply is the
// broker's confirmation; with AOF `appendfsync always` it is on disk). Consumer groups are Redis
// consumer groups: XREADGROUP, XACK after the handler succeeded; a failed event stays pending and is
// retried by its consumer after a backoff (XCLAIM to itself, counting deliveries) and dead-lettered
// after max_deliveries into the stream {svckit-events}:dead:<group>; entries of a consumer that
// died are taken over by the group's other members after `claim_idle` (XAUTOCLAIM). Listeners read
// with XREAD from the stream's end at subscribe time. A group missing after a Redis restart without
// its data is created again (topology re-declared); failed reads back off and retry.
//
// Limits of this backend: a pattern's first segment must be literal (it names the stream);
// priority orders each read batch only (a stream keeps publish order); entries are trimmed once
// every group has acknowledged them (listeners that lag behind that point miss them).
#pragma once

#include "svckit/events/event_bus.hpp"
#include "svckit/redis/redis_client.hpp"

namespace svckit::events {

struct RedisEventBusOptions {
  std::string prefix = "{svckit-events}";
  /// Entries per stream. A full stream refuses a publish (limit_exceeded) while a group holds
  /// entries in it; a stream no group reads drops its older half (listeners read as they go).
  std::size_t max_pending = 100'000;
  std::size_t max_dead_letters = 10'000;
  /// A consumer's pending entry idle this long is taken over by another member (the consumer is
  /// presumed dead). Handlers running longer keep theirs by touching them every claim_idle / 3.
  std::chrono::milliseconds claim_idle{30'000};
  std::size_t batch = 32;  // entries per read
};

/// Thread-safe. The client must outlive the bus, the bus its subscriptions.
class RedisEventBus final : public EventBus {
 public:
  RedisEventBus(redis::RedisClient& client, const TimeSource& time, Random& random, Sleeper& sleeper,
                RedisEventBusOptions options = {});

  Awaitable<Result<std::string>> publish(Event event) override;
  Result<std::unique_ptr<Subscription>> subscribe(boost::asio::any_io_executor executor, SubscribeOptions options,
                                                  EventHandler handler) override;
  Awaitable<Result<std::vector<DeadLetter>>> dead_letters(std::string group, std::size_t limit) override;

  /// The stream an event type goes to.
  std::string stream_of(std::string_view type) const;

  struct Context;  // what subscriptions share with the bus; public for the .cpp's loops

 private:
  std::shared_ptr<Context> context_;
};

}  // namespace svckit::events
