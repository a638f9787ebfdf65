// Task queue throughput on Redis (or, with --amqp, on a RabbitMQ node this program starts), end to
// end: producers enqueue N tasks while a WorkerPool with a no-op handler consumes them; the figure
// is N / (time from the first enqueue to the last completion). bench/task_queue_bench.sh runs it
// next to BullMQ on the same redis-server with the same N and concurrency
// (bench/npm/bullmq_bench.js), and the amqp:// row after them, and prints all.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <thread>

#include "svckit/queue/amqp_task_queue.hpp"
#include "svckit/queue/redis_task_queue.hpp"
#include "svckit/queue/worker_pool.hpp"
#include "svckit/testing/servers.hpp"

namespace {

namespace asio = boost::asio;
using namespace svckit;
using namespace svckit::queue;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"svckit task queue benchmark (Redis, or RabbitMQ with --amqp)"};
  int port = 6379;
  int tasks = 20'000;
  std::size_t concurrency = 16;
  int producers = 8;
  int threads = 1;
  std::string queue_name = "bench";
  app.add_option("--redis-port", port, "redis-server port on 127.0.0.1");
  app.add_option("--tasks", tasks, "tasks to enqueue and run")->check(CLI::Range(1, 10'000'000));
  app.add_option("--concurrency", concurrency, "handlers running at once")->check(CLI::Range(1, 4096));
  app.add_option("--producers", producers, "concurrent enqueueing coroutines")->check(CLI::Range(1, 1024));
  app.add_option("--threads", threads, "io_context threads")->check(CLI::Range(1, 64));
  app.add_option("--queue", queue_name, "queue name");
  bool amqp = false;
  app.add_flag("--amqp", amqp, "run on an AmqpTaskQueue, on a RabbitMQ node started here (not on Redis)");
  CLI11_PARSE(app, argc, argv);

  asio::io_context io;
  RealTimeSource time;
  RealRandom random;
  redis::RedisOptions redis_options;
  redis_options.server = {"127.0.0.1", static_cast<std::uint16_t>(port), false};
  redis_options.max_idle_connections = concurrency + static_cast<std::size_t>(producers) + 4;
  redis::RedisClient client(io.get_executor(), redis_options);
  RedisTaskQueue redis_queue(client, time, random);
  TaskQueue* chosen = &redis_queue;
  testing::TempDir rabbit_dir;
  testing::RabbitMq rabbit;
  std::unique_ptr<AmqpTaskQueue> amqp_queue;
  if (amqp) {
    if (auto started = testing::start_rabbitmq(rabbit_dir.path(), rabbit); !started) {
      std::fprintf(stderr, "rabbitmq-server: %s\n", started.error().message.c_str());
      return 1;
    }
    AmqpTaskQueueOptions o;
    o.port = static_cast<std::uint16_t>(rabbit.port);
    auto created = AmqpTaskQueue::create(time, random, o);
    if (!created) {
      std::fprintf(stderr, "%s\n", created.error().describe().c_str());
      return 1;
    }
    amqp_queue = std::move(*created);
    chosen = amqp_queue.get();
  }
  TaskQueue& queue = *chosen;
  WorkerPoolOptions pool_options;
  pool_options.queue = queue_name;
  pool_options.concurrency = concurrency;
  pool_options.worker_id = "bench";
  WorkerPool pool(io.get_executor(), queue, random, pool_options);
  pool.handle("noop",
              [](const TaskRecord&, CancelToken&) -> Awaitable<Result<nlohmann::json>> { co_return nlohmann::json{}; });

  std::atomic<int> enqueued{0};
  std::atomic<int> enqueue_errors{0};
  const auto start = Clock::now();
  std::atomic<double> enqueue_seconds{0};
  std::atomic<int> producers_left{producers};
  auto producer = [&](int first, int count) -> Awaitable<void> {
    for (int i = 0; i < count; ++i) {
      TaskSpec spec;
      spec.queue = queue_name;
      spec.name = "noop";
      spec.payload = {{"n", first + i}};
      auto r = co_await queue.enqueue(std::move(spec));
      if (r) {
        enqueued.fetch_add(1);
      } else {
        enqueue_errors.fetch_add(1);
      }
    }
    if (producers_left.fetch_sub(1) == 1) enqueue_seconds = seconds_since(start);
  };
  pool.start();
  const int share = tasks / producers;
  for (int p = 0; p < producers; ++p) {
    const int count = p == producers - 1 ? tasks - share * (producers - 1) : share;
    asio::co_spawn(io, producer(p * share, count), asio::detached);
  }
  std::vector<std::thread> runners;
  for (int t = 0; t < threads; ++t) runners.emplace_back([&] { io.run(); });
  while (pool.stats().succeeded < static_cast<std::uint64_t>(tasks) && enqueue_errors.load() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double total = seconds_since(start);
  asio::co_spawn(io, pool.stop(std::chrono::milliseconds(1000)), asio::use_future).get();
  io.stop();
  for (auto& r : runners) r.join();
  if (enqueue_errors.load() != 0) {
    std::fprintf(stderr, "enqueue failed %d times\n", enqueue_errors.load());
    return 1;
  }
  std::printf("svckit %s: %d tasks, concurrency %zu, %d producers: enqueue %.0f/s, end to end %.0f tasks/s (%.2f s)\n",
              amqp ? "AmqpTaskQueue" : "RedisTaskQueue", tasks, concurrency, producers, tasks / enqueue_seconds.load(),
              tasks / total, total);
  std::printf("RESULT %s %.0f\n", amqp ? "amqp" : "svckit", tasks / total);
  return 0;
}
