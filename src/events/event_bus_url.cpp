#include "svckit/events/event_bus_url.hpp"

#include "svckit/events/amqp_event_bus.hpp"
#include "svckit/events/nats_event_bus.hpp"
#include "svckit/events/redis_event_bus.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::events {

namespace {

/// A RedisEventBus with the client it runs on (the bus needs the client to outlive it).
class RedisEventBusWithClient final : public EventBus {
 public:
  RedisEventBusWithClient(std::unique_ptr<redis::RedisClient> client, const TimeSource& time, Random& random,
                          Sleeper& sleeper, RedisEventBusOptions options)
      : client_(std::move(client)), bus_(*client_, time, random, sleeper, std::move(options)) {}

  Awaitable<Result<std::string>> publish(Event event) override { return bus_.publish(std::move(event)); }
  Result<std::unique_ptr<Subscription>> subscribe(boost::asio::any_io_executor executor, SubscribeOptions options,
                                                  EventHandler handler) override {
    return bus_.subscribe(std::move(executor), std::move(options), std::move(handler));
  }
  Awaitable<Result<std::vector<DeadLetter>>> dead_letters(std::string group, std::size_t limit) override {
    return bus_.dead_letters(std::move(group), limit);
  }

 private:
  std::unique_ptr<redis::RedisClient> client_;
  RedisEventBus bus_;
};

std::string query(const net::BackendUrl& url, const std::string& key, const std::string& fallback) {
  auto it = url.query.find(key);
  return it == url.query.end() ? fallback : it->second;
}

}  // namespace

void register_builtin_event_buses(EventBusPlugins::Builder& builder) {
  using Product = std::unique_ptr<EventBus>;
  builder.add("memory",
              {0, {}, [](const net::BackendUrl& url, std::string_view, const EventBusDeps& deps) -> Result<Product> {
                 if (!url.hosts.empty() || !url.path.empty()) {
                   return make_error(ErrorCode::invalid_argument, "memory:// takes no host or path", "url");
                 }
                 return Product(std::make_unique<MemoryEventBus>(deps.time, deps.random, deps.sleeper));
               }});
  builder.add("amqp", {5672,
                       {"user", "password_env", "password_file", "prefix", "prefetch", "timeout"},
                       [](const net::BackendUrl&, std::string_view text, const EventBusDeps& deps) -> Result<Product> {
                         auto options = AmqpEventBusOptions::from_url(text);
                         if (!options) return options.error();
                         auto bus = AmqpEventBus::connect(deps.time, deps.random, deps.sleeper, std::move(*options));
                         if (!bus) return bus.error();
                         return Product(std::move(*bus));
                       }});
  builder.add("nats", {4222,
                       {"prefix", "stream", "timeout"},
                       [](const net::BackendUrl& url, std::string_view, const EventBusDeps& deps) -> Result<Product> {
                         NatsEventBusOptions o;
                         o.servers.clear();
                         for (const auto& h : url.hosts)
                           o.servers.push_back("nats://" + h.host + ":" + std::to_string(h.port));
                         if (o.servers.empty()) return make_error(ErrorCode::invalid_argument, "no host", "url");
                         o.prefix = query(url, "prefix", o.prefix);
                         o.stream = query(url, "stream", o.stream);
                         auto timeout = net::backend_url_duration(url, "timeout", o.publish_timeout);
                         if (!timeout) return timeout.error();
                         o.publish_timeout = *timeout;
                         auto bus = NatsEventBus::connect(deps.time, deps.random, deps.sleeper, std::move(o));
                         if (!bus) return bus.error();
                         return Product(std::move(*bus));
                       }});
  const auto redis = [](const net::BackendUrl& url, std::string_view, const EventBusDeps& deps) -> Result<Product> {
    auto options = redis::redis_options_from_url(url);
    if (!options) return options.error();
    RedisEventBusOptions o;
    o.prefix = query(url, "prefix", o.prefix);
    auto client = std::make_unique<redis::RedisClient>(deps.executor, std::move(*options));
    return Product(std::make_unique<RedisEventBusWithClient>(std::move(client), deps.time, deps.random, deps.sleeper,
                                                             std::move(o)));
  };
  for (const char* scheme : {"redis", "rediss"}) {
    builder.add(scheme, {6379, net::url_options(net::kConnectionOptions, {"prefix"}), redis});
  }
}

Result<std::unique_ptr<EventBus>> connect_event_bus(std::string_view url, boost::asio::any_io_executor executor,
                                                    const TimeSource& time, Random& random, Sleeper& sleeper) {
  EventBusPlugins::Builder builder("event bus");
  register_builtin_event_buses(builder);
  return std::move(builder).build().create(url, EventBusDeps{std::move(executor), time, random, sleeper});
}

}  // namespace svckit::events
