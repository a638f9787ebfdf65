// A task queue in the shape Python workers know (Celery, RQ): enqueue_task with a priority, a worker pool with a typed
// handler, retries with backoff and a dead-letter (dead) set, and a periodic task. In memory here;
// RedisTaskQueue is the same TaskQueue across processes. Run as a test (example_task_queue);
// docs/task-queue.md shows it.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_future.hpp>
#include <cstdio>
#include <thread>

#include "svckit/queue/periodic.hpp"
#include "svckit/queue/worker_pool.hpp"

namespace asio = boost::asio;
using svckit::queue::Awaitable;

struct Email {
  std::string to;
  std::string subject;
};
void from_json(const nlohmann::json& j, Email& e) {
  j.at("to").get_to(e.to);
  j.at("subject").get_to(e.subject);
}

int main() {
  svckit::RealTimeSource time;
  svckit::RealRandom random;
  svckit::queue::TaskStoreOptions options;
  options.retry_backoff.base = std::chrono::milliseconds(10);  // quick retries for the example
  svckit::queue::MemoryTaskQueue queue(time, random, options);

  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread thread([&] { io.run(); });

  svckit::queue::WorkerPool pool(io.get_executor(), queue, random, {"emails", 4, ""});
  std::atomic<int> sent{0};
  pool.handle<Email>("send_email", [&](Email email, svckit::CancelToken&) -> Awaitable<svckit::Result<nlohmann::json>> {
    if (email.to.empty()) co_return svckit::make_error(svckit::ErrorCode::unavailable, "no mail server for ''");
    ++sent;
    co_return nlohmann::json{{"delivered_to", email.to}};
  });

  // enqueue_task(name, payload, priority): a high-priority email and one that keeps failing.
  auto enqueue = [&](nlohmann::json payload, svckit::queue::Priority priority) {
    svckit::queue::TaskSpec spec;
    spec.queue = "emails";
    spec.name = "send_email";
    spec.payload = std::move(payload);
    spec.priority = priority;
    spec.max_retries = 2;
    return asio::co_spawn(io, queue.enqueue(spec), asio::use_future).get();
  };
  // A periodic task: a digest every 200 ms (in production: Schedule::cron("0 8 * * 1-5")).
  std::atomic<int> digests{0};
  pool.handle("send_digest",
              [&](const svckit::queue::TaskRecord&, svckit::CancelToken&) -> Awaitable<svckit::Result<nlohmann::json>> {
                ++digests;
                co_return nlohmann::json{};
              });
  svckit::AsioSleeper sleeper;
  svckit::queue::PeriodicScheduler scheduler(queue, time, sleeper);
  svckit::queue::TaskSpec digest;
  digest.queue = "emails";
  digest.name = "send_digest";
  if (!scheduler.add({"digest", *svckit::queue::Schedule::every(std::chrono::milliseconds(200)), digest})) return 1;
  svckit::CancelToken stop_scheduler;
  auto scheduling = asio::co_spawn(io, scheduler.run(stop_scheduler), asio::use_future);

  auto urgent = enqueue({{"to", "ops@example.com"}, {"subject", "disk full"}}, svckit::queue::Priority::high);
  auto doomed = enqueue({{"to", ""}, {"subject", "lost"}}, svckit::queue::Priority::low);
  if (!urgent || !doomed) return 1;
  pool.start();

  auto state_of = [&](const std::string& id) {
    return asio::co_spawn(io, queue.get(id), asio::use_future).get()->state;
  };
  for (int i = 0; i < 500 && (state_of(urgent->id) != svckit::queue::TaskState::succeeded ||
                              state_of(doomed->id) != svckit::queue::TaskState::dead || digests < 2);
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // an example may poll; tests wait on events
  }
  const auto dead = asio::co_spawn(io, queue.get(doomed->id), asio::use_future).get();
  std::printf("sent %d email(s); the failing one is %s after %d attempts: %s\n", sent.load(),
              std::string(to_string(dead->state)).c_str(), dead->attempts, dead->last_error.c_str());
  std::printf("%d periodic digest(s) sent\n", digests.load());
  asio::post(io, [&] { stop_scheduler.cancel(); });
  scheduling.get();
  asio::co_spawn(io, pool.stop(std::chrono::seconds(1)), asio::use_future).get();
  work.reset();
  thread.join();
  return sent == 1 && dead->state == svckit::queue::TaskState::dead && dead->attempts == 3 && digests >= 2 ? 0 : 1;
}
