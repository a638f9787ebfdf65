// The message an amqp:// task travels as (its JSON: the record's spec and history, and the
// enqueuing process's reply queue), and the wait-queue grid of delays. Private to AmqpTaskQueue.
#pragma once

#include <string>

#include "svckit/queue/task.hpp"

namespace svckit::queue::amqp_tasks {

long long ms_of(SystemTime t);
SystemTime time_of(long long ms);

/// Delays share wait queues: rounded up to 10 ms below 1 s, 100 ms below 10 s, 1 s below 10 min,
/// 10 s beyond — so a workload's backoffs use tens of queues, not one per millisecond.
long long wait_bucket(long long ms);

/// A protocol error of the queue ("amqp task queue: " + what).
Error protocol(const std::string& what);

std::string task_body(const TaskRecord& t, const std::string& reply_to);
/// A task from its message. Anything malformed (a message some other client published, a field of
/// the wrong type, a spec an enqueue would refuse) is a protocol error.
Result<TaskRecord> task_from_body(const std::string& body, std::string& reply_to);

}  // namespace svckit::queue::amqp_tasks
