#include "queue/amqp/amqp_task_message.hpp"

#include <nlohmann/json.hpp>

#include "svckit/core/instance_json.hpp"

namespace svckit::queue::amqp_tasks {

using std::chrono::milliseconds;

long long ms_of(SystemTime t) { return std::chrono::duration_cast<milliseconds>(t.time_since_epoch()).count(); }
SystemTime time_of(long long ms) { return SystemTime(milliseconds(ms)); }

long long wait_bucket(long long ms) {
  const long long step = ms < 1'000 ? 10 : ms < 10'000 ? 100 : ms < 600'000 ? 1'000 : 10'000;
  return (ms + step - 1) / step * step;
}

Error protocol(const std::string& what) { return make_error(ErrorCode::protocol, "amqp task queue: " + what); }

std::string task_body(const TaskRecord& t, const std::string& reply_to) {
  const auto& s = t.spec;
  nlohmann::json j{{"id", t.id},
                   {"queue", s.queue},
                   {"name", s.name},
                   {"payload", s.payload},
                   {"priority", std::string(to_string(s.priority))},
                   {"max_retries", s.max_retries},
                   {"timeout_ms", s.timeout.count()},
                   {"unique_key", s.unique_key},
                   {"unique_for_ms", s.unique_for.count()},
                   {"traceparent", s.traceparent},
                   {"tracestate", s.tracestate},
                   {"state", std::string(to_string(t.state))},
                   {"attempts", t.attempts},
                   {"enqueued_at_ms", ms_of(t.enqueued_at)},
                   {"run_at_ms", ms_of(t.run_at)},
                   {"finished_at_ms", ms_of(t.finished_at)},
                   {"last_error", t.last_error},
                   {"result", t.result},
                   {"reply_to", reply_to}};
  return j.dump();
}

Result<TaskRecord> task_from_body(const std::string& body, std::string& reply_to) {
  auto parsed = parse_json(body);
  if (!parsed) return protocol("a task message is not JSON: " + parsed.error().message);
  const auto& j = *parsed;
  try {
    TaskRecord t;
    t.id = j.at("id").get<std::string>();
    t.spec.queue = j.at("queue").get<std::string>();
    t.spec.name = j.at("name").get<std::string>();
    t.spec.payload = j.value("payload", nlohmann::json());
    const auto priority = parse_priority(j.value("priority", std::string("medium")));
    if (!priority) return protocol("task " + t.id + " has an unknown priority");
    t.spec.priority = *priority;
    t.spec.max_retries = j.value("max_retries", 3);
    t.spec.timeout = milliseconds(j.value("timeout_ms", 0LL));
    t.spec.unique_key = j.value("unique_key", std::string());
    t.spec.unique_for = milliseconds(j.value("unique_for_ms", 0LL));
    t.spec.traceparent = j.value("traceparent", std::string());
    t.spec.tracestate = j.value("tracestate", std::string());
    t.state = parse_task_state(j.value("state", std::string("pending"))).value_or(TaskState::pending);
    t.attempts = j.value("attempts", 0);
    t.enqueued_at = time_of(j.value("enqueued_at_ms", 0LL));
    t.run_at = time_of(j.value("run_at_ms", 0LL));
    t.finished_at = time_of(j.value("finished_at_ms", 0LL));
    t.last_error = j.value("last_error", std::string());
    t.result = j.value("result", nlohmann::json());
    reply_to = j.value("reply_to", std::string());
    if (t.id.empty()) return protocol("a task message has no id");
    if (auto valid = validate(t.spec); !valid) return protocol("task " + t.id + ": " + valid.error().describe());
    return t;
  } catch (const nlohmann::json::exception& e) {
    return protocol(std::string("a task message has a field of the wrong type: ") + e.what());
  }
}

}  // namespace svckit::queue::amqp_tasks
