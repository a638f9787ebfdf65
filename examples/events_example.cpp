// publish_event(event_type, data, target_service, priority) — the shape of Python service SDKs — in svckit: a consumer
// group sharing "orders.*" events, a broadcast listener (audit) that gets every event, a targeted event, and a handler
// that keeps failing until its event lands in the group's dead letters. In memory here (MemoryEventBus); broker
// backends implement the same EventBus. Run as a test (example_events); docs/events.md shows it.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <thread>

#include "svckit/events/event_bus.hpp"

namespace asio = boost::asio;
using svckit::events::Awaitable;
using svckit::events::Event;
using svckit::events::Priority;

int main() {
  svckit::RealTimeSource time;
  svckit::RealRandom random;
  svckit::AsioSleeper sleeper;
  asio::io_context io;  // outlives the bus
  svckit::events::MemoryEventBus bus(time, random, sleeper);
  auto work = asio::make_work_guard(io);
  std::thread thread([&] { io.run(); });

  // billing: a consumer group — each order event is handled by one of its members.
  std::atomic<int> billed{0};
  svckit::events::SubscribeOptions billing;
  billing.pattern = "orders.*";
  billing.group = "billing";
  billing.service = "billing";
  billing.max_deliveries = 3;  // then the event goes to the group's dead letters
  billing.retry_backoff.base = std::chrono::milliseconds(5);
  billing.dedupe_window = std::chrono::minutes(5);  // a publisher's retry is handled once
  auto bill = bus.subscribe(io.get_executor(), billing, [&](const Event& e) -> Awaitable<svckit::Result<void>> {
    if (e.data.value("amount", 0) < 0) {
      co_return svckit::make_error(svckit::ErrorCode::invalid_argument, "negative amount");
    }
    ++billed;
    co_return svckit::Result<void>{};
  });
  // audit: a broadcast listener on every event.
  std::atomic<int> audited{0};
  svckit::events::SubscribeOptions audit;
  audit.pattern = ">";
  auto listen = bus.subscribe(io.get_executor(), audit, [&](const Event&) -> Awaitable<svckit::Result<void>> {
    ++audited;
    co_return svckit::Result<void>{};
  });
  if (!bill || !listen) return 1;

  auto publish = [&](std::string type, nlohmann::json data, std::string target, Priority priority) {
    return asio::co_spawn(
               io, svckit::events::publish_event(bus, std::move(type), std::move(data), std::move(target), priority),
               asio::use_future)
        .get();
  };
  auto created = publish("orders.created", {{"order", 1}, {"amount", 30}}, "", Priority::high);
  auto paid = publish("orders.paid", {{"order", 1}, {"amount", 30}}, "billing", Priority::medium);
  auto broken = publish("orders.created", {{"order", 2}, {"amount", -5}}, "", Priority::low);
  if (!created || !paid || !broken) return 1;

  for (int i = 0; i < 500 && ((*bill)->stats().dead_lettered < 1 || billed < 2 || audited < 3); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // an example may poll; tests wait on events
  }
  auto dead = asio::co_spawn(io, bus.dead_letters("billing", 10), asio::use_future).get();
  std::printf("billed %d order event(s); audited %d; dead letters: %zu (%s after %d deliveries)\n", billed.load(),
              audited.load(), dead ? dead->size() : 0, dead && !dead->empty() ? dead->front().error.c_str() : "-",
              dead && !dead->empty() ? dead->front().deliveries : 0);
  asio::co_spawn(io, (*bill)->close(), asio::use_future).get();
  asio::co_spawn(io, (*listen)->close(), asio::use_future).get();
  work.reset();
  thread.join();
  return billed == 2 && audited == 3 && dead && dead->size() == 1 && dead->front().event.id == *broken ? 0 : 1;
}
