#include "svckit/queue/task.hpp"

#include "core/enum_names.hpp"
#include "svckit/core/service_instance.hpp"
#include "svckit/trace/tracer.hpp"

namespace svckit::queue {
namespace {

constexpr detail::EnumNames<TaskState, 7> kStateNames{{
    {TaskState::pending, "pending"},
    {TaskState::scheduled, "scheduled"},
    {TaskState::active, "active"},
    {TaskState::retry, "retry"},
    {TaskState::succeeded, "succeeded"},
    {TaskState::failed, "failed"},
    {TaskState::dead, "dead"},
}};

constexpr std::size_t kMaxPayloadBytes = std::size_t{512} * 1024;

}  // namespace

std::string_view to_string(TaskState state) noexcept { return detail::name_of(kStateNames, state); }
std::optional<TaskState> parse_task_state(std::string_view text) noexcept {
  return detail::parse_name(kStateNames, text);
}

Result<void> validate(const TaskSpec& spec) {
  auto bad = [](const std::string& message, const std::string& field) {
    return make_error(ErrorCode::invalid_argument, message, field);
  };
  // Queue and handler names follow service names' alphabet (they end up in keys and metrics).
  if (auto r = validate_service_name(spec.queue, "queue"); !r) return r;
  if (auto r = validate_service_name(spec.name, "name"); !r) return r;
  if (spec.payload.dump().size() > kMaxPayloadBytes) return bad("payload is larger than 512 KiB", "payload");
  if (spec.delay.count() < 0) return bad("delay must not be negative", "delay");
  if (spec.run_at && spec.delay.count() > 0) return bad("give delay or run_at, not both", "run_at");
  if (spec.max_retries < 0 || spec.max_retries > 100) return bad("max_retries must be in 0..100", "max_retries");
  if (spec.timeout.count() < 0) return bad("timeout must not be negative", "timeout");
  if (spec.unique_key.size() > 256) return bad("unique_key is longer than 256 characters", "unique_key");
  if (!spec.unique_key.empty() && spec.unique_for.count() <= 0) {
    return bad("a unique_key needs unique_for > 0 (how long it holds)", "unique_for");
  }
  if (!spec.traceparent.empty() && !trace::parse_traceparent(spec.traceparent)) {
    return bad("traceparent must be a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>)", "traceparent");
  }
  if (!spec.tracestate.empty() && spec.traceparent.empty())
    return bad("a tracestate needs a traceparent", "tracestate");
  if (!trace::valid_tracestate(spec.tracestate)) {
    return bad("tracestate must be a W3C tracestate (at most 32 key=value members, 512 characters)", "tracestate");
  }
  return {};
}

}  // namespace svckit::queue
