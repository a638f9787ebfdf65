// Prometheus series for a service's task queue, event bus and cache: the decorators and the
// collector wrap what the service already has, and one MetricsRegistry renders them all at
// GET /metrics. In memory here; the same decorators wrap RedisTaskQueue, RedisEventBus,
// AmqpEventBus and NatsEventBus. Run as a test (example_observability); docs/observability.md shows it.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <thread>

#include "svckit/cache/cache_metrics.hpp"
#include "svckit/events/metered_event_bus.hpp"
#include "svckit/queue/metered_task_queue.hpp"
#include "svckit/queue/worker_pool.hpp"

namespace asio = boost::asio;

int main() {
  svckit::RealTimeSource time;
  svckit::RealRandom random;
  svckit::AsioSleeper sleeper;
  svckit::MetricsRegistry metrics;  // one per process, rendered at GET /metrics

  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread thread([&] { io.run(); });

  // Task queue: producers and workers go through the decorator.
  svckit::queue::MemoryTaskQueue memory_queue(time, random);
  svckit::queue::MeteredTaskQueue queue(memory_queue, metrics, time);
  svckit::queue::WorkerPool pool(io.get_executor(), queue, random, {"emails", 2, ""});
  pool.handle("send_email",
              [](const svckit::queue::TaskRecord&,
                 svckit::CancelToken&) -> svckit::queue::Awaitable<svckit::Result<nlohmann::json>> {
                co_return nlohmann::json{{"sent", true}};
              });
  pool.start();
  for (int i = 0; i < 3; ++i) {
    svckit::queue::TaskSpec email;
    email.queue = "emails";
    email.name = "send_email";
    if (!asio::co_spawn(io, queue.enqueue(email), asio::use_future).get()) return 1;
  }

  // Event bus: publishers and subscribers go through the decorator.
  svckit::events::MemoryEventBus memory_bus(time, random, sleeper);
  svckit::events::MeteredEventBus bus(memory_bus, metrics, time);
  svckit::events::SubscribeOptions billing;
  billing.pattern = "orders.*";
  billing.group = "billing";
  std::atomic<int> handled{0};
  auto subscription = bus.subscribe(
      io.get_executor(), billing, [&](const svckit::events::Event&) -> svckit::events::Awaitable<svckit::Result<void>> {
        ++handled;
        co_return svckit::Result<void>{};
      });
  if (!subscription) return 1;
  if (!asio::co_spawn(io, svckit::events::publish_event(bus, "orders.created", {{"id", 1}}), asio::use_future).get()) {
    return 1;
  }

  // Cache: a collector reads its stats at each scrape.
  auto products = svckit::cache::Cache<int, std::string>::create({}, time);
  if (!products) return 1;
  auto exported = svckit::cache::export_cache_metrics(metrics, "products", **products);
  (*products)->put(1, "tea");
  (void)(*products)->get(1);
  (void)(*products)->get(2);

  // Wait (bounded) until the work is done, then render what Prometheus would scrape.
  for (int i = 0; i < 500 && (pool.stats().succeeded < 3 || handled < 1); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const auto text = metrics.render_prometheus();
  for (const char* series :
       {"svckit_tasks_finished_total{queue=\"emails\",task=\"send_email\",outcome=\"succeeded\"} 3",
        "svckit_events_handled_total{group=\"billing\",pattern=\"orders.*\",result=\"ok\"} 1",
        "svckit_cache_hits_total{cache=\"products\"} 1", "svckit_cache_misses_total{cache=\"products\"} 1"}) {
    std::printf("%s: %s\n", series, text.find(series) != std::string::npos ? "found" : "MISSING");
    if (text.find(series) == std::string::npos) return 1;
  }

  asio::co_spawn(io, (*subscription)->close(), asio::use_future).get();
  asio::co_spawn(io, pool.stop(std::chrono::seconds(1)), asio::use_future).get();
  work.reset();
  io.stop();
  thread.join();
  return 0;
}
