// connect_task_queue: a TaskQueue chosen by URL — how composition roots pick a backend without
// naming its class (QUEUE_TYPE / REDIS_URL in app/service_settings.hpp lead here).
//
//   memory://                                                      MemoryTaskQueue (one process)
//   redis://host:port[/db][?prefix=&user=&password_env=&tls=...]   RedisTaskQueue on its own client
//   amqp://host:port[/vhost][?prefix=&user=&password_env=&lease=]  AmqpTaskQueue (RabbitMQ; what it
//                                                                  answers differently: its header)
#pragma once

#include <memory>
#include <string_view>

#include "svckit/core/random.hpp"
#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/queue/task_queue.hpp"

namespace svckit::queue {

/// Errors: invalid_argument naming the option (`url` for the URL itself: an unknown scheme, a
/// host on memory://). redis:// and amqp:// connect lazily: the first call tells whether the
/// server answers. `executor` runs the Redis client's I/O; `time` and `random` must outlive the queue.
Result<std::unique_ptr<TaskQueue>> connect_task_queue(std::string_view url, boost::asio::any_io_executor executor,
                                                      const TimeSource& time, Random& random);

}  // namespace svckit::queue
