#include "svckit/events/event_bus_url.hpp"

#include "svckit/events/amqp_event_bus.hpp"
#include "svckit/events/nats_event_bus.hpp"
#include "svckit/events/redis_event_bus.hpp"
#include "svckit/http/url.hpp"

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

std::string query(const http::BackendUrl& url, const std::string& key, const std::string& fallback) {
  auto it = url.query.find(key);
  return it == url.query.end() ? fallback : it->second;
}

}  // namespace

Result<std::unique_ptr<EventBus>> connect_event_bus(std::string_view url, boost::asio::any_io_executor executor,
                                                    const TimeSource& time, Random& random, Sleeper& sleeper) {
  if (url == "memory://") return std::unique_ptr<EventBus>(std::make_unique<MemoryEventBus>(time, random, sleeper));
  const auto scheme = url.substr(0, url.find("://"));
  if (scheme == "amqp") {
    auto options = AmqpEventBusOptions::from_url(url);
    if (!options) return options.error();
    auto bus = AmqpEventBus::connect(time, random, sleeper, std::move(*options));
    if (!bus) return bus.error();
    return std::unique_ptr<EventBus>(std::move(*bus));
  }
  if (scheme == "nats") {
    auto parsed = http::parse_backend_url(url, 4222);
    if (!parsed) return parsed.error();
    if (auto ok = http::check_url_options(*parsed, "nats://", {"prefix", "stream", "timeout"}); !ok) return ok.error();
    NatsEventBusOptions o;
    o.servers.clear();
    for (const auto& h : parsed->hosts) o.servers.push_back("nats://" + h.host + ":" + std::to_string(h.port));
    if (o.servers.empty()) return make_error(ErrorCode::invalid_argument, "no host", "url");
    o.prefix = query(*parsed, "prefix", o.prefix);
    o.stream = query(*parsed, "stream", o.stream);
    auto timeout = http::backend_url_duration(*parsed, "timeout", o.publish_timeout);
    if (!timeout) return timeout.error();
    o.publish_timeout = *timeout;
    auto bus = NatsEventBus::connect(time, random, sleeper, std::move(o));
    if (!bus) return bus.error();
    return std::unique_ptr<EventBus>(std::move(*bus));
  }
  if (scheme == "redis" || scheme == "rediss") {
    auto parsed = http::parse_backend_url(url, 6379);
    if (!parsed) return parsed.error();
    if (auto ok = http::check_url_options(*parsed, "redis:// event bus", http::kConnectionOptions, {"prefix"}); !ok) {
      return ok.error();
    }
    auto options = redis::redis_options_from_url(*parsed);
    if (!options) return options.error();
    RedisEventBusOptions o;
    o.prefix = query(*parsed, "prefix", o.prefix);
    auto client = std::make_unique<redis::RedisClient>(std::move(executor), std::move(*options));
    return std::unique_ptr<EventBus>(
        std::make_unique<RedisEventBusWithClient>(std::move(client), time, random, sleeper, std::move(o)));
  }
  return make_error(ErrorCode::invalid_argument,
                    "'" + std::string(url) + "': expected memory://, redis://, nats:// or amqp://", "url");
}

}  // namespace svckit::events
