#include "svckit/etcd/group_commit.hpp"

#include <set>

namespace svckit::etcd {

using nlohmann::json;

struct GroupCommit::Write {
  std::string key;
  json op;                // {"request_txn": {...}}
  std::size_t bytes = 0;  // of op, serialised
  bool done = false;      // guarded by GroupCommit::mutex_
  Result<Outcome> outcome = make_error(ErrorCode::internal, "etcd: the write was not sent");
};

namespace {

// A follower re-checks this often even without a wake-up (a lost sender cannot strand it).
constexpr std::chrono::milliseconds kFollowerRecheck{1'000};

/// etcd answered and refused the request (rather than not answering at all).
bool refused_by_etcd(const Error& e) {
  return e.code != ErrorCode::unavailable && e.code != ErrorCode::timeout && e.code != ErrorCode::cancelled;
}

/// The outcome of write `i` of a grouped transaction's answer.
Result<GroupCommit::Outcome> outcome_of(const Result<json>& answer, std::size_t i) {
  if (!answer) return answer.error();
  const auto responses = answer->value("responses", json::array());
  if (i >= responses.size() || !responses[i].contains("response_txn")) {
    return make_error(ErrorCode::protocol, "etcd: a grouped transaction's answer lacks a response");
  }
  GroupCommit::Outcome o;
  o.succeeded = responses[i]["response_txn"].value("succeeded", false);
  o.revision = json_int(answer->value("header", json::object()), "revision");
  return o;
}

}  // namespace

std::uint64_t GroupCommit::transactions() const {
  std::lock_guard lock(mutex_);
  return transactions_;
}

GroupCommit::Batch GroupCommit::take_batch_locked() {
  Batch batch;
  std::set<std::string> keys;
  std::size_t bytes = 0;
  for (auto it = queued_.begin(); it != queued_.end() && batch.size() < max_writes_;) {
    const auto& w = *it;
    if (keys.contains(w->key) || (!batch.empty() && bytes + w->bytes > max_bytes_)) {
      ++it;  // the next batch takes it
      continue;
    }
    keys.insert(w->key);
    bytes += w->bytes;
    batch.push_back(w);
    it = queued_.erase(it);
  }
  return batch;
}

void GroupCommit::finish_one(Write& w, const Result<json>& answer, std::size_t i) {
  std::lock_guard lock(mutex_);
  ++transactions_;
  w.done = true;
  w.outcome = outcome_of(answer, i);
}

void GroupCommit::finish(const Batch& batch, const Result<json>& answer) {
  std::lock_guard lock(mutex_);
  if (answer) ++transactions_;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    auto& w = *batch[i];
    if (w.done) continue;  // sent alone already
    w.done = true;
    w.outcome = outcome_of(answer, i);
  }
  --sending_;
}

Awaitable<void> GroupCommit::send(Batch batch) {
  // Ends the batch however this frame ends (also destroyed mid-call at shutdown): its writers and
  // the next sender must not wait for a transaction nobody will answer.
  struct Guard {
    GroupCommit& self;
    const Batch& batch;
    bool finished = false;
    ~Guard() {
      if (!finished) {
        self.finish(batch, make_error(ErrorCode::cancelled, "etcd: the grouped write was abandoned"));
        self.finished_.notify_all();
      }
    }
  } guard{*this, batch};
  json ops = json::array();
  for (const auto& w : batch) ops.push_back(w->op);
  const json body{{"success", std::move(ops)}};
  auto answer = co_await etcd_.call("/v3/kv/txn", body);
  if (!answer && batch.size() > 1 && refused_by_etcd(answer.error())) {
    // etcd refused the request as a whole (one write named a lease that is gone, ...): each
    // write alone, so one bad write fails only itself.
    for (const auto& w : batch) {
      const json alone{{"success", json::array({w->op})}};
      auto one = co_await etcd_.call("/v3/kv/txn", alone);
      finish_one(*w, one, 0);
    }
    answer = make_error(ErrorCode::internal, "sent one by one");
  }
  finish(batch, answer);
  guard.finished = true;
  finished_.notify_all();
}

Awaitable<Result<GroupCommit::Outcome>> GroupCommit::commit(std::string key, json compare, json success) {
  auto mine = std::make_shared<Write>();
  mine->key = std::move(key);
  mine->op = json{{"request_txn", json{{"compare", std::move(compare)}, {"success", std::move(success)}}}};
  mine->bytes = mine->op.dump().size();
  {
    std::lock_guard lock(mutex_);
    queued_.push_back(mine);
  }
  for (;;) {
    auto ticket = finished_.park();  // before looking: a batch finishing from here on wakes us
    Batch batch;
    {
      std::lock_guard lock(mutex_);
      if (mine->done) co_return mine->outcome;
      if (sending_ < max_in_flight_) {
        batch = take_batch_locked();
        if (!batch.empty()) ++sending_;
      }
    }
    if (!batch.empty()) {
      co_await send(std::move(batch));
      continue;
    }
    (void)co_await ticket.wait_for(kFollowerRecheck, sleeper_);
  }
}

}  // namespace svckit::etcd
