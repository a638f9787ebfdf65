// TaskStore in virtual time: priorities (weighted and strict), delays, leases and their renewal
// and expiry, timeouts, retries with jittered backoff into the dead set, unique keys, admin
// operations and retention — all deterministic (SimulatedClock, FakeRandom).
#include "svckit/queue/task_store.hpp"

#include <gtest/gtest.h>

#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit::queue {
namespace {

using namespace std::chrono_literals;

TaskSpec task(const std::string& name, Priority priority = Priority::medium) {
  TaskSpec spec;
  spec.name = name;
  spec.priority = priority;
  spec.payload = {{"n", name}};
  return spec;
}

class TaskStoreTest : public ::testing::Test {
 protected:
  TaskStoreOptions options() const {
    TaskStoreOptions o;
    o.lease = 30s;
    o.retention = 1h;
    o.max_dead = 3;
    o.retry_backoff = {BackoffKind::full_jitter, 1000ms, 60'000ms, 2.0};
    return o;
  }
  testing::SimulatedClock clock;
  testing::FakeRandom random{7};
  TaskStore store{clock, random, options()};
};

TEST_F(TaskStoreTest, AFetchedTaskIsLeasedAndItsResultKeptForTheRetentionPeriod) {
  auto added = store.enqueue(task("email"));
  ASSERT_TRUE(added) << added.error().describe();
  EXPECT_EQ(added->state, TaskState::pending);
  EXPECT_EQ(added->id.size(), 32u);
  auto got = store.fetch("default", "w1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, added->id);
  EXPECT_EQ(got->state, TaskState::active);
  EXPECT_EQ(got->attempts, 1);
  EXPECT_EQ(got->lease_until, clock.system_now() + 30s);
  EXPECT_FALSE(store.fetch("default", "w2")) << "leased: nobody else gets it";
  EXPECT_FALSE(store.complete(got->id, "w2", {})) << "only the lease holder completes";
  ASSERT_TRUE(store.complete(got->id, "w1", {{"sent", true}}));
  EXPECT_EQ(store.get(got->id)->state, TaskState::succeeded);
  EXPECT_EQ(store.get(got->id)->result["sent"], true);
  EXPECT_EQ(store.counts("default")[TaskState::succeeded], 1u);
  clock.advance(59min);
  EXPECT_EQ(store.sweep(), 0u);
  clock.advance(1min);
  EXPECT_EQ(store.sweep(), 1u);
  EXPECT_FALSE(store.get(got->id));
}

TEST_F(TaskStoreTest, WeightedFetchServesEveryPriorityInProportionAndStrictServesHighFirst) {
  for (int i = 0; i < 1000; ++i) {
    for (auto p : {Priority::high, Priority::medium, Priority::low}) ASSERT_TRUE(store.enqueue(task("t", p)));
  }
  std::map<Priority, int> served;
  for (int i = 0; i < 1000; ++i) {
    auto got = store.fetch("default", "w");
    ASSERT_TRUE(got);
    ++served[got->spec.priority];
  }
  // Weights 6:3:1 → 600/300/100 expected; FakeRandom(7) gives a fixed draw.
  EXPECT_NEAR(served[Priority::high], 600, 50);
  EXPECT_NEAR(served[Priority::medium], 300, 50);
  EXPECT_NEAR(served[Priority::low], 100, 30);
  EXPECT_GT(served[Priority::low], 0) << "low never starves";

  auto o = options();
  o.strict_priority = true;
  TaskStore strict(clock, random, o);
  ASSERT_TRUE(strict.enqueue(task("low", Priority::low)));
  ASSERT_TRUE(strict.enqueue(task("medium", Priority::medium)));
  ASSERT_TRUE(strict.enqueue(task("high", Priority::high)));
  EXPECT_EQ(strict.fetch("default", "w")->spec.name, "high");
  EXPECT_EQ(strict.fetch("default", "w")->spec.name, "medium");
  EXPECT_EQ(strict.fetch("default", "w")->spec.name, "low");
}

TEST_F(TaskStoreTest, DelayedAndTimedTasksWaitUntilTheyAreDue) {
  auto later = task("later");
  later.delay = 10s;
  auto at = task("at");
  at.run_at = clock.system_now() + 20s;
  ASSERT_EQ(store.enqueue(later)->state, TaskState::scheduled);
  ASSERT_EQ(store.enqueue(at)->state, TaskState::scheduled);
  EXPECT_EQ(*store.next_due("default"), clock.system_now() + 10s);
  EXPECT_FALSE(store.fetch("default", "w"));
  clock.advance(10s);
  EXPECT_EQ(store.fetch("default", "w")->spec.name, "later");
  EXPECT_FALSE(store.fetch("default", "w"));
  clock.advance(10s);
  EXPECT_EQ(store.fetch("default", "w")->spec.name, "at");
}

TEST_F(TaskStoreTest, FailuresRetryWithGrowingJitteredBackoffThenGoToTheDeadSet) {
  auto spec = task("flaky");
  spec.max_retries = 2;
  const auto id = store.enqueue(spec)->id;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    ASSERT_TRUE(store.fetch("default", "w"));
    ASSERT_EQ(*store.fail(id, "w", "boom"), TaskState::retry);
    const auto wait = store.get(id)->run_at - clock.system_now();
    EXPECT_LE(wait, std::chrono::milliseconds(1000 << (attempt - 1))) << "full jitter within base × 2^(n-1)";
    EXPECT_GE(wait.count(), 0);
    EXPECT_FALSE(store.fetch("default", "w") && wait > 0ms) << "not before its backoff";
    clock.advance(std::chrono::milliseconds(1000 << (attempt - 1)));
  }
  ASSERT_TRUE(store.fetch("default", "w"));
  EXPECT_EQ(*store.fail(id, "w", "boom 3"), TaskState::dead) << "the first attempt and two retries used";
  EXPECT_EQ(store.get(id)->last_error, "boom 3");
  EXPECT_EQ(store.get(id)->attempts, 3);

  ASSERT_TRUE(store.run_now(id)) << "an operator retries a dead task";
  EXPECT_EQ(store.get(id)->state, TaskState::pending);
  EXPECT_EQ(store.get(id)->attempts, 0);

  auto permanent = store.enqueue(task("bad-input"));
  ASSERT_TRUE(store.fetch("default", "w"));
  ASSERT_TRUE(store.fetch("default", "w"));
  EXPECT_EQ(*store.fail(permanent->id, "w", "invalid payload", /*retryable=*/false), TaskState::failed);
}

TEST_F(TaskStoreTest, ALeaseThatRunsOutIsRecoveredOnceAndTheOldHolderCannotFinishIt) {
  const auto id = store.enqueue(task("long"))->id;
  ASSERT_TRUE(store.fetch("default", "w1"));
  clock.advance(20s);
  auto renewed = store.renew(id, "w1");
  ASSERT_TRUE(renewed);
  EXPECT_EQ(*renewed, clock.system_now() + 30s) << "a heartbeat extends the lease from now";
  clock.advance(29s);
  EXPECT_EQ(store.recover_expired(), 0u);
  clock.advance(1s);  // w1 died: no heartbeat
  EXPECT_EQ(store.recover_expired(), 1u);
  EXPECT_EQ(store.recover_expired(), 0u) << "recovered once";
  EXPECT_EQ(store.redeliveries(), 1u);
  auto after = store.get(id);
  EXPECT_EQ(after->state, TaskState::retry);
  EXPECT_NE(after->last_error.find("lease expired"), std::string::npos);
  clock.advance(1s);
  auto again = store.fetch("default", "w2");
  ASSERT_TRUE(again);
  EXPECT_EQ(again->attempts, 2);
  EXPECT_FALSE(store.complete(id, "w1", {})) << "the old holder's late result is refused";
  EXPECT_FALSE(store.renew(id, "w1"));
  EXPECT_TRUE(store.complete(id, "w2", {}));
}

TEST_F(TaskStoreTest, ATimeoutEndsTheAttemptEvenWhileTheLeaseIsRenewed) {
  auto spec = task("slow");
  spec.timeout = 45s;
  const auto id = store.enqueue(spec)->id;
  ASSERT_TRUE(store.fetch("default", "w"));
  clock.advance(25s);
  ASSERT_TRUE(store.renew(id, "w"));
  clock.advance(20s);
  auto late = store.renew(id, "w");
  ASSERT_FALSE(late);
  EXPECT_EQ(late.error().code, ErrorCode::timeout);
  EXPECT_EQ(store.recover_expired(), 1u) << "due at the deadline (45 s), before the lease (55 s)";
  EXPECT_NE(store.get(id)->last_error.find("timeout"), std::string::npos);
}

TEST_F(TaskStoreTest, AUniqueKeyRefusesDuplicatesWithinItsWindow) {
  auto spec = task("report");
  spec.unique_key = "report:2026-12-02";
  spec.unique_for = 1h;
  const auto first = store.enqueue(spec);
  ASSERT_TRUE(first);
  auto again = store.enqueue(spec);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::limit_exceeded);
  EXPECT_EQ(again.error().field, "unique_key");
  EXPECT_NE(again.error().message.find(first->id), std::string::npos) << "names the holder";
  auto other_queue = spec;
  other_queue.queue = "reports";
  EXPECT_TRUE(store.enqueue(other_queue)) << "keys are per queue";
  clock.advance(1h);
  EXPECT_TRUE(store.enqueue(spec)) << "the window passed";
}

TEST_F(TaskStoreTest, PauseRemoveListAndCounts) {
  const auto a = store.enqueue(task("a"))->id;
  clock.advance(1ms);
  const auto b = store.enqueue(task("b"))->id;
  store.pause("default");
  EXPECT_TRUE(store.paused("default"));
  EXPECT_FALSE(store.fetch("default", "w")) << "a paused queue hands out nothing";
  store.resume("default");
  const auto pending = store.list("default", TaskState::pending);
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].id, a) << "oldest first";
  ASSERT_TRUE(store.remove(a));
  EXPECT_FALSE(store.get(a));
  ASSERT_TRUE(store.fetch("default", "w"));
  EXPECT_FALSE(store.remove(b)) << "a running task is not removed";
  EXPECT_EQ(store.counts("default"), (std::map<TaskState, std::size_t>{{TaskState::active, 1}}));
  EXPECT_FALSE(store.fetch("default", "w")) << "the removed task is gone from the ready list too";
}

TEST_F(TaskStoreTest, TheDeadSetIsBoundedInSize) {
  for (int i = 0; i < 5; ++i) {
    auto spec = task("doomed");
    spec.max_retries = 0;
    const auto id = store.enqueue(spec)->id;
    ASSERT_TRUE(store.fetch("default", "w"));
    ASSERT_EQ(*store.fail(id, "w", "no"), TaskState::dead);
    clock.advance(1s);
  }
  EXPECT_EQ(store.sweep(), 2u) << "max_dead = 3: the two oldest go";
  EXPECT_EQ(store.counts("default")[TaskState::dead], 3u);
}

TEST(TaskSpecValidation, ErrorsNameTheField) {
  TaskSpec spec;
  EXPECT_EQ(validate(spec).error().field, "name");
  spec.name = "ok";
  EXPECT_TRUE(validate(spec));
  auto bad = spec;
  bad.queue = "bad queue";
  EXPECT_EQ(validate(bad).error().field, "queue");
  bad = spec;
  bad.max_retries = 101;
  EXPECT_EQ(validate(bad).error().field, "max_retries");
  bad = spec;
  bad.delay = 1s;
  bad.run_at = SystemTime{};
  EXPECT_EQ(validate(bad).error().field, "run_at");
  bad = spec;
  bad.unique_key = "k";
  EXPECT_EQ(validate(bad).error().field, "unique_for");
  bad = spec;
  bad.payload = std::string(600 * 1024, 'x');
  EXPECT_EQ(validate(bad).error().field, "payload");
  bad = spec;
  bad.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  bad.tracestate = "rojo=1";
  EXPECT_TRUE(validate(bad));
  bad.traceparent = "00-not-a-trace";
  EXPECT_EQ(validate(bad).error().field, "traceparent");
  bad.traceparent.clear();
  EXPECT_EQ(validate(bad).error().field, "tracestate");
  bad.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  bad.tracestate = "Bad State";
  EXPECT_EQ(validate(bad).error().field, "tracestate");
  TaskStoreOptions o;
  o.weights = {6, 0, 1};
  EXPECT_EQ(validate(o).error().field, "weights");
  EXPECT_EQ(to_string(TaskState::dead), "dead");
  EXPECT_EQ(parse_priority("high"), Priority::high);
}

}  // namespace
}  // namespace svckit::queue
