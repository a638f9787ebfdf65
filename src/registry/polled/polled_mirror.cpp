#include "polled_mirror.hpp"

#include <spdlog/spdlog.h>
#include <algorithm>
#include "svckit/core/log.hpp"

namespace svckit {

namespace {

MemoryRegistryOptions mirror_options() {
  MemoryRegistryOptions o;
  o.store.max_instances_per_service = 1'000'000;  // the server enforces its own limits
  o.store.event_history = 16'384;
  return o;
}

}  // namespace

PolledMirror::PolledMirror(const TimeSource& time, std::chrono::milliseconds poll, Fetch fetch)
    : time_(time), poll_(poll), fetch_(std::move(fetch)), mirror_(time, mirror_options()) {
  const auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(time.system_now().time_since_epoch()).count();
  (void)mirror_.restore({}, static_cast<std::uint64_t>(std::max<long long>(1, now_ms)));
}

bool PolledMirror::fresh(const std::string& scope) const {
  std::lock_guard lock(mutex_);
  const auto now = time_.steady_now();
  for (const auto& s : {scope, std::string()}) {
    if (auto it = read_at_.find(s); it != read_at_.end() && now - it->second < poll_) return true;
  }
  return false;
}

Awaitable<Result<void>> PolledMirror::refresh(std::string scope) {
  std::uint64_t ticket = 0;
  {
    std::lock_guard lock(mutex_);
    ticket = ++tickets_;
  }
  auto fetched = co_await fetch_(scope);
  if (!fetched) co_return fetched.error();
  std::vector<ServiceInstance> valid;
  valid.reserve(fetched->size());
  for (auto& in : *fetched) {
    in.normalize();
    if (auto ok = validate(in); !ok || (!scope.empty() && in.service != scope)) {
      logs::debug("registry", "event=mirror_instance_skipped service={} id={}", in.service, in.id);
      continue;
    }
    const bool listed = std::any_of(valid.begin(), valid.end(), [&](const ServiceInstance& other) {
      return other.service == in.service && other.id == in.id;
    });
    if (!listed) valid.push_back(std::move(in));
  }
  std::lock_guard lock(mutex_);
  // An answer older than one applied since for an overlapping scope is dropped.
  for (const auto& [s, applied] : applied_) {
    if ((scope.empty() || s.empty() || s == scope) && applied > ticket) co_return Result<void>{};
  }
  auto changed = mirror_.replace_now(scope, std::move(valid));
  if (!changed) co_return changed.error();
  applied_[scope] = ticket;
  read_at_[scope] = time_.steady_now();
  co_return Result<void>{};
}

void PolledMirror::mark_expired(WatchResult& result) {
  for (auto& e : result.events) {
    if (e.type == EventType::status_changed && e.instance.ttl.count() > 0 &&
        e.instance.status == InstanceStatus::down && e.previous_status != InstanceStatus::down) {
      e.type = EventType::expired;
    }
  }
}

Awaitable<Result<WatchResult>> PolledMirror::watch(WatchRequest request) {
  if (request.after_index == 0 || !fresh(request.service)) {
    if (auto read = co_await refresh(request.service); !read) co_return read.error();
  }
  const auto deadline = time_.steady_now() + request.wait;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - time_.steady_now());
    WatchRequest slice(request.service, request.after_index, std::clamp(left, std::chrono::milliseconds(0), poll_),
                       request.cancel);
    auto answer = co_await mirror_.watch(std::move(slice));
    if (!answer) co_return answer;
    if (answer->reset || !answer->events.empty() || left <= poll_ || (request.cancel && request.cancel->cancelled())) {
      mark_expired(*answer);
      co_return answer;
    }
    if (!fresh(request.service)) {
      if (auto read = co_await refresh(request.service); !read) co_return read.error();
    }
  }
}

}  // namespace svckit
