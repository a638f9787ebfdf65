// A worker process for the task queue's crash tests: a WorkerPool on a RedisTaskQueue (or, given
// an amqp:// QUEUE_URL, an AmqpTaskQueue) that the tests SIGKILL mid-task. Its handlers leave traces in Redis so the
// tests can see what ran:
//   count {n}: HINCRBY {crash}:runs n 1 (one per execution), then succeeds
//   slow:      first attempt: SET {crash}:started:<id> <worker>, then runs until cancelled;
//              later attempts: INCR {crash}:finished:<id>, then succeed
// Usage: svckit_task_worker REDIS_PORT WORKER_ID CONCURRENCY LEASE_MS [QUEUE_URL]
// SIGTERM stops it gracefully (2 s drain); SIGKILL is what the tests are about.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>
#include <iostream>
#include <string>

#include "svckit/core/sleeper.hpp"
#include "svckit/queue/amqp_task_queue.hpp"
#include "svckit/queue/redis_task_queue.hpp"
#include "svckit/queue/worker_pool.hpp"

namespace {

namespace asio = boost::asio;
using namespace svckit;
using namespace svckit::queue;

struct Count {
  long long n = 0;
};
void from_json(const nlohmann::json& j, Count& out) { out.n = j.at("n").get<long long>(); }

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5 && argc != 6) {
    std::cerr << "usage: svckit_task_worker REDIS_PORT WORKER_ID CONCURRENCY LEASE_MS [QUEUE_URL]\n";
    return 2;
  }
  const int port = std::stoi(argv[1]);
  const std::string worker_id = argv[2];
  const auto concurrency = static_cast<std::size_t>(std::stoul(argv[3]));
  const std::chrono::milliseconds lease(std::stol(argv[4]));

  asio::io_context io;
  RealTimeSource time;
  RealRandom random;
  redis::RedisOptions redis_options;
  redis_options.server = {"127.0.0.1", static_cast<std::uint16_t>(port), false};
  redis_options.max_idle_connections = concurrency + 4;
  redis::RedisClient client(io.get_executor(), redis_options);
  RedisTaskQueueOptions queue_options;
  queue_options.store.lease = lease;
  queue_options.store.retry_backoff = {BackoffKind::full_jitter, std::chrono::milliseconds(10),
                                       std::chrono::milliseconds(100), 2.0};
  RedisTaskQueue redis_queue(client, time, random, queue_options);
  TaskQueue* queue = &redis_queue;
  std::unique_ptr<AmqpTaskQueue> amqp_queue;
  if (argc == 6) {
    auto options = AmqpTaskQueueOptions::from_url(argv[5]);
    if (!options) {
      std::cerr << options.error().describe() << "\n";
      return 2;
    }
    options->store = queue_options.store;
    auto created = AmqpTaskQueue::create(time, random, std::move(*options));
    if (!created) {
      std::cerr << created.error().describe() << "\n";
      return 2;
    }
    amqp_queue = std::move(*created);
    queue = amqp_queue.get();
  }
  WorkerPoolOptions pool_options;
  pool_options.concurrency = concurrency;
  pool_options.worker_id = worker_id;
  pool_options.poll_wait = std::chrono::milliseconds(500);
  WorkerPool pool(io.get_executor(), *queue, random, pool_options);

  pool.handle<Count>("count", [&](Count args, CancelToken&) -> Awaitable<Result<nlohmann::json>> {
    auto trace = redis::command_args("HINCRBY", "{crash}:runs", std::to_string(args.n), "1");
    auto traced = co_await client.command(std::move(trace));
    if (!traced) co_return traced.error();
    co_return nlohmann::json{{"n", args.n}, {"by", worker_id}};
  });
  AsioSleeper sleeper;
  pool.handle("slow", [&](const TaskRecord& task, CancelToken& cancel) -> Awaitable<Result<nlohmann::json>> {
    if (task.attempts == 1) {
      auto mark = redis::command_args("SET", "{crash}:started:" + task.id, worker_id);
      auto marked = co_await client.command(std::move(mark));
      if (!marked) co_return marked.error();
      const std::chrono::nanoseconds forever = std::chrono::hours(1);
      co_await sleeper.sleep_for(forever, &cancel);
      co_return make_error(ErrorCode::cancelled, "stopped");
    }
    auto count = redis::command_args("INCR", "{crash}:finished:" + task.id);
    auto finished = co_await client.command(std::move(count));
    if (!finished) co_return finished.error();
    co_return nlohmann::json{{"by", worker_id}};
  });

  asio::signal_set signals(io, SIGTERM, SIGINT);
  signals.async_wait([&](const boost::system::error_code&, int) {
    asio::co_spawn(
        io,
        [&]() -> Awaitable<void> {
          co_await pool.stop(std::chrono::milliseconds(2000));
          io.stop();
        },
        asio::detached);
  });
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        auto policy = co_await redis_queue.check_server();
        if (!policy) spdlog::warn("event=redis_check_failed error=\"{}\"", policy.error().describe());
        pool.start();
        std::cout << "ready " << worker_id << std::endl;
      },
      asio::detached);
  io.run();
  return 0;
}
