// GroupCommit: guarded etcd writes that arrive together go to etcd as ONE transaction — each write
// a nested transaction (etcd 3.3+) with its own compare — so N concurrent writers cost etcd one
// request and one raft entry instead of N (a group commit, as databases batch their log flushes).
//
// No timer: the first writer sends at once; writers that arrive while a transaction is in flight
// queue up and go together in the next one, sent by one of them as soon as the current one
// answered. So an idle store sees no added latency and a busy one gets larger batches.
// A batch holds at most `max_writes` writes (etcd refuses transactions of over 128 operations by
// default), at most `max_bytes` of request, and never two writes of the same key (etcd refuses a
// transaction that names a key twice).
//
// Thread-safety: commit() may be called from any thread and coroutine; the client must outlive
// this object and every commit() must have returned before it is destroyed.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "svckit/core/sleeper.hpp"
#include "svckit/core/wait_list.hpp"
#include "svckit/etcd/etcd_client.hpp"

namespace svckit::etcd {

class GroupCommit {
 public:
  struct Outcome {
    bool succeeded = false;     // the write's compare held and its operations ran
    std::int64_t revision = 0;  // etcd's revision after the transaction that carried it
  };
  explicit GroupCommit(EtcdClient& etcd, std::size_t max_in_flight = 2, std::size_t max_writes = 64,
                       std::size_t max_bytes = 512 * 1024)
      : etcd_(etcd), max_in_flight_(max_in_flight), max_writes_(max_writes), max_bytes_(max_bytes) {}
  GroupCommit(const GroupCommit&) = delete;
  GroupCommit& operator=(const GroupCommit&) = delete;

  /// Runs `compare` -> `success` (etcd's RequestOp arrays) as one nested transaction of a group.
  /// `key`: the key the write guards (no batch carries two writes of one key). Errors are the
  /// whole transaction's (etcd unreachable, timeout, an invalid request): then the write may or
  /// may not have happened.
  Awaitable<Result<Outcome>> commit(std::string key, nlohmann::json compare, nlohmann::json success);

  /// Transactions sent so far (each carried one or more writes).
  std::uint64_t transactions() const;

 private:
  struct Write;
  using Batch = std::vector<std::shared_ptr<Write>>;
  /// Takes the next batch off the queue (under the lock).
  Batch take_batch_locked();
  Awaitable<void> send(Batch batch);
  /// Sets the outcome of every write of `batch` not finished yet; ends the sending turn.
  void finish(const Batch& batch, const Result<nlohmann::json>& answer);
  /// Sets one write's outcome: write `i` of `answer`.
  void finish_one(Write& w, const Result<nlohmann::json>& answer, std::size_t i);

  EtcdClient& etcd_;
  const std::size_t max_in_flight_;
  const std::size_t max_writes_;
  const std::size_t max_bytes_;
  mutable std::mutex mutex_;
  std::deque<std::shared_ptr<Write>> queued_;  // guarded by mutex_
  std::size_t sending_ = 0;                    // guarded by mutex_: batches in flight
  std::uint64_t transactions_ = 0;             // guarded by mutex_
  WaitList finished_;                          // woken after every batch
  AsioSleeper sleeper_;
};

}  // namespace svckit::etcd
