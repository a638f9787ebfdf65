// connect_event_bus: an EventBus chosen by URL — how composition roots (services, the CLI, the
// examples) pick a backend without naming its class.
//
//   memory://                                      MemoryEventBus (one process)
//   redis://host:port[/db][?prefix=&user=&password_env=&tls=...]   RedisEventBus on its own client
//   nats://host:port[,host:port...][?prefix=&stream=&timeout=]     NatsEventBus (JetStream)
//   amqp://host:port[/vhost][?user=&password_env=&prefix=&prefetch=&timeout=]   AmqpEventBus
#pragma once

#include <string_view>

#include "svckit/events/event_bus.hpp"
#include "svckit/net/plugin_table.hpp"

namespace svckit::events {

/// What an event-bus backend may use. Referenced objects must outlive the bus.
struct EventBusDeps {
  boost::asio::any_io_executor executor;  // runs the Redis client's I/O
  const TimeSource& time;
  Random& random;
  Sleeper& sleeper;
};

/// Event-bus backends by URL scheme (net::PluginTable: unknown schemes and options refused).
using EventBusPlugins = net::PluginTable<std::unique_ptr<EventBus>, EventBusDeps>;

/// Adds memory://, redis://, rediss://, nats:// and amqp://. A composition root may add its own
/// backends to the same Builder.
void register_builtin_event_buses(EventBusPlugins::Builder& builder);

/// Connects (a broker: declares its topology) and returns the bus. Errors: invalid_argument naming
/// the option (`url` for the URL itself, e.g. an unknown scheme), unavailable when the broker does
/// not answer (redis:// connects lazily: its first publish tells). `executor` runs the Redis
/// client's I/O. time, random and sleeper must outlive the bus. Uses the built-in backends
/// (register_builtin_event_buses).
Result<std::unique_ptr<EventBus>> connect_event_bus(std::string_view url, boost::asio::any_io_executor executor,
                                                    const TimeSource& time, Random& random, Sleeper& sleeper);

}  // namespace svckit::events
