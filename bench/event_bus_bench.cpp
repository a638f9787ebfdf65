// Events publish → consume on every EventBus backend, one run, side by side: `publishers`
// coroutines publish N events (each waits for the broker's confirmation) while one consumer group
// with `concurrency` handlers takes them. Figures: confirmed publishes/s, end-to-end events/s
// (first publish to last handled), and publish → handler latency p50/p99. The brokers
// (redis-server, nats-server with JetStream, RabbitMQ) are started here on free loopback ports
// with data in a temporary folder, and stopped after. bench/event_bus_bench.sh builds and runs it.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <functional>
#include <mutex>
#include <thread>

#include "svckit/events/amqp_event_bus.hpp"
#include "svckit/events/nats_event_bus.hpp"
#include "svckit/events/redis_event_bus.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/servers.hpp"

namespace {

namespace asio = boost::asio;
using namespace svckit;
using namespace svckit::events;
using Clock = std::chrono::steady_clock;

struct Figures {
  double publish_per_s = 0, end_to_end_per_s = 0, p50_ms = 0, p99_ms = 0;
  std::uint64_t errors = 0;
};

using PublishFn = std::function<Awaitable<Result<std::string>>(Event)>;

/// Publishes `events` from `publishers` coroutines (through `publish`, default: the bus's own) and
/// consumes them in one group; blocks until every event was handled (or two minutes passed).
Figures run(EventBus& bus, asio::io_context& io, int events, int publishers, std::size_t concurrency,
            const TimeSource& time, PublishFn publish = {}) {
  if (!publish) publish = [&bus](Event e) { return bus.publish(std::move(e)); };
  std::mutex mutex;
  std::vector<double> latencies_ms;
  latencies_ms.reserve(static_cast<std::size_t>(events));
  std::atomic<int> handled{0};
  SubscribeOptions o;
  o.pattern = "bench.*";
  o.group = "bench";
  o.concurrency = concurrency;
  auto sub = bus.subscribe(io.get_executor(), o, [&](const Event& e) -> Awaitable<Result<void>> {
    const double ms = std::chrono::duration<double, std::milli>(time.system_now() - e.time).count();
    {
      std::lock_guard lock(mutex);
      latencies_ms.push_back(ms);
    }
    handled.fetch_add(1);
    co_return Result<void>{};
  });
  Figures f;
  if (!sub) {
    std::fprintf(stderr, "subscribe: %s\n", sub.error().describe().c_str());
    f.errors = 1;
    return f;
  }
  while (!(*sub)->ready()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  std::atomic<std::uint64_t> errors{0};
  std::atomic<int> left{publishers};
  std::atomic<double> publish_seconds{0};
  const auto start = Clock::now();
  auto publisher = [&](int count) -> Awaitable<void> {
    for (int i = 0; i < count; ++i) {
      Event e;
      e.type = "bench.tick";
      e.data = {{"n", i}};
      auto r = co_await publish(std::move(e));
      if (!r) errors.fetch_add(1);
    }
    if (left.fetch_sub(1) == 1) publish_seconds = std::chrono::duration<double>(Clock::now() - start).count();
  };
  const int share = events / publishers;
  for (int p = 0; p < publishers; ++p) {
    asio::co_spawn(io, publisher(p == publishers - 1 ? events - share * (publishers - 1) : share), asio::detached);
  }
  const auto deadline = Clock::now() + std::chrono::seconds(120);
  // Both: every event handled, and every publisher back (a confirm may arrive after the delivery).
  while ((handled.load() + static_cast<int>(errors.load()) < events || left.load() > 0) && Clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double total = std::chrono::duration<double>(Clock::now() - start).count();  // ≥ the last handled
  asio::co_spawn(io, (*sub)->close(), asio::use_future).get();
  f.errors = errors.load();
  f.publish_per_s = publish_seconds.load() > 0 ? events / publish_seconds.load() : 0;
  f.end_to_end_per_s = handled.load() / total;
  std::lock_guard lock(mutex);
  std::sort(latencies_ms.begin(), latencies_ms.end());
  if (!latencies_ms.empty()) {
    f.p50_ms = latencies_ms[latencies_ms.size() / 2];
    f.p99_ms = latencies_ms[std::min(latencies_ms.size() - 1, latencies_ms.size() * 99 / 100)];
  }
  return f;
}

void print(const char* name, const Figures& f) {
  std::printf("%-28s %12.0f %14.0f %10.2f %10.2f %8llu\n", name, f.publish_per_s, f.end_to_end_per_s, f.p50_ms,
              f.p99_ms, static_cast<unsigned long long>(f.errors));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"svckit event bus benchmark: every backend, side by side"};
  int events = 20'000;
  int publishers = 32;
  std::size_t concurrency = 32;
  std::string only;
  app.add_option("--events", events, "events per backend")->check(CLI::Range(1, 10'000'000));
  app.add_option("--publishers", publishers, "concurrent publishing coroutines")->check(CLI::Range(1, 1024));
  app.add_option("--concurrency", concurrency, "handlers running at once")->check(CLI::Range(1, 1024));
  app.add_option("--only", only, "one backend: memory, redis, nats or amqp");
  CLI11_PARSE(app, argc, argv);

  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread runner([&] { io.run(); });
  RealTimeSource time;
  RealRandom random;
  AsioSleeper sleeper;
  testing::TempDir dir;
  std::printf("%d events per backend, %d publishers, a group with %zu handlers, %u cores\n", events, publishers,
              concurrency, std::thread::hardware_concurrency());
  std::printf("%-28s %12s %14s %10s %10s %8s\n", "backend", "publish/s", "end-to-end/s", "p50 ms", "p99 ms", "errors");
  int failed = 0;
  auto wanted = [&](const char* name) { return only.empty() || only == name; };
  auto report = [&](const char* name, const Figures& f) {
    print(name, f);
    if (f.errors != 0) failed = 1;
  };

  if (wanted("memory")) {
    MemoryEventBus bus(time, random, sleeper);
    report("memory://", run(bus, io, events, publishers, concurrency, time));
  }
  if (wanted("redis")) {
    int port = 0;
    std::filesystem::create_directories(dir.path() / "redis");
    auto server =
        testing::start_redis(dir.path() / "redis", port, {"--appendonly", "yes", "--appendfsync", "everysec"});
    if (!server) {
      std::fprintf(stderr, "%s\n", server.error().message.c_str());
      return 1;
    }
    redis::RedisOptions ro;
    ro.server = {"127.0.0.1", static_cast<std::uint16_t>(port), false};
    ro.max_idle_connections = static_cast<std::size_t>(publishers) + concurrency + 4;
    redis::RedisClient client(io.get_executor(), ro);
    RedisEventBus bus(client, time, random, sleeper);
    report("redis:// (AOF everysec)", run(bus, io, events, publishers, concurrency, time));
  }
  if (wanted("nats")) {
    int port = 0;
    std::filesystem::create_directories(dir.path() / "nats");
    auto server = testing::start_nats(dir.path() / "nats", port);
    if (!server) {
      std::fprintf(stderr, "%s\n", server.error().message.c_str());
      return 1;
    }
    NatsEventBusOptions o;
    o.servers = {"nats://127.0.0.1:" + std::to_string(port)};
    auto bus = NatsEventBus::connect(time, random, sleeper, o);
    if (!bus) {
      std::fprintf(stderr, "%s\n", bus.error().describe().c_str());
      return 1;
    }
    report("nats:// (JetStream, file)", run(**bus, io, events, publishers, concurrency, time));
    auto& nats = **bus;
    PublishFn unconfirmed = [&nats](Event e) -> Awaitable<Result<std::string>> {
      co_return nats.publish_unconfirmed(std::move(e));
    };
    report("nats:// fire-and-forget", run(nats, io, events, publishers, concurrency, time, unconfirmed));
  }
  if (wanted("amqp")) {
    testing::RabbitMq rabbit;
    std::filesystem::create_directories(dir.path() / "rabbitmq");
    auto started = testing::start_rabbitmq(dir.path() / "rabbitmq", rabbit);
    if (!started) {
      std::fprintf(stderr, "%s\n", started.error().message.c_str());
      return 1;
    }
    AmqpEventBusOptions o;
    o.port = static_cast<std::uint16_t>(rabbit.port);
    auto bus = AmqpEventBus::connect(time, random, sleeper, o);
    if (!bus) {
      std::fprintf(stderr, "%s\n", bus.error().describe().c_str());
      return 1;
    }
    report("amqp:// (RabbitMQ, durable)", run(**bus, io, events, publishers, concurrency, time));
  }
  work.reset();
  io.stop();
  runner.join();
  return failed;
}
