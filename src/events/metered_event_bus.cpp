#include "svckit/events/metered_event_bus.hpp"

#include <optional>

namespace svckit::events {

namespace {

/// Lag buckets: 1 ms .. 5 min (a consumer that was down catches up with minutes-old events).
std::vector<double> lag_buckets() { return {0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300}; }

class MeteredSubscription final : public Subscription {
 public:
  MeteredSubscription(std::unique_ptr<Subscription> inner, MetricsRegistry& metrics, const SubscribeOptions& options)
      : inner_(std::move(inner)) {
    const std::vector<std::string> labels{options.group, options.pattern};
    const std::vector<std::string> names{"group", "pattern"};
    auto counter = [&](const char* name, const char* help) {
      return metrics.counter(name, help, names).handle(labels);
    };
    auto delivered = counter("svckit_events_delivered_total", "Deliveries to a subscription (redeliveries too).");
    auto retried = counter("svckit_events_retried_total", "Deliveries whose handler failed and that will be retried.");
    auto dead = counter("svckit_events_dead_lettered_total", "Events moved to the dead letters.");
    auto duplicates = counter("svckit_events_duplicates_total", "First deliveries skipped as duplicates.");
    auto* sub = inner_.get();
    collector_ = metrics.add_collector([=, last = SubscriptionStats{}]() mutable {
      const auto now = sub->stats();
      advance_counter(*delivered, now.delivered, last.delivered);
      advance_counter(*retried, now.retried, last.retried);
      advance_counter(*dead, now.dead_lettered, last.dead_lettered);
      advance_counter(*duplicates, now.duplicates, last.duplicates);
    });
  }
  ~MeteredSubscription() override { collector_.reset(); }  // before inner_ goes

  Awaitable<void> close() override { return inner_->close(); }
  SubscriptionStats stats() const override { return inner_->stats(); }
  bool ready() const override { return inner_->ready(); }

 private:
  std::unique_ptr<Subscription> inner_;
  CollectorHandle collector_;
};

}  // namespace

MeteredEventBus::MeteredEventBus(EventBus& inner, MetricsRegistry& metrics, const TimeSource& time,
                                 const trace::Tracer* tracer)
    : inner_(inner),
      metrics_(metrics),
      time_(time),
      tracer_(tracer),
      published_(metrics.counter("svckit_events_published_total", "Events published, by type and result.",
                                 {"type", "result"})),
      handled_(metrics.counter("svckit_events_handled_total", "Handler runs, by subscription and result.",
                               {"group", "pattern", "result"})),
      handler_seconds_(metrics.histogram("svckit_events_handler_seconds", "Handler run time.", {"group"})),
      lag_seconds_(metrics.histogram("svckit_events_lag_seconds", "Time from publish to the handler's start.",
                                     {"group"}, lag_buckets())) {}

Awaitable<Result<std::string>> MeteredEventBus::publish(Event event) {
  std::string type = event.type;
  trace::Span span;
  if (tracer_ != nullptr) {
    span = tracer_->start_span("publish " + type, trace::SpanKind::producer,
                               trace::parse_trace_context(event.traceparent, event.tracestate));
    event.traceparent = span.context().traceparent();  // the consumers' parent
    event.tracestate = span.context().tracestate;
    span.set_attribute("messaging.system", "svckit");
    span.set_attribute("messaging.operation.type", "publish");
    span.set_attribute("messaging.destination.name", type);
  }
  auto published = co_await inner_.publish(std::move(event));
  published_.with({type, published ? "ok" : "error"}).inc();
  if (published) {
    span.set_attribute("messaging.message.id", *published);
  } else {
    span.set_attribute("error.type", std::string(to_string(published.error().code)));
    span.set_status(trace::StatusCode::error, published.error().message);
  }
  span.end();
  co_return published;
}

Result<std::unique_ptr<Subscription>> MeteredEventBus::subscribe(boost::asio::any_io_executor executor,
                                                                 SubscribeOptions options, EventHandler handler) {
  auto ok = handled_.handle({options.group, options.pattern, "ok"});
  auto failed = handled_.handle({options.group, options.pattern, "error"});
  auto run_time = handler_seconds_.handle({options.group});
  auto lag = lag_seconds_.handle({options.group});
  const TimeSource* time = &time_;
  const trace::Tracer* tracer = tracer_;
  const std::string group = options.group;
  EventHandler metered = [=, handler = std::move(handler)](const Event& event) -> Awaitable<Result<void>> {
    const auto waited = time->system_now() - event.time;
    lag->observe(std::max(0.0, std::chrono::duration<double>(waited).count()));
    trace::Span span;
    std::optional<Event> traced;  // the event as the handler sees it: its span is the handler's parent
    if (tracer != nullptr) {
      span = tracer->start_span("process " + event.type, trace::SpanKind::consumer,
                                trace::parse_trace_context(event.traceparent, event.tracestate));
      if (span.context().sampled) {
        traced.emplace(event);
        traced->traceparent = span.context().traceparent();
      }
      span.set_attribute("messaging.system", "svckit");
      span.set_attribute("messaging.operation.type", "process");
      span.set_attribute("messaging.destination.name", event.type);
      span.set_attribute("messaging.message.id", event.id);
      if (!group.empty()) span.set_attribute("messaging.consumer.group.name", group);
    }
    const auto started = time->steady_now();
    const Event& seen = traced ? *traced : event;
    auto result = co_await handler(seen);
    run_time->observe(std::chrono::duration<double>(time->steady_now() - started).count());
    (result ? ok : failed)->inc();
    if (!result) {
      span.set_attribute("error.type", std::string(to_string(result.error().code)));
      span.set_status(trace::StatusCode::error, result.error().message);
    }
    span.end();
    co_return result;
  };
  auto inner = inner_.subscribe(std::move(executor), options, std::move(metered));
  if (!inner) return inner.error();
  return std::unique_ptr<Subscription>(std::make_unique<MeteredSubscription>(std::move(*inner), metrics_, options));
}

Awaitable<Result<std::vector<DeadLetter>>> MeteredEventBus::dead_letters(std::string group, std::size_t limit) {
  return inner_.dead_letters(std::move(group), limit);
}

}  // namespace svckit::events
