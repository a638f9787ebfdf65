#include "queue/amqp/amqp_task_records.hpp"

#include <nlohmann/json.hpp>

namespace svckit::queue {

std::size_t AmqpTaskRecords::weigh(const TaskRecord& t) {
  return 256 + t.id.size() + t.spec.name.size() + t.last_error.size() + t.spec.payload.dump().size() +
         (t.result.is_null() ? 0 : t.result.dump().size());
}

void AmqpTaskRecords::remember(const TaskRecord& t) {
  auto it = records_.find(t.id);
  if (it == records_.end()) {
    const auto weight = weigh(t);
    records_.emplace(t.id, Kept{t, weight});
    bytes_ += weight;
    order_.push_back(t.id);
  } else {
    const bool changed = it->second.task.state != t.state;  // a renewal changes only the lease
    it->second.task = t;
    if (changed) {
      bytes_ -= it->second.weight;
      it->second.weight = weigh(t);
      bytes_ += it->second.weight;
    }
  }
  if (t.state == TaskState::succeeded || t.state == TaskState::failed || t.state == TaskState::dead) {
    finished_.emplace_back(t.finished_at, t.id);
  }
  // The oldest go past either bound; ids of records forgotten otherwise leave the order here too.
  while (!order_.empty() &&
         (records_.size() > max_records_ || bytes_ > max_bytes_ || records_.count(order_.front()) == 0)) {
    forget(order_.front());
    order_.pop_front();
  }
  if (order_.size() > 2 * max_records_) {  // forgotten ids behind a long-lived one
    std::erase_if(order_, [&](const std::string& id) { return records_.count(id) == 0; });
  }
  if (finished_.size() > 2 * max_records_) {
    std::erase_if(finished_, [&](const auto& entry) {
      const auto* r = find(entry.second);
      return r == nullptr || r->finished_at != entry.first;
    });
  }
}

void AmqpTaskRecords::forget(std::string id) {
  auto it = records_.find(id);
  if (it == records_.end()) return;
  bytes_ -= it->second.weight;
  records_.erase(it);
}

void AmqpTaskRecords::forget_finished(SystemTime now) {
  while (!finished_.empty() && finished_.front().first + retention_ <= now) {
    const auto* t = find(finished_.front().second);
    if (t != nullptr && t->finished_at == finished_.front().first) forget(finished_.front().second);
    finished_.pop_front();
  }
}

const TaskRecord* AmqpTaskRecords::find(const std::string& id) const {
  auto it = records_.find(id);
  return it == records_.end() ? nullptr : &it->second.task;
}

}  // namespace svckit::queue
