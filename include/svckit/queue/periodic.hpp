// Periodic tasks: a Schedule (a fixed interval, or a cron expression in UTC) and a
// PeriodicScheduler that enqueues each periodic task into a TaskQueue at its fire times.
//
// Several schedulers (one per replica of a service) may run the same list against one shared
// queue: each fire is enqueued once, because its task carries the unique key
// "periodic:<name>:<fire time in ms>" held until the next fire — the others get limit_exceeded,
// counted as `duplicates`. Fires missed while no scheduler ran (or it stalled) are not replayed:
// the next one after "now" is the next enqueued (no burst after a pause).
//
//   PeriodicScheduler scheduler(queue, time, sleeper);
//   scheduler.add({"nightly-report", *Schedule::cron("30 2 * * *"), report_spec});
//   co_spawn(io, scheduler.run(stop), detached);
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/core/cancel_token.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/queue/task_queue.hpp"

namespace svckit::queue {

/// Immutable; copyable; thread-safe to share.
class Schedule {
 public:
  /// Every `interval` (> 0), aligned to the Unix epoch: every(1h) fires at each full hour.
  static Result<Schedule> every(std::chrono::milliseconds interval);
  /// Five fields "minute hour day-of-month month day-of-week" in UTC, each `*`, `n`, `a-b`, `*/s`,
  /// `a-b/s` or a comma list of those (day of week 0-7, 0 and 7 = Sunday). When both day fields
  /// are restricted, a day matching either fires (as in Vixie cron). Errors: invalid_argument,
  /// field "cron", naming the part; a schedule that never fires (Feb 30) is refused.
  static Result<Schedule> cron(std::string_view expression);

  /// The first fire time strictly after `t`.
  SystemTime next_after(SystemTime t) const;
  const std::string& text() const { return text_; }

 private:
  Schedule() = default;
  std::string text_;
  std::chrono::milliseconds interval_{0};  // > 0: an interval schedule
  // cron: allowed values as bit sets
  std::uint64_t minutes_ = 0;
  std::uint32_t hours_ = 0, days_ = 0, months_ = 0, weekdays_ = 0;
  bool any_day_ = true, any_weekday_ = true;
};

struct PeriodicTask {
  PeriodicTask() = default;  // not an aggregate: GCC 12 (see registry/registry.hpp)
  PeriodicTask(std::string n, Schedule s, TaskSpec t)
      : name(std::move(n)), schedule(std::move(s)), spec(std::move(t)) {}

  std::string name;  // unique per scheduler, [A-Za-z0-9._-]+
  Schedule schedule = *Schedule::every(std::chrono::hours(1));
  TaskSpec spec;  // enqueued as is at each fire, with the fire's unique key (spec.unique_key must be empty)
};

struct PeriodicStats {
  std::uint64_t enqueued = 0, duplicates = 0, errors = 0;
};

/// Threading: add() before run(); one run() at a time; stats() from any thread. The queue, time
/// source and sleeper must outlive the scheduler.
class PeriodicScheduler {
 public:
  PeriodicScheduler(TaskQueue& queue, const TimeSource& time, Sleeper& sleeper);

  /// Validates (name, spec) and plans the first fire after now. Errors name the field.
  Result<void> add(PeriodicTask task);
  /// Enqueues every task whose fire time has come; returns how many were enqueued by this call.
  /// A failed enqueue (queue unreachable) is retried at the next tick for the same fire.
  Awaitable<std::size_t> tick();
  /// Ticks at each next fire time until `stop` is cancelled (retrying failed fires every second).
  /// `stop` must be this run's own token: its one hook is taken by the waits.
  Awaitable<void> run(CancelToken& stop);

  /// The next fire time of the task named `name` (nullopt: no such task).
  std::optional<SystemTime> next_fire(const std::string& name) const;
  PeriodicStats stats() const;

 private:
  struct Entry {
    PeriodicTask task;
    SystemTime next;
  };
  TaskQueue& queue_;
  const TimeSource& time_;
  Sleeper& sleeper_;
  std::vector<Entry> entries_;
  mutable std::mutex mutex_;  // guards stats_
  PeriodicStats stats_;
  bool failed_ = false;  // the last tick had an error: look again soon
};

}  // namespace svckit::queue
