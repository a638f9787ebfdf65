// GroupCommit on one thread, flushes held open by a gate the test controls: the first item goes
// out alone and at once, items that arrive during a flush go together in the next (at most
// max_batch), every submitter gets its own result, and a flush's error reaches each of its items.
#include "svckit/core/group_commit.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include "svckit/core/result.hpp"

namespace svckit {
namespace {

class GroupCommitTest : public ::testing::Test {
 protected:
  using Commit = GroupCommit<int, Result<int>>;

  /// A flush that records its batch, waits for the test's gate (when closed), then answers
  /// item × 10 — or an error for every item when `fail_next` is set.
  Commit::Flush recording_flush() {
    return [this](std::vector<int> batch) -> boost::asio::awaitable<std::vector<Result<int>>> {
      batches.push_back(batch);
      if (gate_closed) {
        gate.emplace(io.get_executor());
        const auto far = std::chrono::steady_clock::now() + std::chrono::hours(1);
        co_await gate->wait_until(far);
      }
      std::vector<Result<int>> out;
      for (const int item : batch) {
        if (fail_next) {
          out.emplace_back(make_error(ErrorCode::unavailable, "server down"));
        } else {
          out.emplace_back(item * 10);
        }
      }
      fail_next = false;
      co_return out;
    };
  }
  void submit(Commit& commit, int item) {
    boost::asio::co_spawn(
        io, [&commit, item, this]() -> boost::asio::awaitable<void> { results[item] = co_await commit.submit(item); },
        boost::asio::detached);
  }
  void open_gate() {
    gate_closed = false;
    gate->wake();
  }

  boost::asio::io_context io;
  std::vector<std::vector<int>> batches;
  std::map<int, Result<int>> results;
  std::optional<WakeableWait> gate;
  bool gate_closed = true;
  bool fail_next = false;
};

TEST_F(GroupCommitTest, TheFirstItemGoesAloneAndItemsArrivingDuringAFlushGoTogether) {
  Commit commit(recording_flush(), 100);
  submit(commit, 1);
  io.poll();
  ASSERT_EQ(batches.size(), 1u) << "flushed at once, without waiting for company";
  for (int i = 2; i <= 4; ++i) submit(commit, i);
  io.poll();
  EXPECT_EQ(batches.size(), 1u) << "one flush at a time";
  open_gate();
  io.run();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0], std::vector<int>({1}));
  EXPECT_EQ(batches[1], std::vector<int>({2, 3, 4}));
  for (int i = 1; i <= 4; ++i) EXPECT_EQ(*results.at(i), i * 10) << "each submitter gets its own answer";
  EXPECT_EQ(commit.flushes_and_items(), std::make_pair(std::uint64_t{2}, std::uint64_t{4}));
}

TEST_F(GroupCommitTest, BatchesAreBoundedAndAFlushErrorReachesEachOfItsItems) {
  Commit commit(recording_flush(), 2);
  submit(commit, 1);
  io.poll();
  for (int i = 2; i <= 6; ++i) submit(commit, i);
  io.poll();
  fail_next = true;  // the first flush fails
  open_gate();
  io.run();
  ASSERT_EQ(batches.size(), 4u);
  EXPECT_EQ(batches[1], std::vector<int>({2, 3}));
  EXPECT_EQ(batches[3], std::vector<int>({6}));
  EXPECT_EQ(results.at(1).error().code, ErrorCode::unavailable);
  for (int i = 2; i <= 6; ++i) EXPECT_EQ(*results.at(i), i * 10);
  // Idle again: the next item is flushed at once, alone.
  submit(commit, 7);
  io.restart();
  io.run();
  EXPECT_EQ(batches.back(), std::vector<int>({7}));
}

}  // namespace
}  // namespace svckit
