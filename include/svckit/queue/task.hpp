// Tasks of the task queue: what is enqueued (TaskSpec), and the record every backend keeps of it
// (TaskRecord). Plain data; the life cycle is TaskStore's (task_store.hpp).
//
//   enqueue ──► scheduled ──(run_at)──► pending ──fetch──► active ──complete──► succeeded
//                                         ▲                  │ fail / lease ran out
//                                         └──(backoff)── retry ◄┤ (attempts ≤ max_retries)
//                                                               ├─► dead   (retries used up)
//                                                               └─► failed (not retryable)
#pragma once

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "svckit/core/priority.hpp"
#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit::queue {

using svckit::parse_priority;
using svckit::Priority;  // shared with events (svckit/core/priority.hpp)

enum class TaskState { pending, scheduled, active, retry, succeeded, failed, dead };
std::string_view to_string(TaskState state) noexcept;
std::optional<TaskState> parse_task_state(std::string_view text) noexcept;

/// What a producer enqueues.
struct TaskSpec {
  TaskSpec() = default;  // not an aggregate: see the GCC 12 note in registry/registry.hpp

  std::string queue = "default";  // [A-Za-z0-9][A-Za-z0-9._-]*
  std::string name;               // the handler's name, same alphabet
  nlohmann::json payload;         // the handler's argument; at most 512 KiB encoded
  Priority priority = Priority::medium;
  std::chrono::milliseconds delay{0};       // run no earlier than now + delay ...
  std::optional<SystemTime> run_at;         // ... or than this time (not both)
  int max_retries = 3;                      // 0..100 further attempts after the first
  std::chrono::milliseconds timeout{0};     // per attempt; 0 = no limit beyond the lease
  std::string unique_key;                   // non-empty: refuse another task with this key ...
  std::chrono::milliseconds unique_for{0};  // ... in this queue for this long (> 0 when a key is set)
  std::string traceparent;                  // W3C trace context of the enqueuing span ("" = none) ...
  std::string tracestate;                   // ... and its tracestate: a task run continues the trace
};

/// Checks every field; the first problem is returned with `field` set.
Result<void> validate(const TaskSpec& spec);

/// A backend's record of one task.
struct TaskRecord {
  std::string id;
  TaskSpec spec;
  TaskState state = TaskState::pending;
  int attempts = 0;  // fetches so far
  SystemTime enqueued_at{};
  SystemTime run_at{};                 // when it is (or was) due
  std::string worker;                  // the lease holder while active
  SystemTime lease_until{};            // active: the lease runs out then
  std::optional<SystemTime> deadline;  // active with a timeout: the attempt must end by then
  nlohmann::json result;               // succeeded: what the handler returned
  std::string last_error;              // the last failed attempt's error
  SystemTime finished_at{};            // succeeded, failed, dead
};

}  // namespace svckit::queue
