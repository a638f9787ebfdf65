// AmqpServerOptions: where a RabbitMQ broker is and how to log in — shared by the AMQP event bus
// (events/amqp_event_bus.hpp) and the AMQP task queue (queue/amqp_task_queue.hpp). Plain data.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "svckit/core/result.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::amqp {

struct AmqpServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 5672;
  std::string user = "guest";
  std::string password = "guest";
  std::string vhost = "/";
  std::chrono::milliseconds connect_timeout{2'000};
};

/// Parses amqp://host[:port][/vhost] (vhost URL-encoded: %2F is "/") and reads the broker's part
/// of it: ?user=, ?password_env=NAME or ?password_file=PATH (secrets never sit in the URL: a
/// user:password@ is refused). Returns the parsed URL, for the caller's own options and its
/// check_url_options. Errors: invalid_argument naming the option (`url` for the URL itself).
Result<net::BackendUrl> parse_amqp_url(std::string_view url, AmqpServerOptions& server);

}  // namespace svckit::amqp
