// WorkerPool in virtual time: heartbeats at lease/3 keep a long task's lease through several
// leases, and a handler past its timeout is cancelled and its task ends dead with the reason. On
// the injected clock, so the verdict never depends on how loaded the machine is (it did when this
// ran on real 1 s leases).
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>

#include "svckit/queue/metered_task_queue.hpp"
#include "svckit/queue/task_queue.hpp"
#include "svckit/queue/worker_pool.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/metric_value.hpp"
#include "svckit/testing/virtual_time.hpp"
#include "svckit/trace/tracer.hpp"

namespace svckit::queue {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

TaskSpec sleepy(int ms, int max_retries) {
  TaskSpec s;
  s.name = "sleepy";
  s.payload = nlohmann::json{{"ms", ms}};
  s.max_retries = max_retries;
  return s;
}

TEST(WorkerPoolVirtualTime, AHandlerIsCancelledAtItsTimeoutWhileHeartbeatsKeepLongOnesAlive) {
  asio::io_context io;
  testing::VirtualTime time(io);
  testing::FakeRandom random;
  TaskStoreOptions options;
  options.lease = 1s;
  options.retry_backoff = {BackoffKind::full_jitter, 1ms, 5ms, 2.0};
  MemoryTaskQueue queue(time, random, options, &time);
  WorkerPool pool(io.get_executor(), queue, random, {"default", 2, "w"}, &time);
  int cancelled = 0;
  pool.handle("sleepy", [&](const TaskRecord& task, CancelToken& cancel) -> Awaitable<Result<nlohmann::json>> {
    const std::chrono::nanoseconds nap = std::chrono::milliseconds(task.spec.payload.at("ms").get<int>());
    CancelToken* const token = &cancel;
    const bool slept = co_await time.sleep_for(nap, token);
    if (!slept) {
      ++cancelled;
      co_return make_error(ErrorCode::cancelled, "cancelled");
    }
    co_return nlohmann::json{{"slept", task.spec.payload.at("ms")}};
  });
  std::string timed_out, long_one;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        auto slow = sleepy(10'000, 0);
        slow.timeout = 200ms;
        auto first = co_await queue.enqueue(slow);
        auto second = co_await queue.enqueue(sleepy(3'200, 3));  // over three leases of 1 s
        EXPECT_TRUE(first && second);
        if (first && second) {
          timed_out = first->id;
          long_one = second->id;
        }
      },
      asio::detached);
  time.run_until(time.steady_now());
  ASSERT_FALSE(timed_out.empty());
  pool.start();
  time.run_until(time.steady_now() + 10s);

  std::optional<TaskRecord> dead, kept;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        auto a = co_await queue.get(timed_out);
        auto b = co_await queue.get(long_one);
        if (a) dead = *a;
        if (b) kept = *b;
      },
      asio::detached);
  time.run_until(time.steady_now());
  ASSERT_TRUE(dead && kept);
  EXPECT_EQ(dead->state, TaskState::dead);
  EXPECT_NE(dead->last_error.find("timeout"), std::string::npos) << dead->last_error;
  EXPECT_EQ(cancelled, 1) << "the handler past its timeout saw its token cancelled";
  EXPECT_EQ(kept->state, TaskState::succeeded);
  EXPECT_EQ(kept->attempts, 1) << "heartbeats kept its lease: never redelivered";
  EXPECT_EQ(pool.stats().succeeded, 1u);
  EXPECT_EQ(pool.stats().lost_leases, 0u);

  bool stopped = false;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        co_await pool.stop(0ms);
        stopped = true;
      },
      asio::detached);
  time.run_until(time.steady_now() + 5s);
  EXPECT_TRUE(stopped);
}

TEST(WorkerPoolVirtualTime, AMeteredQueueCountsEveryOutcomeItsRunTimesAndItsDepth) {
  asio::io_context io;
  testing::VirtualTime time(io);
  testing::FakeRandom random;
  TaskStoreOptions options;
  options.lease = 1s;
  options.retry_backoff = {BackoffKind::full_jitter, 1ms, 5ms, 2.0};
  MemoryTaskQueue memory(time, random, options, &time);
  MetricsRegistry metrics;
  MeteredTaskQueue queue(memory, metrics, time);
  WorkerPool pool(io.get_executor(), queue, random, {"default", 2, "w"}, &time);
  int flaky_runs = 0;
  pool.handle("work", [&](const TaskRecord& task, CancelToken&) -> Awaitable<Result<nlohmann::json>> {
    const auto kind = task.spec.payload.at("kind").get<std::string>();
    const std::chrono::nanoseconds nap = 300ms;
    co_await time.sleep_for(nap, nullptr);
    if (kind == "bad") co_return make_error(ErrorCode::invalid_argument, "bad payload");
    if (kind == "flaky" && ++flaky_runs == 1) co_return make_error(ErrorCode::unavailable, "try again");
    if (kind == "doomed") co_return make_error(ErrorCode::unavailable, "never works");
    co_return nlohmann::json{{"ok", true}};
  });
  auto spec = [](const std::string& kind, int max_retries, std::chrono::milliseconds delay = 0ms) {
    TaskSpec s;
    s.name = "work";
    s.payload = {{"kind", kind}};
    s.max_retries = max_retries;
    s.delay = delay;
    return s;
  };
  int enqueued = 0;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        std::vector<TaskSpec> specs{spec("ok", 0), spec("flaky", 2), spec("bad", 2), spec("doomed", 1),
                                    spec("later", 0, 1h)};
        for (auto& s : specs) {
          auto made = co_await queue.enqueue(s);
          if (made) ++enqueued;
        }
      },
      asio::detached);
  time.run_until(time.steady_now());
  ASSERT_EQ(enqueued, 5);
  pool.start();
  time.run_until(time.steady_now() + 10s);

  const auto text = metrics.render_prometheus();
  auto value = [&](const std::string& series) { return testing::metric_value(text, series).value_or(-1); };
  EXPECT_EQ(value(R"(svckit_tasks_enqueued_total{queue="default",result="ok"})"), 5) << text;
  const std::string finished = R"(svckit_tasks_finished_total{queue="default",task="work",outcome=)";
  EXPECT_EQ(value(finished + R"("succeeded"})"), 2);  // ok, flaky's second run
  EXPECT_EQ(value(finished + R"("retried"})"), 2);    // flaky's first run, doomed's first run
  EXPECT_EQ(value(finished + R"("failed"})"), 1);     // bad: not retryable
  EXPECT_EQ(value(finished + R"("dead"})"), 1);       // doomed, out of retries
  const auto stats = pool.stats();
  EXPECT_EQ(stats.succeeded, 2U);
  EXPECT_EQ(stats.dead + stats.failed, 2U);
  // Every run took 300 ms of virtual time: six runs in the 0.5 s bucket, none below.
  EXPECT_EQ(value(R"(svckit_task_run_seconds_count{queue="default",task="work"})"), 6);
  EXPECT_EQ(value(R"(svckit_task_run_seconds_bucket{queue="default",task="work",le="0.1"})"), 0);
  EXPECT_EQ(value(R"(svckit_task_run_seconds_bucket{queue="default",task="work",le="0.5"})"), 6);
  // The depth as of the workers' last poll: the delayed task waits, nothing else is left.
  EXPECT_EQ(value(R"(svckit_task_queue_depth{queue="default",state="scheduled"})"), 1);
  EXPECT_EQ(value(R"(svckit_task_queue_depth{queue="default",state="pending"})"), 0);
  EXPECT_EQ(value(R"(svckit_task_queue_depth{queue="default",state="active"})"), 0);
  EXPECT_EQ(value(R"(svckit_task_queue_depth{queue="default",state="dead"})"), 1);

  bool stopped = false;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        co_await pool.stop(0ms);
        stopped = true;
      },
      asio::detached);
  time.run_until(time.steady_now() + 5s);
  EXPECT_TRUE(stopped);
}

struct SpanList final : trace::SpanSink {
  void on_end(trace::SpanData span) override { spans.push_back(std::move(span)); }
  std::vector<trace::SpanData> spans;
};

std::string attribute(const trace::SpanData& span, const std::string& key) {
  for (const auto& a : span.attributes) {
    if (a.key != key) continue;
    if (const auto* text = std::get_if<std::string_view>(&a.value)) return std::string(*text);
    if (const auto* number = std::get_if<std::int64_t>(&a.value)) return std::to_string(*number);
  }
  return "(none)";
}

TEST(WorkerPoolVirtualTime, ATracedQueueContinuesTheEnqueuersTraceIntoEveryRunAndTheHandler) {
  asio::io_context io;
  testing::VirtualTime time(io);
  testing::FakeRandom random;
  TaskStoreOptions options;
  options.lease = 1s;
  options.retry_backoff = {BackoffKind::full_jitter, 1ms, 5ms, 2.0};
  MemoryTaskQueue memory(time, random, options, &time);
  MetricsRegistry metrics;
  SpanList sink;
  trace::Tracer tracer(time, random, {0.0}, &sink);  // ratio 0: only the sampled parent below is traced
  MeteredTaskQueue queue(memory, metrics, time, &tracer);
  WorkerPool pool(io.get_executor(), queue, random, {"default", 1, "w"}, &time);
  std::vector<std::string> seen;  // the traceparent each run's handler got
  pool.handle("charge", [&](const TaskRecord& task, CancelToken&) -> Awaitable<Result<nlohmann::json>> {
    seen.push_back(task.spec.traceparent);
    if (seen.size() == 1) co_return make_error(ErrorCode::unavailable, "card service down");
    co_return nlohmann::json{{"ok", true}};
  });
  const std::string order_span = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  std::string task_id;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        TaskSpec s;
        s.name = "charge";
        s.max_retries = 2;
        s.traceparent = order_span;
        s.tracestate = "shop=7";
        auto made = co_await queue.enqueue(std::move(s));
        if (made) task_id = made->id;
      },
      asio::detached);
  time.run_until(time.steady_now());
  ASSERT_FALSE(task_id.empty());
  pool.start();
  time.run_until(time.steady_now() + 5s);

  ASSERT_EQ(sink.spans.size(), 3U);  // enqueue, the failed run, the run that succeeded
  const auto& enqueue = sink.spans[0];
  EXPECT_EQ(enqueue.name, "enqueue charge");
  EXPECT_EQ(enqueue.kind, trace::SpanKind::producer);
  EXPECT_EQ(enqueue.context.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(trace::to_hex(enqueue.parent_span_id), "00f067aa0ba902b7");
  EXPECT_EQ(attribute(enqueue, "messaging.message.id"), task_id);
  EXPECT_EQ(attribute(enqueue, "messaging.destination.name"), "default");
  ASSERT_EQ(seen.size(), 2U);
  for (std::size_t i = 1; i < 3; ++i) {
    const auto& run = sink.spans[i];
    EXPECT_EQ(run.name, "run charge");
    EXPECT_EQ(run.kind, trace::SpanKind::consumer);
    EXPECT_EQ(run.context.trace_id, enqueue.context.trace_id);
    EXPECT_EQ(run.parent_span_id, enqueue.context.span_id) << "every attempt is a child of the enqueue";
    EXPECT_EQ(run.context.tracestate, "shop=7");
    EXPECT_EQ(attribute(run, "svckit.task.attempt"), std::to_string(i));
    EXPECT_EQ(seen[i - 1], run.context.traceparent()) << "the handler's calls join the run's span";
  }
  EXPECT_EQ(attribute(sink.spans[1], "svckit.task.outcome"), "retried");
  EXPECT_EQ(sink.spans[1].status, trace::StatusCode::error);
  EXPECT_NE(sink.spans[1].status_message.find("card service down"), std::string::npos) << sink.spans[1].status_message;
  EXPECT_EQ(attribute(sink.spans[2], "svckit.task.outcome"), "succeeded");
  EXPECT_EQ(sink.spans[2].status, trace::StatusCode::unset);

  bool stopped = false;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        co_await pool.stop(0ms);
        stopped = true;
      },
      asio::detached);
  time.run_until(time.steady_now() + 5s);
  EXPECT_TRUE(stopped);
}

}  // namespace
}  // namespace svckit::queue
