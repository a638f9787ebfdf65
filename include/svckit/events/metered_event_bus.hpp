// MeteredEventBus: any EventBus (memory, Redis Streams, RabbitMQ, NATS JetStream) with Prometheus
// series, as a decorator — the bus and its subscribers are unchanged:
//
//   svckit_events_published_total{type, result}        publishes (result: ok, error)
//   svckit_events_handled_total{group, pattern, result} handler runs (result: ok, error)
//   svckit_events_handler_seconds{group}                handler run time (histogram)
//   svckit_events_lag_seconds{group}                    publish → handler start (histogram; across
//                                                       processes it includes their clock skew)
//   svckit_events_delivered_total, _retried_total, _dead_lettered_total, _duplicates_total
//                                {group, pattern}       the subscriptions' own counts (SubscriptionStats)
//
// `group` is the consumer group ("" for a broadcast listener).
//
// With a tracer, a publish is a producer span ("publish <type>", a child of the event's
// `traceparent` when it has one) whose context the event carries on, and each handler run a
// consumer span ("process <type>") that is its child — so a trace follows an order from the
// gateway into its events' consumers. Attributes follow OpenTelemetry's messaging conventions
// (messaging.system "svckit", messaging.operation.type, messaging.destination.name = the type,
// messaging.message.id, messaging.consumer.group.name); a failed handler marks its span an error.
//
//   RedisEventBus redis(...);
//   MeteredEventBus bus(redis, metrics, time);  // publish and subscribe through `bus`
//
// Thread-safe as the inner bus is.
#pragma once

#include "svckit/core/metrics.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/events/event_bus.hpp"
#include "svckit/trace/tracer.hpp"

namespace svckit::events {

class MeteredEventBus final : public EventBus {
 public:
  /// `inner`, `metrics`, `time` and `tracer` (may be null: no spans) must outlive the bus and every
  /// subscription made through it.
  MeteredEventBus(EventBus& inner, MetricsRegistry& metrics, const TimeSource& time,
                  const trace::Tracer* tracer = nullptr);

  Awaitable<Result<std::string>> publish(Event event) override;
  Result<std::unique_ptr<Subscription>> subscribe(boost::asio::any_io_executor executor, SubscribeOptions options,
                                                  EventHandler handler) override;
  Awaitable<Result<std::vector<DeadLetter>>> dead_letters(std::string group, std::size_t limit) override;

 private:
  EventBus& inner_;
  MetricsRegistry& metrics_;
  const TimeSource& time_;
  const trace::Tracer* tracer_;
  Family<Counter>& published_;
  Family<Counter>& handled_;
  Family<Histogram>& handler_seconds_;
  Family<Histogram>& lag_seconds_;
};

}  // namespace svckit::events
