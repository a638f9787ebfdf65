#include "svckit/queue/periodic.hpp"
#include "svckit/core/log.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

namespace svckit::queue {
namespace {

using std::chrono::days;
using std::chrono::floor;
using std::chrono::minutes;

Error bad_cron(const std::string& message) { return make_error(ErrorCode::invalid_argument, message, "cron"); }

std::vector<std::string_view> split(std::string_view text, char by) {
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    const auto end = text.find(by, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return parts;
    start = end + 1;
  }
}

Result<int> number_in(std::string_view text, int low, int high, const std::string& part) {
  int value = -1;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value < low || value > high) {
    return bad_cron(part + ": '" + std::string(text) + "' is not a number in " + std::to_string(low) + ".." +
                    std::to_string(high));
  }
  return value;
}

/// One cron field as a bit set of allowed values in [low, high]; `star` tells whether it was "*".
Result<std::uint64_t> parse_field(std::string_view text, int low, int high, const std::string& part, bool& star) {
  std::uint64_t bits = 0;
  star = text == "*";
  for (const auto item : split(text, ',')) {
    auto range = item;
    int step = 1;
    if (const auto slash = item.find('/'); slash != std::string_view::npos) {
      auto s = number_in(item.substr(slash + 1), 1, high, part);
      if (!s) return s.error();
      step = *s;
      range = item.substr(0, slash);
    }
    int first = low;
    int last = high;
    if (range != "*") {
      const auto dash = range.find('-');
      auto a = number_in(range.substr(0, dash), low, high, part);
      if (!a) return a.error();
      first = last = *a;
      if (dash != std::string_view::npos) {
        auto b = number_in(range.substr(dash + 1), low, high, part);
        if (!b) return b.error();
        last = *b;
        if (last < first) return bad_cron(part + ": range '" + std::string(range) + "' runs backwards");
      } else if (step != 1) {
        last = high;  // "a/s": from a to the end, every s
      }
    }
    for (int v = first; v <= last; v += step) bits |= std::uint64_t{1} << v;
  }
  return bits;
}

bool has(std::uint64_t bits, unsigned value) { return (bits >> value) & 1U; }

}  // namespace

Result<Schedule> Schedule::every(std::chrono::milliseconds interval) {
  if (interval.count() <= 0) return make_error(ErrorCode::invalid_argument, "interval must be > 0", "interval");
  Schedule s;
  s.interval_ = interval;
  s.text_ = "every " + std::to_string(interval.count()) + "ms";
  return s;
}

Result<Schedule> Schedule::cron(std::string_view expression) {
  std::vector<std::string_view> fields;
  for (const auto f : split(expression, ' ')) {
    if (!f.empty()) fields.push_back(f);
  }
  if (fields.size() != 5) {
    return bad_cron("'" + std::string(expression) + "' must have 5 fields: minute hour day-of-month month day-of-week");
  }
  Schedule s;
  s.text_ = std::string(expression);
  bool star = false;
  auto m = parse_field(fields[0], 0, 59, "minute", star);
  if (!m) return m.error();
  auto h = parse_field(fields[1], 0, 23, "hour", star);
  if (!h) return h.error();
  auto dom = parse_field(fields[2], 1, 31, "day-of-month", s.any_day_);
  if (!dom) return dom.error();
  auto mon = parse_field(fields[3], 1, 12, "month", star);
  if (!mon) return mon.error();
  auto dow = parse_field(fields[4], 0, 7, "day-of-week", s.any_weekday_);
  if (!dow) return dow.error();
  s.minutes_ = *m;
  s.hours_ = static_cast<std::uint32_t>(*h);
  s.days_ = static_cast<std::uint32_t>(*dom);
  s.months_ = static_cast<std::uint32_t>(*mon);
  s.weekdays_ = static_cast<std::uint32_t>(*dow | ((*dow >> 7) & 1U));  // 7 is Sunday, as 0
  // Every day-of-month exists in some month within 8 years unless it never does (Feb 30).
  const SystemTime start{};
  const auto next = s.next_after(start);
  if (next == SystemTime::max()) return bad_cron("'" + std::string(expression) + "' never fires");
  return s;
}

SystemTime Schedule::next_after(SystemTime t) const {
  if (interval_.count() > 0) {
    const auto since = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch());
    const auto periods = since.count() >= 0 ? since / interval_ + 1 : 0;
    return SystemTime(std::chrono::duration_cast<SystemTime::duration>(interval_ * periods));
  }
  auto day = floor<days>(t);
  auto minute_of_day = static_cast<int>((floor<minutes>(t) - day).count()) + 1;  // strictly after t
  for (int i = 0; i < 366 * 8; ++i, day += days(1), minute_of_day = 0) {
    const std::chrono::year_month_day date(day);
    if (!has(months_, static_cast<unsigned>(date.month()))) continue;
    const bool day_ok = has(days_, static_cast<unsigned>(date.day()));
    const bool weekday_ok = has(weekdays_, std::chrono::weekday(day).c_encoding());
    const bool fires = any_day_ && any_weekday_ ? true
                       : any_day_               ? weekday_ok
                       : any_weekday_           ? day_ok
                                                : day_ok || weekday_ok;
    if (!fires) continue;
    for (int m = minute_of_day; m < 24 * 60; ++m) {
      if (has(hours_, static_cast<unsigned>(m / 60)) && has(minutes_, static_cast<unsigned>(m % 60))) {
        return SystemTime(std::chrono::duration_cast<SystemTime::duration>(day.time_since_epoch() + minutes(m)));
      }
    }
  }
  return SystemTime::max();
}

PeriodicScheduler::PeriodicScheduler(TaskQueue& queue, const TimeSource& time, Sleeper& sleeper)
    : queue_(queue), time_(time), sleeper_(sleeper) {}

Result<void> PeriodicScheduler::add(PeriodicTask task) {
  const bool name_ok = !task.name.empty() && std::all_of(task.name.begin(), task.name.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '.' || c == '_' || c == '-';
  });
  if (!name_ok) return make_error(ErrorCode::invalid_argument, "name must match [A-Za-z0-9._-]+", "name");
  for (const auto& e : entries_) {
    if (e.task.name == task.name) {
      return make_error(ErrorCode::invalid_argument, "a periodic task '" + task.name + "' exists already", "name");
    }
  }
  if (!task.spec.unique_key.empty()) {
    return make_error(ErrorCode::invalid_argument, "a periodic task's unique key is its fire time: leave it empty",
                      "spec.unique_key");
  }
  if (auto v = validate(task.spec); !v) {
    auto error = v.error();
    error.field = "spec." + error.field;
    return error;
  }
  const auto next = task.schedule.next_after(time_.system_now());
  entries_.push_back({std::move(task), next});
  return {};
}

Awaitable<std::size_t> PeriodicScheduler::tick() {
  std::size_t enqueued = 0;
  failed_ = false;
  for (auto& entry : entries_) {
    const auto now = time_.system_now();
    if (entry.next > now) continue;
    const auto fire = entry.next;
    const auto following = entry.task.schedule.next_after(std::max(fire, now));
    auto spec = entry.task.spec;
    spec.unique_key =
        "periodic:" + entry.task.name + ":" +
        std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(fire.time_since_epoch()).count());
    // Held until the next fire (at least a second): long enough that every replica's tick of this
    // fire finds it.
    spec.unique_for = std::max(std::chrono::milliseconds(1000),
                               std::chrono::duration_cast<std::chrono::milliseconds>(following - fire));
    auto r = co_await queue_.enqueue(std::move(spec));
    std::lock_guard lock(mutex_);
    if (r) {
      ++stats_.enqueued;
      ++enqueued;
    } else if (r.error().code == ErrorCode::limit_exceeded) {
      ++stats_.duplicates;  // another scheduler enqueued this fire
    } else {
      ++stats_.errors;
      failed_ = true;
      logs::warn("tasks", "event=periodic_enqueue_failed task={} error=\"{}\"", entry.task.name, r.error().describe());
      continue;  // same fire again at the next tick
    }
    // The next fire after now: fires missed during a stall are skipped, not replayed.
    entry.next = entry.task.schedule.next_after(now);
  }
  co_return enqueued;
}

Awaitable<void> PeriodicScheduler::run(CancelToken& stop) {
  while (!stop.cancelled()) {
    co_await tick();
    auto next = SystemTime::max();
    for (const auto& e : entries_) next = std::min(next, e.next);
    auto wait = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::hours(1));
    if (next != SystemTime::max()) {
      wait = std::min(wait, std::chrono::duration_cast<std::chrono::nanoseconds>(next - time_.system_now()));
    }
    if (failed_) wait = std::min(wait, std::chrono::nanoseconds(std::chrono::seconds(1)));
    wait = std::max(wait, std::chrono::nanoseconds(0));
    CancelToken* const cancel = &stop;  // named: no temporaries in co_await (GCC 12)
    co_await sleeper_.sleep_for(wait, cancel);
  }
}

std::optional<SystemTime> PeriodicScheduler::next_fire(const std::string& name) const {
  for (const auto& e : entries_) {
    if (e.task.name == name) return e.next;
  }
  return std::nullopt;
}

PeriodicStats PeriodicScheduler::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace svckit::queue
