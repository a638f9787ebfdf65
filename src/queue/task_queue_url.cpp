#include "svckit/queue/task_queue_url.hpp"

#include "svckit/net/backend_url.hpp"
#include "svckit/net/plugin_table.hpp"
#include "svckit/queue/amqp_task_queue.hpp"
#include "svckit/queue/redis_task_queue.hpp"

namespace svckit::queue {

namespace {

/// A RedisTaskQueue with the client it runs on (the queue needs the client to outlive it).
class RedisTaskQueueWithClient final : public TaskQueue {
 public:
  RedisTaskQueueWithClient(std::unique_ptr<redis::RedisClient> client, const TimeSource& time, Random& random,
                           RedisTaskQueueOptions options)
      : client_(std::move(client)), queue_(*client_, time, random, std::move(options)) {}

  Awaitable<Result<TaskRecord>> enqueue(TaskSpec spec) override { return queue_.enqueue(std::move(spec)); }
  Awaitable<Result<std::optional<TaskRecord>>> fetch(std::string queue, std::string worker,
                                                     std::chrono::milliseconds wait) override {
    return queue_.fetch(std::move(queue), std::move(worker), wait);
  }
  Awaitable<Result<SystemTime>> renew(std::string id, std::string worker) override {
    return queue_.renew(std::move(id), std::move(worker));
  }
  Awaitable<Result<void>> complete(std::string id, std::string worker, nlohmann::json result) override {
    return queue_.complete(std::move(id), std::move(worker), std::move(result));
  }
  Awaitable<Result<std::optional<TaskRecord>>> complete_and_fetch(std::string id, std::string worker,
                                                                  nlohmann::json result, std::string queue) override {
    return queue_.complete_and_fetch(std::move(id), std::move(worker), std::move(result), std::move(queue));
  }
  Awaitable<Result<TaskState>> fail(std::string id, std::string worker, std::string error, bool retryable) override {
    return queue_.fail(std::move(id), std::move(worker), std::move(error), retryable);
  }
  Awaitable<Result<TaskRecord>> get(std::string id) override { return queue_.get(std::move(id)); }
  Awaitable<Result<std::vector<TaskRecord>>> list(std::string queue, TaskState state, std::size_t limit) override {
    return queue_.list(std::move(queue), state, limit);
  }
  Awaitable<Result<std::map<TaskState, std::size_t>>> counts(std::string queue) override {
    return queue_.counts(std::move(queue));
  }
  Awaitable<Result<void>> run_now(std::string id) override { return queue_.run_now(std::move(id)); }
  Awaitable<Result<void>> remove(std::string id) override { return queue_.remove(std::move(id)); }
  Awaitable<Result<void>> pause(std::string queue) override { return queue_.pause(std::move(queue)); }
  Awaitable<Result<void>> resume(std::string queue) override { return queue_.resume(std::move(queue)); }
  std::chrono::milliseconds lease() const override { return queue_.lease(); }

 private:
  std::unique_ptr<redis::RedisClient> client_;
  RedisTaskQueue queue_;
};

struct TaskQueueDeps {
  boost::asio::any_io_executor executor;
  const TimeSource& time;
  Random& random;
};

using TaskQueuePlugins = net::PluginTable<std::unique_ptr<TaskQueue>, TaskQueueDeps>;

}  // namespace

Result<std::unique_ptr<TaskQueue>> connect_task_queue(std::string_view url, boost::asio::any_io_executor executor,
                                                      const TimeSource& time, Random& random) {
  using Product = std::unique_ptr<TaskQueue>;
  TaskQueuePlugins::Builder builder("task queue");
  builder.add("memory",
              {0, {}, [](const net::BackendUrl& u, std::string_view, const TaskQueueDeps& deps) -> Result<Product> {
                 if (!u.hosts.empty() || !u.path.empty()) {
                   return make_error(ErrorCode::invalid_argument, "memory:// takes no host or path", "url");
                 }
                 return Product(std::make_unique<MemoryTaskQueue>(deps.time, deps.random));
               }});
  const auto redis = [](const net::BackendUrl& u, std::string_view, const TaskQueueDeps& deps) -> Result<Product> {
    auto options = redis::redis_options_from_url(u);
    if (!options) return options.error();
    RedisTaskQueueOptions o;
    if (auto it = u.query.find("prefix"); it != u.query.end()) o.prefix = it->second;
    auto client = std::make_unique<redis::RedisClient>(deps.executor, std::move(*options));
    return Product(std::make_unique<RedisTaskQueueWithClient>(std::move(client), deps.time, deps.random, std::move(o)));
  };
  for (const char* scheme : {"redis", "rediss"}) {
    builder.add(scheme, {6379, net::url_options(net::kConnectionOptions, {"prefix"}), redis});
  }
  builder.add("amqp", {5672,
                       {"user", "password_env", "password_file", "prefix", "lease", "poll", "max_poll", "timeout"},
                       [](const net::BackendUrl&, std::string_view text, const TaskQueueDeps& deps) -> Result<Product> {
                         auto options = AmqpTaskQueueOptions::from_url(text);
                         if (!options) return options.error();
                         auto queue = AmqpTaskQueue::create(deps.time, deps.random, std::move(*options));
                         if (!queue) return queue.error();
                         return Product(std::move(*queue));
                       }});
  return std::move(builder).build().create(url, TaskQueueDeps{std::move(executor), time, random});
}

}  // namespace svckit::queue
