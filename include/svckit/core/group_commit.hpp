// GroupCommit: concurrent submit() calls share round trips. The first item is flushed at once (no
// added latency when idle); items submitted while a flush is in flight wait for the next one and
// go together (at most max_batch per flush). Under load each flush carries as many items as
// arrived during the previous one — the database "group commit", used where a server's cost is per
// request rather than per item (Redis scripts of the task queue).
//
//   GroupCommit<Task, Result<Reply>> enqueues(
//       [&](std::vector<Task> batch) -> Awaitable<std::vector<Result<Reply>>> { ... one call ... }, 256);
//   auto reply = co_await enqueues.submit(task);
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "svckit/core/sleeper.hpp"

namespace svckit {

/// Thread-safe: submit() from any coroutine on any executor. The flush function must return
/// exactly one Out per item, in order (errors as Out values: it must not throw); it runs on the
/// executor of the submit() that started it, one flush at a time per GroupCommit. Items still
/// pending when the GroupCommit is destroyed are flushed (the flusher keeps the state alive).
template <class In, class Out>
class GroupCommit {
 public:
  using Flush = std::function<boost::asio::awaitable<std::vector<Out>>(std::vector<In>)>;

  GroupCommit(Flush flush, std::size_t max_batch) : state_(std::make_shared<State>()) {
    state_->flush = std::move(flush);
    state_->max_batch = max_batch == 0 ? 1 : max_batch;
  }

  boost::asio::awaitable<Out> submit(In item) {
    const auto executor = co_await boost::asio::this_coro::executor;
    auto slot = std::make_shared<Slot>(std::move(item), executor);
    bool lead = false;
    {
      std::lock_guard lock(state_->mutex);
      state_->pending.push_back(slot);
      lead = !state_->flushing;
      state_->flushing = true;
    }
    if (lead) boost::asio::co_spawn(executor, run(state_), boost::asio::detached);
    // The flusher sets `out` before it wakes the slot; a wake that comes first is not lost.
    const auto far = std::chrono::steady_clock::now() + std::chrono::hours(24 * 365);
    co_await slot->done.wait_until(far);
    std::lock_guard lock(state_->mutex);
    co_return std::move(*slot->out);
  }

  /// Flushes so far and the items they carried (for tests and metrics).
  std::pair<std::uint64_t, std::uint64_t> flushes_and_items() const {
    std::lock_guard lock(state_->mutex);
    return {state_->flushes, state_->items};
  }

 private:
  struct Slot {
    Slot(In in, const boost::asio::any_io_executor& executor) : item(std::move(in)), done(executor) {}
    In item;
    std::optional<Out> out;  // guarded by State::mutex
    WakeableWait done;
  };
  struct State {
    mutable std::mutex mutex;
    std::deque<std::shared_ptr<Slot>> pending;  // guarded by mutex
    bool flushing = false;                      // guarded by mutex
    std::uint64_t flushes = 0, items = 0;       // guarded by mutex
    Flush flush;
    std::size_t max_batch = 1;
  };

  static boost::asio::awaitable<void> run(std::shared_ptr<State> state) {
    for (;;) {
      std::vector<std::shared_ptr<Slot>> batch;
      std::vector<In> items;
      {
        std::lock_guard lock(state->mutex);
        if (state->pending.empty()) {
          state->flushing = false;
          co_return;
        }
        while (!state->pending.empty() && batch.size() < state->max_batch) {
          batch.push_back(std::move(state->pending.front()));
          state->pending.pop_front();
        }
        ++state->flushes;
        state->items += batch.size();
      }
      items.reserve(batch.size());
      for (auto& slot : batch) items.push_back(std::move(slot->item));
      auto outs = co_await state->flush(std::move(items));
      {
        std::lock_guard lock(state->mutex);
        for (std::size_t i = 0; i < batch.size(); ++i) batch[i]->out.emplace(std::move(outs.at(i)));
      }
      for (auto& slot : batch) slot->done.wake();
    }
  }

  std::shared_ptr<State> state_;
};

}  // namespace svckit
