#include "svckit/queue/task_store.hpp"

#include <algorithm>
#include <cstdio>

namespace svckit::queue {
namespace {

std::size_t level(Priority p) { return static_cast<std::size_t>(p); }

void erase_entry(std::multimap<SystemTime, std::string>& index, SystemTime at, const std::string& id) {
  auto [first, last] = index.equal_range(at);
  for (auto it = first; it != last; ++it) {
    if (it->second == id) {
      index.erase(it);
      return;
    }
  }
}

Error not_held(const std::string& id) {
  return make_error(ErrorCode::not_found, "task " + id + " is not active under this worker (its lease was lost)", "id");
}

}  // namespace

Result<void> validate(const TaskStoreOptions& o) {
  auto bad = [](const std::string& message, const std::string& field) {
    return make_error(ErrorCode::invalid_argument, message, field);
  };
  if (o.lease.count() <= 0) return bad("lease must be > 0", "lease");
  if (o.retention.count() <= 0) return bad("retention must be > 0", "retention");
  if (o.max_dead == 0) return bad("max_dead must be > 0", "max_dead");
  if (o.dead_max_age.count() <= 0) return bad("dead_max_age must be > 0", "dead_max_age");
  for (const int w : o.weights) {
    if (w <= 0) return bad("every priority weight must be > 0", "weights");
  }
  return validate(o.retry_backoff);
}

TaskStore::TaskStore(const TimeSource& time, Random& random, TaskStoreOptions options)
    : time_(time), random_(random), options_(options) {}

Result<TaskRecord> TaskStore::enqueue(TaskSpec spec) {
  if (auto v = validate(spec); !v) return v.error();
  const auto now = time_.system_now();
  if (!spec.unique_key.empty()) {
    const auto key = std::make_pair(spec.queue, spec.unique_key);
    if (auto held = unique_.find(key); held != unique_.end() && held->second.second > now) {
      return make_error(ErrorCode::limit_exceeded,
                        "task " + held->second.first + " holds unique_key '" + spec.unique_key + "'", "unique_key");
    }
  }
  TaskRecord task;
  task.id = random_hex_id(random_);
  while (tasks_.count(task.id) != 0) task.id = random_hex_id(random_);
  task.enqueued_at = now;
  task.run_at = spec.run_at ? *spec.run_at : now + spec.delay;
  task.spec = std::move(spec);
  if (!task.spec.unique_key.empty()) {
    unique_[{task.spec.queue, task.spec.unique_key}] = {task.id, now + task.spec.unique_for};
  }
  auto& stored = tasks_.emplace(task.id, std::move(task)).first->second;
  if (stored.run_at > now) {
    park_until(stored, stored.run_at, TaskState::scheduled);
  } else {
    make_pending(stored);
  }
  return stored;
}

void TaskStore::make_pending(TaskRecord& task) {
  task.state = TaskState::pending;
  queues_[task.spec.queue].ready[level(task.spec.priority)].push_back(task.id);
}

void TaskStore::park_until(TaskRecord& task, SystemTime when, TaskState state) {
  task.state = state;
  task.run_at = when;
  queues_[task.spec.queue].waiting.emplace(when, task.id);
}

void TaskStore::finish(TaskRecord& task, TaskState state) {
  task.state = state;
  task.finished_at = time_.system_now();
  task.worker.clear();
  task.deadline.reset();
  (state == TaskState::dead ? dead_ : finished_).emplace(task.finished_at, task.id);
}

void TaskStore::detach(const TaskRecord& task) {
  auto& q = queues_[task.spec.queue];
  switch (task.state) {
    case TaskState::pending: {
      auto& ready = q.ready[level(task.spec.priority)];
      ready.erase(std::remove(ready.begin(), ready.end(), task.id), ready.end());
      break;
    }
    case TaskState::scheduled:
    case TaskState::retry:
      erase_entry(q.waiting, task.run_at, task.id);
      break;
    case TaskState::active:
      erase_entry(leases_, task.deadline ? std::min(task.lease_until, *task.deadline) : task.lease_until, task.id);
      break;
    case TaskState::succeeded:
    case TaskState::failed:
      erase_entry(finished_, task.finished_at, task.id);
      break;
    case TaskState::dead:
      erase_entry(dead_, task.finished_at, task.id);
      break;
  }
}

void TaskStore::promote_due() {
  const auto now = time_.system_now();
  for (auto& [name, q] : queues_) {
    while (!q.waiting.empty() && q.waiting.begin()->first <= now) {
      auto& task = tasks_.at(q.waiting.begin()->second);
      q.waiting.erase(q.waiting.begin());
      make_pending(task);
    }
  }
}

std::optional<TaskRecord> TaskStore::fetch(const std::string& queue, const std::string& worker) {
  promote_due();
  if (paused_.count(queue) != 0) return std::nullopt;
  auto found = queues_.find(queue);
  if (found == queues_.end()) return std::nullopt;
  auto& ready = found->second.ready;
  std::size_t pick = ready.size();
  if (options_.strict_priority) {
    for (std::size_t i = 0; i < ready.size() && pick == ready.size(); ++i) {
      if (!ready[i].empty()) pick = i;
    }
  } else {
    std::uint64_t total = 0;
    for (std::size_t i = 0; i < ready.size(); ++i) {
      if (!ready[i].empty()) total += static_cast<std::uint64_t>(options_.weights[i]);
    }
    if (total > 0) {
      auto r = random_.uniform(total);
      for (std::size_t i = 0; i < ready.size(); ++i) {
        if (ready[i].empty()) continue;
        const auto w = static_cast<std::uint64_t>(options_.weights[i]);
        if (r < w) {
          pick = i;
          break;
        }
        r -= w;
      }
    }
  }
  if (pick == ready.size()) return std::nullopt;
  auto& task = tasks_.at(ready[pick].front());
  ready[pick].pop_front();
  const auto now = time_.system_now();
  task.state = TaskState::active;
  task.worker = worker;
  ++task.attempts;
  task.lease_until = now + options_.lease;
  task.deadline.reset();
  if (task.spec.timeout.count() > 0) task.deadline = now + task.spec.timeout;
  leases_.emplace(task.deadline ? std::min(task.lease_until, *task.deadline) : task.lease_until, task.id);
  return task;
}

TaskRecord* TaskStore::active_of(const std::string& id, const std::string& worker, Error& error) {
  auto it = tasks_.find(id);
  if (it == tasks_.end() || it->second.state != TaskState::active || it->second.worker != worker) {
    error = not_held(id);
    return nullptr;
  }
  return &it->second;
}

Result<SystemTime> TaskStore::renew(const std::string& id, const std::string& worker) {
  Error error;
  TaskRecord* task = active_of(id, worker, error);
  if (task == nullptr) return error;
  const auto now = time_.system_now();
  if (task->deadline && now >= *task->deadline) {
    return make_error(ErrorCode::timeout, "task " + id + " ran past its timeout", "timeout");
  }
  detach(*task);
  task->lease_until = now + options_.lease;
  leases_.emplace(task->deadline ? std::min(task->lease_until, *task->deadline) : task->lease_until, task->id);
  return task->lease_until;
}

Result<void> TaskStore::complete(const std::string& id, const std::string& worker, nlohmann::json result) {
  Error error;
  TaskRecord* task = active_of(id, worker, error);
  if (task == nullptr) return error;
  detach(*task);
  task->result = std::move(result);
  finish(*task, TaskState::succeeded);
  return {};
}

TaskState TaskStore::after_failure(TaskRecord& task, const std::string& error, bool retryable) {
  task.last_error = error;
  task.worker.clear();
  task.deadline.reset();
  if (!retryable) {
    finish(task, TaskState::failed);
  } else if (task.attempts > task.spec.max_retries) {
    finish(task, TaskState::dead);
  } else {
    Backoff backoff(options_.retry_backoff, random_);
    auto delay = backoff.next();
    for (int i = 1; i < task.attempts; ++i) delay = backoff.next();  // retry n waits like the n-th
    park_until(task, time_.system_now() + delay, TaskState::retry);
  }
  return task.state;
}

Result<TaskState> TaskStore::fail(const std::string& id, const std::string& worker, const std::string& error,
                                  bool retryable) {
  Error held;
  TaskRecord* task = active_of(id, worker, held);
  if (task == nullptr) return held;
  detach(*task);
  return after_failure(*task, error, retryable);
}

std::size_t TaskStore::recover_expired() {
  const auto now = time_.system_now();
  std::size_t n = 0;
  while (!leases_.empty() && leases_.begin()->first <= now) {
    auto& task = tasks_.at(leases_.begin()->second);
    leases_.erase(leases_.begin());
    const bool timed_out = task.deadline && *task.deadline <= now;
    ++redeliveries_;
    ++n;
    after_failure(
        task, timed_out ? "timeout: the attempt ran past its timeout" : "lease expired: the worker stopped renewing",
        true);
  }
  return n;
}

std::size_t TaskStore::sweep() {
  const auto now = time_.system_now();
  std::size_t n = 0;
  auto drop = [&](std::multimap<SystemTime, std::string>& index,
                  bool (*old)(SystemTime, SystemTime, const TaskStore&)) {
    while (!index.empty() && old(index.begin()->first, now, *this)) {
      tasks_.erase(index.begin()->second);
      index.erase(index.begin());
      ++n;
    }
  };
  drop(finished_, [](SystemTime at, SystemTime now, const TaskStore& s) { return at + s.options_.retention <= now; });
  drop(dead_, [](SystemTime at, SystemTime now, const TaskStore& s) {
    return at + s.options_.dead_max_age <= now || s.dead_.size() > s.options_.max_dead;
  });
  for (auto it = unique_.begin(); it != unique_.end();) {
    it = it->second.second <= now ? unique_.erase(it) : std::next(it);
  }
  return n;
}

Result<TaskRecord> TaskStore::get(const std::string& id) const {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return make_error(ErrorCode::not_found, "no task " + id, "id");
  return it->second;
}

std::vector<TaskRecord> TaskStore::list(const std::string& queue, TaskState state, std::size_t limit) const {
  std::vector<TaskRecord> out;
  for (const auto& [id, task] : tasks_) {
    if (task.spec.queue == queue && task.state == state) out.push_back(task);
  }
  std::sort(out.begin(), out.end(), [](const TaskRecord& a, const TaskRecord& b) {
    return a.enqueued_at != b.enqueued_at ? a.enqueued_at < b.enqueued_at : a.id < b.id;
  });
  if (out.size() > limit) out.resize(limit);
  return out;
}

std::map<TaskState, std::size_t> TaskStore::counts(const std::string& queue) const {
  std::map<TaskState, std::size_t> out;
  for (const auto& [id, task] : tasks_) {
    if (task.spec.queue == queue) ++out[task.state];
  }
  return out;
}

Result<void> TaskStore::run_now(const std::string& id) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return make_error(ErrorCode::not_found, "no task " + id, "id");
  auto& task = it->second;
  if (task.state == TaskState::pending) return {};
  if (task.state == TaskState::active || task.state == TaskState::succeeded) {
    return make_error(ErrorCode::invalid_argument, "task " + id + " is " + std::string(to_string(task.state)), "id");
  }
  const bool finished = task.state == TaskState::dead || task.state == TaskState::failed;
  detach(task);
  if (finished) {
    task.attempts = 0;
    task.finished_at = {};
  }
  task.run_at = time_.system_now();
  make_pending(task);
  return {};
}

Result<void> TaskStore::remove(const std::string& id) {
  auto it = tasks_.find(id);
  if (it == tasks_.end()) return make_error(ErrorCode::not_found, "no task " + id, "id");
  if (it->second.state == TaskState::active) {
    return make_error(ErrorCode::invalid_argument, "task " + id + " is running; it can be removed when it ends", "id");
  }
  detach(it->second);
  tasks_.erase(it);
  return {};
}

void TaskStore::pause(const std::string& queue) { paused_.insert(queue); }
void TaskStore::resume(const std::string& queue) { paused_.erase(queue); }
bool TaskStore::paused(const std::string& queue) const { return paused_.count(queue) != 0; }

std::optional<SystemTime> TaskStore::next_due(const std::string& queue) const {
  auto it = queues_.find(queue);
  if (it == queues_.end() || it->second.waiting.empty()) return std::nullopt;
  return it->second.waiting.begin()->first;
}

}  // namespace svckit::queue
