// AmqpTaskQueue against a real RabbitMQ node, in real time — what the conformance suite cannot
// show on a simulated clock: delays, run_at and retry backoffs kept by the broker's TTLs; dead and
// failed letters read, run again and removed; an outcome travelling back to the enqueuing process;
// a lost connection handing its leases back (counted as attempts, a task that keeps killing its
// workers going dead); unique keys for their window; a pause seen by another process; and
// confirmed tasks surviving a broker SIGKILL. Each test uses its own prefix on one shared node;
// the restart test has a node of its own.
#include <gtest/gtest.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

#include <csignal>
#include <functional>
#include <set>

#include "svckit/queue/amqp_task_queue.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"

namespace svckit::queue {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

class SharedNode {
 public:
  static SharedNode& get() {
    static SharedNode node;
    return node;
  }
  testing::RabbitMq server;
  std::string error;

 private:
  SharedNode() {
    if (auto started = testing::start_rabbitmq(dir_.path(), server); !started) error = started.error().message;
  }
  testing::TempDir dir_;
};

class AmqpTaskQueueTest : public ::testing::Test {
 protected:
  void TearDown() override {
    queues.clear();
    io.stop();
  }
  /// A queue (its own connection: another process, as far as the broker can tell).
  /// On `own` (a node of the test's own), else on this process's node (see SharedNode).
  AmqpTaskQueue& open(const testing::RabbitMq* own = nullptr, std::chrono::milliseconds lease = 10s,
                      const std::function<void(AmqpTaskQueueOptions&)>& tweak = {}) {
    if (own == nullptr) {
      auto& node = SharedNode::get();
      EXPECT_TRUE(node.error.empty()) << node.error;
      own = &node.server;
    }
    AmqpTaskQueueOptions o;
    o.port = static_cast<std::uint16_t>(own->port);
    o.vhost = own->vhost;
    o.prefix = std::string("rt-") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    o.prefix = o.prefix.substr(0, 64);
    o.store.lease = lease;
    o.store.strict_priority = true;
    o.store.retry_backoff = {BackoffKind::fixed, 300ms, 300ms, 1.0};
    o.pause_check = 0ms;  // every fetch asks the broker whether the queue is paused
    o.broker_timeout = 2s;
    if (tweak) tweak(o);
    auto created = AmqpTaskQueue::create(time, random, o);
    EXPECT_TRUE(created) << created.error().describe();
    queues.push_back(std::move(*created));
    return *queues.back();
  }
  static TaskSpec spec(const std::string& name, int max_retries = 3) {
    TaskSpec s;
    s.name = name;
    s.payload = {{"name", name}};
    s.max_retries = max_retries;
    return s;
  }
  Result<TaskRecord> enqueue(TaskQueue& q, TaskSpec s) {
    return io.run([&]() -> Awaitable<Result<TaskRecord>> { co_return co_await q.enqueue(s); });
  }
  std::optional<TaskRecord> fetch(TaskQueue& q, const std::string& worker, std::chrono::milliseconds wait = 0ms) {
    auto r = io.run(
        [&]() -> Awaitable<Result<std::optional<TaskRecord>>> { co_return co_await q.fetch("default", worker, wait); });
    EXPECT_TRUE(r) << r.error().describe();
    return r ? *r : std::nullopt;
  }
  Result<TaskState> fail(TaskQueue& q, const std::string& id, const std::string& worker, bool retryable = true) {
    return io.run(
        [&]() -> Awaitable<Result<TaskState>> { co_return co_await q.fail(id, worker, "it broke", retryable); });
  }
  Result<void> complete(TaskQueue& q, const std::string& id, const std::string& worker, nlohmann::json result = {}) {
    return io.run([&]() -> Awaitable<Result<void>> { co_return co_await q.complete(id, worker, result); });
  }
  Result<TaskRecord> get(TaskQueue& q, const std::string& id) {
    return io.run([&]() -> Awaitable<Result<TaskRecord>> { co_return co_await q.get(id); });
  }
  std::map<TaskState, std::size_t> counts(TaskQueue& q) {
    auto r = io.run(
        [&]() -> Awaitable<Result<std::map<TaskState, std::size_t>>> { co_return co_await q.counts("default"); });
    EXPECT_TRUE(r) << r.error().describe();
    return r ? *r : std::map<TaskState, std::size_t>{};
  }
  template <class F>
  Result<void> admin(TaskQueue& q, F f) {
    return io.run([&]() -> Awaitable<Result<void>> { co_return co_await f(q); });
  }
  static double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  }

  RealTimeSource time;
  testing::FakeRandom random{11};
  testing::IoThread io;
  std::vector<std::unique_ptr<AmqpTaskQueue>> queues;
};

TEST_F(AmqpTaskQueueTest, DelaysAndRunAtWaitOnTheBrokersClock) {
  auto& q = open();
  const auto t0 = Clock::now();
  auto later = spec("later");
  later.delay = 300ms;
  auto a = enqueue(q, later);
  ASSERT_TRUE(a) << a.error().describe();
  EXPECT_EQ(a->state, TaskState::scheduled);
  auto at = spec("at");
  at.run_at = time.system_now() + 700ms;
  auto b = enqueue(q, at);
  ASSERT_TRUE(b);
  EXPECT_EQ(counts(q)[TaskState::scheduled], 2u);
  EXPECT_FALSE(fetch(q, "w")) << "nothing is due yet";
  auto first = fetch(q, "w", 5s);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, a->id);
  EXPECT_GE(ms_since(t0), 300.0);
  auto second = fetch(q, "w", 5s);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, b->id);
  EXPECT_GE(ms_since(t0), 700.0);
  EXPECT_EQ(second->run_at, b->run_at) << "the record keeps the time asked for";
}

/// Publishes `body` into `queue` as any AMQP client could (default exchange, routing key = queue).
void publish_raw(const testing::RabbitMq& node, const std::string& queue, const std::string& body) {
  amqp_connection_state_t c = amqp_new_connection();
  amqp_socket_t* socket = amqp_tcp_socket_new(c);
  ASSERT_EQ(amqp_socket_open(socket, "127.0.0.1", node.port), AMQP_STATUS_OK);
  ASSERT_EQ(amqp_login(c, node.vhost.c_str(), 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest").reply_type,
            AMQP_RESPONSE_NORMAL);
  amqp_channel_open(c, 1);
  ASSERT_EQ(amqp_get_rpc_reply(c).reply_type, AMQP_RESPONSE_NORMAL);
  EXPECT_EQ(amqp_basic_publish(c, 1, amqp_empty_bytes, amqp_cstring_bytes(queue.c_str()), 0, 0, nullptr,
                               amqp_bytes_t{body.size(), const_cast<char*>(body.data())}),
            AMQP_STATUS_OK);
  amqp_channel_close(c, 1, AMQP_REPLY_SUCCESS);
  amqp_connection_close(c, AMQP_REPLY_SUCCESS);
  amqp_destroy_connection(c);
}

TEST_F(AmqpTaskQueueTest, AMessageThatIsNoTaskIsSetAsideAndProcessesWithOtherOptionsShareTheQueues) {
  auto& q = open();
  EXPECT_TRUE(counts(q).empty());  // declares the queues
  const auto prefix = std::string("rt-") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
  publish_raw(SharedNode::get().server, prefix.substr(0, 64) + ".default.medium", "{\"not\": \"a task\"");
  publish_raw(SharedNode::get().server, prefix.substr(0, 64) + ".default.medium",
              R"({"id": 7, "queue": [], "name": "x"})");
  const auto good = enqueue(q, spec("real"));
  ASSERT_TRUE(good);
  auto got = fetch(q, "w", 2s);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->id, good->id) << "the two malformed messages were set aside";
  EXPECT_EQ(counts(q)[TaskState::failed], 2u);

  // A process with other options (the dead-letter queues' bound) uses the queues as declared.
  auto& other = open(nullptr, 10s, [](AmqpTaskQueueOptions& o) { o.store.max_dead = 5; });
  EXPECT_EQ(counts(other)[TaskState::failed], 2u);
  ASSERT_TRUE(enqueue(other, spec("from-other")));
  EXPECT_TRUE(fetch(q, "w", 2s)) << "one set of queues";
}

TEST_F(AmqpTaskQueueTest, FailuresBackOffThenGoDeadAndDeadOrFailedTasksAreReadRunAgainAndRemoved) {
  auto& q = open();
  const auto id = enqueue(q, spec("flaky", 1))->id;
  ASSERT_TRUE(fetch(q, "w"));
  EXPECT_EQ(*fail(q, id, "w"), TaskState::retry);
  EXPECT_EQ(get(q, id)->state, TaskState::retry);
  const auto t0 = Clock::now();
  EXPECT_FALSE(fetch(q, "w")) << "backing off";
  auto again = fetch(q, "w", 5s);
  ASSERT_TRUE(again);
  EXPECT_GE(ms_since(t0), 250.0) << "the 300 ms backoff (rounded to the wait queue's 10 ms)";
  EXPECT_EQ(again->attempts, 2);
  EXPECT_EQ(again->last_error, "it broke");
  EXPECT_EQ(*fail(q, id, "w"), TaskState::dead) << "the first attempt and 1 retry used";
  EXPECT_EQ(counts(q)[TaskState::dead], 1u);
  auto dead = io.run([&]() -> Awaitable<Result<std::vector<TaskRecord>>> {
    co_return co_await q.list("default", TaskState::dead, 10);
  });
  ASSERT_TRUE(dead) << dead.error().describe();
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ(dead->front().id, id);
  EXPECT_EQ(dead->front().attempts, 2);
  EXPECT_EQ(counts(q)[TaskState::dead], 1u) << "listing put it back";
  ASSERT_TRUE(admin(q, [&](TaskQueue& x) { return x.run_now(id); }));
  auto revived = fetch(q, "w", 2s);
  ASSERT_TRUE(revived);
  EXPECT_EQ(revived->attempts, 1) << "a dead task run again starts counting anew";
  EXPECT_EQ(*fail(q, id, "w", false), TaskState::failed) << "not retryable: failed at once";
  EXPECT_EQ(counts(q), (std::map<TaskState, std::size_t>{{TaskState::failed, 1}}));
  ASSERT_TRUE(admin(q, [&](TaskQueue& x) { return x.remove(id); }));
  EXPECT_TRUE(counts(q).empty());
  EXPECT_EQ(admin(q, [&](TaskQueue& x) { return x.remove(id); }).error().code, ErrorCode::not_found);
  const auto pending = enqueue(q, spec("waiting"))->id;
  EXPECT_EQ(admin(q, [&](TaskQueue& x) { return x.run_now(pending); }).error().code, ErrorCode::invalid_argument)
      << "only dead and failed tasks";
  auto listed = io.run([&]() -> Awaitable<Result<std::vector<TaskRecord>>> {
    co_return co_await q.list("default", TaskState::pending, 10);
  });
  EXPECT_EQ(listed.error().field, "state") << "pending tasks cannot be listed without taking them";
}

TEST_F(AmqpTaskQueueTest, AnOutcomeTravelsBackToTheProcessThatEnqueued) {
  auto& producer = open();
  auto& worker = open();
  auto task = spec("resize");
  task.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const auto id = enqueue(producer, task)->id;
  auto leased = fetch(worker, "w1", 2s);
  ASSERT_TRUE(leased);
  EXPECT_EQ(leased->spec.traceparent, task.traceparent);
  ASSERT_TRUE(complete(worker, id, "w1", {{"width", 640}}));
  ASSERT_TRUE(testing::wait_until([&] { return get(producer, id)->state == TaskState::succeeded; }, 5s));
  EXPECT_EQ(get(producer, id)->result["width"], 640);
  EXPECT_EQ(get(worker, id)->state, TaskState::succeeded) << "the worker knows it too";
  EXPECT_EQ(counts(producer)[TaskState::succeeded], 1u);
  auto& stranger = open();
  EXPECT_EQ(get(stranger, id).error().code, ErrorCode::not_found) << "records live where the task was";

  // What a process remembers is bounded by bytes too: 1 KB payloads, 8 KB of records.
  auto& small = open(nullptr, 10s, [](AmqpTaskQueueOptions& o) { o.max_record_bytes = 8 << 10; });
  std::vector<std::string> ids;
  for (int i = 0; i < 20; ++i) {
    auto big = spec("big");
    big.payload = {{"blob", std::string(1000, 'x')}};
    ids.push_back(enqueue(small, big)->id);
  }
  EXPECT_EQ(get(small, ids.front()).error().code, ErrorCode::not_found) << "the oldest went";
  auto newest = get(small, ids.back());
  ASSERT_TRUE(newest);
  EXPECT_EQ(newest->spec.payload["blob"].get<std::string>().size(), 1000U);
}

TEST_F(AmqpTaskQueueTest, ALostConnectionHandsItsLeasesBackAndATaskThatKeepsKillingWorkersGoesDead) {
  const auto id = enqueue(open(), spec("poison", 1))->id;
  auto& a = open();
  ASSERT_TRUE(fetch(a, "a", 2s));
  queues.pop_back();  // a's connection closes: the broker returns the delivery
  auto& b = open();
  auto second = fetch(b, "b", 5s);
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, id);
  EXPECT_EQ(second->attempts, 2) << "the return counts as an attempt (x-delivery-count)";
  EXPECT_GE(b.redeliveries(), 1u);
  queues.pop_back();
  auto& c = open();
  EXPECT_FALSE(fetch(c, "c", 1s)) << "1 retry was allowed: it is dead, not handed out a third time";
  EXPECT_EQ(counts(c)[TaskState::dead], 1u);

  // A lease that runs out while its process lives: the next fetch recovers it as an attempt.
  auto& short_lease = open(nullptr, 200ms);
  const auto slow = enqueue(short_lease, spec("slow"))->id;
  ASSERT_TRUE(fetch(short_lease, "stalls"));
  auto recovered = fetch(short_lease, "survivor", 3s);
  ASSERT_TRUE(recovered);
  EXPECT_EQ(recovered->id, slow);
  EXPECT_EQ(recovered->attempts, 2);
  EXPECT_NE(recovered->last_error.find("lease expired"), std::string::npos) << recovered->last_error;
  EXPECT_EQ(complete(short_lease, slow, "stalls").error().code, ErrorCode::not_found);
  EXPECT_TRUE(complete(short_lease, slow, "survivor"));
}

TEST_F(AmqpTaskQueueTest, AUniqueKeyIsTakenForItsWindowAndAPauseReachesOtherProcesses) {
  auto& q = open();
  auto s = spec("report");
  s.unique_key = "daily-2026-12-06";
  s.unique_for = 500ms;
  const auto first = enqueue(q, s);
  ASSERT_TRUE(first);
  auto again = enqueue(q, s);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::limit_exceeded);
  EXPECT_EQ(again.error().field, "unique_key");
  EXPECT_NE(again.error().message.find(first->id), std::string::npos) << "names the holder";
  EXPECT_TRUE(testing::wait_until([&] { return enqueue(q, s).ok(); }, 5s)) << "the window passes";

  auto& other = open();
  ASSERT_TRUE(fetch(other, "w"));
  ASSERT_TRUE(admin(q, [](TaskQueue& x) { return x.pause("default"); }));
  ASSERT_TRUE(enqueue(q, spec("held")));
  EXPECT_FALSE(fetch(other, "w")) << "paused";
  ASSERT_TRUE(admin(q, [](TaskQueue& x) { return x.resume("default"); }));
  EXPECT_TRUE(testing::wait_until([&] { return fetch(other, "w").has_value(); }, 2s)) << "resumed";
}

TEST_F(AmqpTaskQueueTest, ConfirmedTasksSurviveABrokerKilledMidRun) {
  testing::TempDir dir;
  testing::RabbitMq node;
  auto started = testing::start_rabbitmq(dir.path(), node, testing::RabbitMqNode::own);  // it is killed
  ASSERT_TRUE(started) << started.error().message;
  auto& q = open(&node);
  constexpr int kTasks = 200;
  std::set<std::string> ids;
  for (int i = 0; i < kTasks; ++i) {
    auto r = enqueue(q, spec("kept"));
    ASSERT_TRUE(r) << r.error().describe();
    ids.insert(r->id);
  }
  EXPECT_NE(node.broker.stop(SIGKILL), -1);
  auto known = get(q, *ids.begin());
  ASSERT_TRUE(known) << "with the broker away, what this process knows: " << known.error().describe();
  EXPECT_EQ(known->state, TaskState::pending);
  auto refused = enqueue(q, spec("while-down"));
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::unavailable) << refused.error().describe();
  started = testing::start_rabbitmq(dir.path(), node);
  ASSERT_TRUE(started) << started.error().message;
  std::set<std::string> seen;
  ASSERT_TRUE(testing::wait_until(
      [&] {
        auto r = io.run([&]() -> Awaitable<Result<std::optional<TaskRecord>>> {
          co_return co_await q.fetch("default", "w", std::chrono::milliseconds(0));
        });
        if (r && *r) {
          seen.insert((*r)->id);
          (void)complete(q, (*r)->id, "w");
        }
        return seen.size() == ids.size();
      },
      60s))
      << seen.size() << " of " << kTasks;
  EXPECT_EQ(seen, ids) << "every confirmed task, none twice";
}

}  // namespace
}  // namespace svckit::queue
