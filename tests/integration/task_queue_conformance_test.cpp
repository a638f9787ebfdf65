// One suite, every TaskQueue backend: memory, Redis (a real redis-server) and RabbitMQ (a real
// node) must make the same transitions. Time is a SimulatedClock shared by test and queue (the
// Redis scripts take the client's time), so leases, delays, backoffs, unique windows and retention
// are exact; fetches do not wait (wait 0), so no real timer is involved. RabbitMQ keeps delays,
// backoffs and unique windows in message TTLs on its own clock, and keeps no index to list pending
// tasks by: those tests are skipped for amqp (amqp_task_queue_test.cpp covers them in real time).
#include <gtest/gtest.h>

#include <cctype>
#include <map>
#include <memory>
#include <ostream>

#include "svckit/queue/amqp_task_queue.hpp"
#include "svckit/queue/redis_task_queue.hpp"
#include "svckit/queue/task_queue_url.hpp"
#include "svckit/redis/redis_client.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit::queue {
namespace {

using namespace std::chrono_literals;

/// One redis-server for the whole suite; each test gets its own key prefix.
class SharedRedis {
 public:
  static SharedRedis& get() {
    static SharedRedis redis;
    return redis;
  }
  int port = 0;
  std::string error;

 private:
  SharedRedis() {
    auto started = testing::start_redis(dir_.path(), port);
    if (started) {
      server_ = std::move(*started);
    } else {
      error = started.error().message;
    }
  }
  testing::TempDir dir_;
  testing::ChildProcess server_;
};

/// One RabbitMQ node for the whole suite (a start costs 10-20 s); each test gets its own prefix.
class SharedRabbitMq {
 public:
  static SharedRabbitMq& get() {
    static SharedRabbitMq rabbit;
    return rabbit;
  }
  testing::RabbitMq server;
  std::string error;

 private:
  SharedRabbitMq() {
    if (auto started = testing::start_rabbitmq(dir_.path(), server); !started) error = started.error().message;
  }
  testing::TempDir dir_;
};

enum class Backend { memory, redis, amqp };
const char* backend_name(Backend backend) {
  return backend == Backend::memory ? "memory" : backend == Backend::redis ? "redis" : "amqp";
}
void PrintTo(Backend backend, std::ostream* out) { *out << backend_name(backend); }

/// The tests skipped on amqp, and why: the broker keeps its own clock for delays, backoffs and
/// unique windows, and keeps no index to list pending tasks by. Skipped in SetUp, before a broker
/// is started for them.
const std::map<std::string, std::string>& amqp_skips() {
  static const std::map<std::string, std::string> skips{
      {"DelayedAndScheduledTasksWaitForTheirTime", "delays are message TTLs on the broker's clock"},
      {"AnExpiredLeaseIsAFailedAttemptAndAnotherWorkerGetsTheTask",
       "the retry's backoff is a message TTL on the broker's clock"},
      {"FailuresBackOffWithJitterThenGoDeadAndRunNowRevivesThem", "backoffs are message TTLs on the broker's clock"},
      {"AUniqueKeyRefusesDuplicatesWithinItsWindow", "the unique window is a message TTL on the broker's clock"},
      {"PauseResumeRemoveAndListsByState", "RabbitMQ cannot list or remove pending tasks"},
  };
  return skips;
}

class TaskQueueConformance : public ::testing::TestWithParam<Backend> {
 protected:
  // Background loops (claims, heartbeats) use the client and the queue or bus: the io thread
  // stops before those members go.
  void TearDown() override { io.stop(); }
  void SetUp() override {
    if (GetParam() == Backend::amqp) {
      const std::string test = ::testing::UnitTest::GetInstance()->current_test_info()->name();
      const auto skip = amqp_skips().find(test.substr(0, test.find('/')));
      if (skip != amqp_skips().end()) GTEST_SKIP() << skip->second;
    }
    options.lease = 10s;
    options.retry_backoff = {BackoffKind::full_jitter, 1000ms, 8000ms, 2.0};
    options.retention = 1h;
    open();
  }
  void open() {
    if (GetParam() == Backend::memory) {
      queue = std::make_unique<MemoryTaskQueue>(clock, random, options);
      return;
    }
    if (GetParam() == Backend::amqp) {
      auto& rabbit = SharedRabbitMq::get();
      ASSERT_TRUE(rabbit.error.empty()) << rabbit.error;
      queue.reset();  // its connection's leases go back to the broker before the next one opens
      AmqpTaskQueueOptions o;
      o.port = static_cast<std::uint16_t>(rabbit.server.port);
      o.vhost = rabbit.server.vhost;
      o.store = options;
      o.prefix = std::string("test-") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
      for (auto& c : o.prefix) c = std::isalnum(static_cast<unsigned char>(c)) != 0 ? c : '-';
      o.prefix = o.prefix.substr(0, 64);
      auto created = AmqpTaskQueue::create(clock, random, o);
      ASSERT_TRUE(created) << created.error().describe();
      queue = std::move(*created);
      return;
    }
    auto& redis = SharedRedis::get();
    ASSERT_TRUE(redis.error.empty()) << redis.error;
    redis::RedisOptions ro;
    ro.server = {"127.0.0.1", static_cast<std::uint16_t>(redis.port), false};
    client = std::make_unique<redis::RedisClient>(io.executor(), ro);
    RedisTaskQueueOptions o;
    o.store = options;
    o.prefix = std::string("{test-") + ::testing::UnitTest::GetInstance()->current_test_info()->name() + "}";
    queue = std::make_unique<RedisTaskQueue>(*client, clock, random, o);
  }

  TaskRecord enqueue(TaskSpec s) {
    auto r = io.run([&]() -> Awaitable<Result<TaskRecord>> { co_return co_await queue->enqueue(s); });
    EXPECT_TRUE(r) << r.error().describe();
    return r ? *r : TaskRecord{};
  }
  Result<TaskRecord> try_enqueue(TaskSpec s) {
    return io.run([&]() -> Awaitable<Result<TaskRecord>> { co_return co_await queue->enqueue(s); });
  }
  std::optional<TaskRecord> fetch(const std::string& worker, const std::string& q = "default") {
    auto r = io.run([&]() -> Awaitable<Result<std::optional<TaskRecord>>> {
      co_return co_await queue->fetch(q, worker, std::chrono::milliseconds(0));
    });
    EXPECT_TRUE(r) << r.error().describe();
    return r ? *r : std::nullopt;
  }
  Result<TaskRecord> get(const std::string& id) {
    return io.run([&]() -> Awaitable<Result<TaskRecord>> { co_return co_await queue->get(id); });
  }
  Result<void> complete(const std::string& id, const std::string& worker, nlohmann::json result = {}) {
    return io.run(
        [&]() -> Awaitable<Result<void>> { co_return co_await queue->complete(id, worker, std::move(result)); });
  }
  Result<TaskState> fail(const std::string& id, const std::string& worker, bool retryable = true) {
    return io.run(
        [&]() -> Awaitable<Result<TaskState>> { co_return co_await queue->fail(id, worker, "it broke", retryable); });
  }
  Result<SystemTime> renew(const std::string& id, const std::string& worker) {
    return io.run([&]() -> Awaitable<Result<SystemTime>> { co_return co_await queue->renew(id, worker); });
  }
  std::map<TaskState, std::size_t> counts(const std::string& q = "default") {
    auto r =
        io.run([&]() -> Awaitable<Result<std::map<TaskState, std::size_t>>> { co_return co_await queue->counts(q); });
    EXPECT_TRUE(r) << r.error().describe();
    return r ? *r : std::map<TaskState, std::size_t>{};
  }
  template <class F>
  auto admin(F f) {
    return io.run([&]() -> Awaitable<Result<void>> { co_return co_await f(*queue); });
  }
  static TaskSpec spec(const std::string& name, Priority priority = Priority::medium, int max_retries = 3) {
    TaskSpec s;
    s.name = name;
    s.payload = {{"name", name}};
    s.priority = priority;
    s.max_retries = max_retries;
    return s;
  }

  testing::SimulatedClock clock;
  testing::FakeRandom random;
  TaskStoreOptions options;
  testing::IoThread io;
  std::unique_ptr<redis::RedisClient> client;
  std::unique_ptr<TaskQueue> queue;
};

TEST_P(TaskQueueConformance, ATaskIsLeasedRunAndKeptWithItsResult) {
  const auto task = enqueue(spec("resize"));
  EXPECT_EQ(task.state, TaskState::pending);
  EXPECT_EQ(task.spec.payload["name"], "resize");
  const auto leased = fetch("w1");
  ASSERT_TRUE(leased);
  EXPECT_EQ(leased->id, task.id);
  EXPECT_EQ(leased->state, TaskState::active);
  EXPECT_EQ(leased->attempts, 1);
  EXPECT_EQ(leased->worker, "w1");
  EXPECT_EQ(leased->lease_until, clock.system_now() + 10s);
  EXPECT_EQ(leased->spec.payload, task.spec.payload);
  EXPECT_FALSE(fetch("w2")) << "one task, leased once";
  clock.advance(4s);
  auto renewed = renew(task.id, "w1");
  ASSERT_TRUE(renewed) << renewed.error().describe();
  EXPECT_EQ(*renewed, clock.system_now() + 10s);
  EXPECT_EQ(renew(task.id, "w2").error().code, ErrorCode::not_found) << "only the holder renews";
  ASSERT_TRUE(complete(task.id, "w1", {{"width", 640}}));
  const auto done = get(task.id);
  ASSERT_TRUE(done);
  EXPECT_EQ(done->state, TaskState::succeeded);
  EXPECT_EQ(done->result["width"], 640);
  EXPECT_EQ(done->finished_at, clock.system_now());
  EXPECT_EQ(complete(task.id, "w1").error().code, ErrorCode::not_found) << "completed once";
  EXPECT_EQ(counts(), (std::map<TaskState, std::size_t>{{TaskState::succeeded, 1}}));
  EXPECT_EQ(get("no-such-task").error().code, ErrorCode::not_found);
}

TEST_P(TaskQueueConformance, ATaskKeepsItsTraceContextForItsRuns) {
  auto traced = spec("traced");
  traced.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  traced.tracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
  const auto task = enqueue(traced);
  (void)enqueue(spec("plain"));
  const auto leased = fetch("w1");
  ASSERT_TRUE(leased);
  EXPECT_EQ(leased->spec.traceparent, traced.traceparent);
  EXPECT_EQ(leased->spec.tracestate, traced.tracestate);
  const auto plain = fetch("w1");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->spec.traceparent, "");
  EXPECT_EQ(plain->spec.tracestate, "");
  EXPECT_EQ(get(task.id)->spec.traceparent, traced.traceparent);
}

TEST_P(TaskQueueConformance, ACompletionLeasesTheWorkersNextTaskInTheSameStep) {
  options.strict_priority = true;
  open();
  const auto first = enqueue(spec("first", Priority::high)).id;
  const auto second = enqueue(spec("second")).id;
  const auto leased = fetch("w1");
  ASSERT_TRUE(leased);
  ASSERT_EQ(leased->id, first);
  auto complete_and_fetch = [&](const std::string& id, const std::string& worker) {
    return io.run([&]() -> Awaitable<Result<std::optional<TaskRecord>>> {
      nlohmann::json result = {{"ok", true}};  // named: no braced lists inside co_await (GCC 12)
      const std::string queue_name = "default";
      co_return co_await queue->complete_and_fetch(id, worker, std::move(result), queue_name);
    });
  };
  EXPECT_EQ(complete_and_fetch(first, "w2").error().code, ErrorCode::not_found) << "only the holder completes";
  auto next = complete_and_fetch(first, "w1");
  ASSERT_TRUE(next) << next.error().describe();
  ASSERT_TRUE(*next) << "the next due task comes with the completion";
  EXPECT_EQ((*next)->id, second);
  EXPECT_EQ((*next)->state, TaskState::active);
  EXPECT_EQ((*next)->worker, "w1");
  EXPECT_EQ((*next)->attempts, 1);
  EXPECT_EQ((*next)->lease_until, clock.system_now() + 10s);
  EXPECT_EQ(get(first)->state, TaskState::succeeded);
  EXPECT_EQ(get(first)->result["ok"], true);
  ASSERT_TRUE(admin([&](TaskQueue& q) { return q.pause("default"); }));
  enqueue(spec("third"));
  auto none = complete_and_fetch(second, "w1");
  ASSERT_TRUE(none) << none.error().describe();
  EXPECT_FALSE(*none) << "a paused queue gives no next task; the completion still counts";
  EXPECT_EQ(get(second)->state, TaskState::succeeded);
  EXPECT_EQ(counts()[TaskState::pending], 1u);
}

TEST_P(TaskQueueConformance, StrictPrioritiesAndFifoWithinAPriority) {
  options.strict_priority = true;
  open();
  const auto low = enqueue(spec("low", Priority::low)).id;
  const auto medium1 = enqueue(spec("m1")).id;
  const auto high = enqueue(spec("high", Priority::high)).id;
  const auto medium2 = enqueue(spec("m2")).id;
  for (const auto& expected : {high, medium1, medium2, low}) {
    const auto got = fetch("w");
    ASSERT_TRUE(got);
    EXPECT_EQ(got->id, expected) << got->spec.name;
  }
  EXPECT_FALSE(fetch("w"));
}

TEST_P(TaskQueueConformance, WeightedPrioritiesServeEveryLevelInProportion) {
  for (int i = 0; i < 300; ++i) {
    enqueue(spec("h", Priority::high));
    enqueue(spec("m", Priority::medium));
    enqueue(spec("l", Priority::low));
  }
  std::map<std::string, int> served;
  for (int i = 0; i < 200; ++i) {
    const auto got = fetch("w");
    ASSERT_TRUE(got);
    ++served[got->spec.name];
  }
  // 6:3:1 of 200 is 120:60:20; the bounds are ±4 standard deviations.
  EXPECT_NEAR(served["h"], 120, 28);
  EXPECT_NEAR(served["m"], 60, 26);
  EXPECT_NEAR(served["l"], 20, 17);
  EXPECT_GT(served["l"], 0) << "low never starves";
}

TEST_P(TaskQueueConformance, DelayedAndScheduledTasksWaitForTheirTime) {
  auto delayed = spec("later");
  delayed.delay = 5s;
  const auto a = enqueue(delayed);
  EXPECT_EQ(a.state, TaskState::scheduled);
  EXPECT_EQ(a.run_at, clock.system_now() + 5s);
  auto at = spec("at");
  at.run_at = clock.system_now() + 8s;
  const auto b = enqueue(at);
  EXPECT_EQ(counts()[TaskState::scheduled], 2u);
  EXPECT_FALSE(fetch("w"));
  clock.advance(4999ms);
  EXPECT_FALSE(fetch("w"));
  clock.advance(1ms);
  auto first = fetch("w");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->id, a.id);
  EXPECT_FALSE(fetch("w"));
  clock.advance(3s);
  auto second = fetch("w");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->id, b.id);
}

TEST_P(TaskQueueConformance, AnExpiredLeaseIsAFailedAttemptAndAnotherWorkerGetsTheTask) {
  const auto id = enqueue(spec("job")).id;
  ASSERT_TRUE(fetch("dies"));
  clock.advance(10s);  // the lease runs out; the retry backoff (full jitter ≤ 1 s) follows
  std::optional<TaskRecord> again;
  for (int i = 0; i < 11 && !again; ++i) {
    again = fetch("survivor");
    if (!again) clock.advance(100ms);
  }
  ASSERT_TRUE(again) << "recovered and retried within the first backoff (≤ 1 s)";
  EXPECT_EQ(again->id, id);
  EXPECT_EQ(again->attempts, 2);
  EXPECT_NE(get(id)->last_error.find("lease expired"), std::string::npos);
  EXPECT_EQ(complete(id, "dies").error().code, ErrorCode::not_found) << "the dead worker's late result is refused";
  ASSERT_TRUE(complete(id, "survivor"));
  EXPECT_EQ(get(id)->state, TaskState::succeeded);
  if (auto* redis_queue = dynamic_cast<RedisTaskQueue*>(queue.get())) {
    auto redeliveries =
        io.run([&]() -> Awaitable<Result<std::uint64_t>> { co_return co_await redis_queue->redeliveries("default"); });
    EXPECT_EQ(*redeliveries, 1u);
  } else if (auto* amqp_queue = dynamic_cast<AmqpTaskQueue*>(queue.get())) {
    EXPECT_EQ(amqp_queue->redeliveries(), 1u);
  } else {
    EXPECT_EQ(dynamic_cast<MemoryTaskQueue&>(*queue).redeliveries(), 1u);
  }
}

TEST_P(TaskQueueConformance, ATimeoutEndsTheAttemptEvenWhileTheWorkerRenews) {
  auto s = spec("slow");
  s.timeout = 3s;
  const auto id = enqueue(s).id;
  const auto leased = fetch("w");
  ASSERT_TRUE(leased);
  ASSERT_TRUE(leased->deadline);
  EXPECT_EQ(*leased->deadline, clock.system_now() + 3s);
  clock.advance(2s);
  ASSERT_TRUE(renew(id, "w"));
  clock.advance(1s);
  EXPECT_EQ(renew(id, "w").error().code, ErrorCode::timeout);
  // The next fetch recovers it as a failed attempt (taking it at once if its backoff drew 0 ms).
  const auto other = fetch("other");
  const auto after = get(id);
  EXPECT_EQ(after->state, other ? TaskState::active : TaskState::retry);
  EXPECT_NE(after->last_error.find("timeout"), std::string::npos);
  EXPECT_EQ(complete(id, "w").error().code, ErrorCode::not_found) << "the timed-out attempt cannot complete";
}

TEST_P(TaskQueueConformance, FailuresBackOffWithJitterThenGoDeadAndRunNowRevivesThem) {
  const auto id = enqueue(spec("flaky", Priority::medium, 2)).id;
  for (int attempt = 1; attempt <= 2; ++attempt) {
    ASSERT_TRUE(fetch("w")) << attempt;
    auto state = fail(id, "w");
    ASSERT_TRUE(state);
    EXPECT_EQ(*state, TaskState::retry);
    const auto waiting = get(id);
    // retry n waits uniformly in [0, min(8 s, 1 s × 2^(n-1))]
    const auto ceiling = std::chrono::milliseconds(1000 << (attempt - 1));
    EXPECT_GE(waiting->run_at, clock.system_now());
    EXPECT_LE(waiting->run_at, clock.system_now() + ceiling);
    clock.advance(ceiling);
  }
  ASSERT_TRUE(fetch("w"));
  EXPECT_EQ(*fail(id, "w"), TaskState::dead) << "the first attempt and 2 retries used";
  EXPECT_EQ(get(id)->attempts, 3);
  EXPECT_EQ(counts()[TaskState::dead], 1u);
  ASSERT_TRUE(admin([&](TaskQueue& q) { return q.run_now(id); }));
  const auto revived = fetch("w");
  ASSERT_TRUE(revived);
  EXPECT_EQ(revived->attempts, 1) << "a dead task run again starts counting anew";
  EXPECT_EQ(*fail(id, "w", false), TaskState::failed) << "not retryable: failed at once";
  EXPECT_EQ(counts(), (std::map<TaskState, std::size_t>{{TaskState::failed, 1}}));
}

TEST_P(TaskQueueConformance, AUniqueKeyRefusesDuplicatesWithinItsWindow) {
  auto s = spec("report");
  s.unique_key = "daily-2026-12-02";
  s.unique_for = 60s;
  const auto first = enqueue(s);
  auto again = try_enqueue(s);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::limit_exceeded);
  EXPECT_EQ(again.error().field, "unique_key");
  EXPECT_NE(again.error().message.find(first.id), std::string::npos) << "names the holder";
  auto other_queue = s;
  other_queue.queue = "other";
  EXPECT_TRUE(try_enqueue(other_queue)) << "keys are per queue";
  clock.advance(60s);
  EXPECT_TRUE(try_enqueue(s)) << "the window passed";
}

TEST_P(TaskQueueConformance, PauseResumeRemoveAndListsByState) {
  const auto a = enqueue(spec("a")).id;
  const auto b = enqueue(spec("b")).id;
  ASSERT_TRUE(admin([](TaskQueue& q) { return q.pause("default"); }));
  EXPECT_FALSE(fetch("w")) << "paused";
  ASSERT_TRUE(admin([](TaskQueue& q) { return q.resume("default"); }));
  const auto running = fetch("w");
  ASSERT_TRUE(running);
  EXPECT_EQ(running->id, a);
  auto refused = admin([&](TaskQueue& q) { return q.remove(a); });
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::invalid_argument) << "a running task is not removed";
  auto pending = io.run([&]() -> Awaitable<Result<std::vector<TaskRecord>>> {
    co_return co_await queue->list("default", TaskState::pending, 10);
  });
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 1u);
  EXPECT_EQ(pending->front().id, b);
  ASSERT_TRUE(admin([&](TaskQueue& q) { return q.remove(b); }));
  EXPECT_EQ(get(b).error().code, ErrorCode::not_found);
  EXPECT_EQ(admin([&](TaskQueue& q) { return q.remove(b); }).error().code, ErrorCode::not_found);
  EXPECT_EQ(counts(), (std::map<TaskState, std::size_t>{{TaskState::active, 1}}));
}

TEST_P(TaskQueueConformance, FinishedTasksAreSweptAfterTheirRetention) {
  const auto id = enqueue(spec("once")).id;
  ASSERT_TRUE(fetch("w"));
  ASSERT_TRUE(complete(id, "w"));
  clock.advance(59min);
  EXPECT_FALSE(fetch("w"));  // a fetch sweeps
  EXPECT_TRUE(get(id)) << "kept for the retention";
  clock.advance(1min);
  EXPECT_FALSE(fetch("w"));
  EXPECT_EQ(get(id).error().code, ErrorCode::not_found);
}

TEST_P(TaskQueueConformance, BadTasksAreRefusedNamingTheField) {
  auto s = spec("x");
  s.queue = "no spaces";
  auto r = try_enqueue(s);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().field, "queue");
  s = spec("x");
  s.max_retries = 101;
  EXPECT_EQ(try_enqueue(s).error().field, "max_retries");
  EXPECT_TRUE(counts().empty()) << "nothing was stored";
}

TEST(TaskQueueUrl, ConnectsByUrlAndRefusesWhatIsNoTaskQueue) {
  testing::SimulatedClock clock;
  testing::FakeRandom random;
  testing::IoThread io;
  auto& redis = SharedRedis::get();
  ASSERT_TRUE(redis.error.empty()) << redis.error;
  auto& rabbit = SharedRabbitMq::get();
  ASSERT_TRUE(rabbit.error.empty()) << rabbit.error;
  const std::vector<std::string> urls{"memory://",
                                      "redis://127.0.0.1:" + std::to_string(redis.port) + "?prefix={by-url}",
                                      rabbit.server.url() + "?prefix=by-url"};
  for (const auto& url : urls) {
    SCOPED_TRACE(url);
    auto queue = connect_task_queue(url, io.executor(), clock, random);
    ASSERT_TRUE(queue) << queue.error().describe();
    TaskSpec s;
    s.name = "resize";
    s.payload = {{"image", 7}};
    auto fetched = io.run([&]() -> Awaitable<Result<std::optional<TaskRecord>>> {
      auto stored = co_await (*queue)->enqueue(s);
      if (!stored) co_return stored.error();
      const std::chrono::milliseconds no_wait{0};
      std::string name = "default";
      std::string worker = "w1";
      co_return co_await (*queue)->fetch(std::move(name), std::move(worker), no_wait);
    });
    ASSERT_TRUE(fetched) << fetched.error().describe();
    ASSERT_TRUE(fetched->has_value());
    EXPECT_EQ((*fetched)->spec.payload["image"], 7);
    io.run([&]() -> Awaitable<void> {
      nlohmann::json result = {{"ok", true}};
      std::string worker = "w1";
      auto done = co_await (*queue)->complete((*fetched)->id, std::move(worker), std::move(result));
      EXPECT_TRUE(done) << done.error().describe();
    });
  }
  for (const std::string_view url : {"amqp://mq:5672?colour=red", "kafka://k:9092", "memory://host"}) {
    auto refused = connect_task_queue(url, io.executor(), clock, random);
    ASSERT_FALSE(refused) << url;
    EXPECT_EQ(refused.error().code, ErrorCode::invalid_argument) << url;
  }
  EXPECT_EQ(connect_task_queue("amqp://mq?colour=red", io.executor(), clock, random).error().field, "colour");
  io.stop();
}

INSTANTIATE_TEST_SUITE_P(All, TaskQueueConformance, ::testing::Values(Backend::memory, Backend::redis, Backend::amqp),
                         [](const auto& info) { return backend_name(info.param); });

}  // namespace
}  // namespace svckit::queue
