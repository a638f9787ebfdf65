// AmqpTaskRecords: what one process knows of the amqp:// tasks it enqueued or ran — the records
// get(id), list() and counts() answer from. Bounded: at most `max_records` of them and about
// `max_bytes` (payloads and results counted), the oldest forgotten first; finished ones forgotten
// after `retention`, as the other backends sweep them. Not thread-safe (the queue's broker thread
// owns it).
#pragma once

#include <chrono>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>

#include "svckit/queue/task.hpp"

namespace svckit::queue {

class AmqpTaskRecords {
 public:
  AmqpTaskRecords(std::size_t max_records, std::size_t max_bytes, std::chrono::milliseconds retention)
      : max_records_(max_records), max_bytes_(max_bytes), retention_(retention) {}

  /// Adds or updates `t` (by id).
  void remember(const TaskRecord& t);
  void forget(std::string id);  // a copy: callers may pass keys of the maps it erases from
  /// Forgets the finished tasks whose retention has passed at `now`.
  void forget_finished(SystemTime now);
  /// nullptr when not known (never, or forgotten).
  const TaskRecord* find(const std::string& id) const;
  /// Calls `f(record)` for every record, oldest first.
  template <class F>
  void each(F&& f) const {
    for (const auto& id : order_) {
      if (const auto* t = find(id)) f(*t);
    }
  }
  std::size_t size() const { return records_.size(); }
  std::size_t bytes() const { return bytes_; }

 private:
  struct Kept {
    TaskRecord task;
    std::size_t weight = 0;  // weigh() when its state last changed
  };
  static std::size_t weigh(const TaskRecord& t);

  const std::size_t max_records_;
  const std::size_t max_bytes_;
  const std::chrono::milliseconds retention_;
  std::unordered_map<std::string, Kept> records_;            // by task id
  std::size_t bytes_ = 0;                                    // the records' weights
  std::deque<std::string> order_;                            // ids, oldest first (forgotten ones leave lazily)
  std::deque<std::pair<SystemTime, std::string>> finished_;  // (finished_at, id), for the retention
};

}  // namespace svckit::queue
