// AmqpTaskQueue: every operation is a job run on the queue's broker thread (amqp_task_broker.hpp),
// awaited by the calling coroutine.
#include "svckit/queue/amqp_task_queue.hpp"

#include <spdlog/spdlog.h>

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "queue/amqp/amqp_task_broker.hpp"
#include "svckit/core/completion.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"
#include "svckit/resilience/backoff.hpp"

namespace svckit::queue {

namespace asio = boost::asio;
using namespace amqp_tasks;  // the task message: amqp_task_message.hpp
using std::chrono::milliseconds;

namespace {

/// Runs `job` on the broker thread and waits for its result.
template <class T, class F>
Awaitable<Result<T>> on_broker(AmqpTaskQueue::Broker& broker, F job) {
  const auto executor = co_await asio::this_coro::executor;
  auto done = std::make_shared<Completion<Result<T>>>(executor);
  broker.post([done, job = std::move(job)](AmqpTaskQueue::Broker& b) mutable { done->set(job(b)); });
  const auto patience = broker.patience();
  auto result = co_await done->wait_until(broker.answer_deadline());
  if (!result) {
    co_return make_error(ErrorCode::unavailable, "amqp task queue: no answer from the broker thread within " +
                                                     std::to_string(patience.count()) + " ms");
  }
  co_return std::move(*result);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Result<AmqpTaskQueueOptions> AmqpTaskQueueOptions::from_url(std::string_view url) {
  AmqpTaskQueueOptions o;
  auto parsed = amqp::parse_amqp_url(url, o);
  if (!parsed) return parsed.error();
  if (auto it = parsed->query.find("prefix"); it != parsed->query.end()) o.prefix = it->second;
  auto lease = net::backend_url_duration(*parsed, "lease", o.store.lease);
  if (!lease) return lease.error();
  o.store.lease = *lease;
  auto poll = net::backend_url_duration(*parsed, "poll", o.poll);
  if (!poll) return poll.error();
  o.poll = *poll;
  auto max_poll = net::backend_url_duration(*parsed, "max_poll", o.max_poll);
  if (!max_poll) return max_poll.error();
  o.max_poll = *max_poll;
  auto timeout = net::backend_url_duration(*parsed, "timeout", o.broker_timeout);
  if (!timeout) return timeout.error();
  o.broker_timeout = *timeout;
  if (auto ok = net::check_url_options(
          *parsed, "amqp://",
          {"user", "password_env", "password_file", "prefix", "lease", "poll", "max_poll", "timeout"});
      !ok) {
    return ok.error();
  }
  return o;
}

Result<std::unique_ptr<AmqpTaskQueue>> AmqpTaskQueue::create(const TimeSource& time, Random& random,
                                                             AmqpTaskQueueOptions options) {
  if (!valid_prefix(options.prefix)) {
    return make_error(ErrorCode::invalid_argument, "must be 1..64 characters of A-Z, a-z, 0-9, '_' or '-'", "prefix");
  }
  if (auto v = validate(options.store); !v) return v.error();
  if (options.poll.count() <= 0) return make_error(ErrorCode::invalid_argument, "must be > 0", "poll");
  if (options.max_poll < options.poll) return make_error(ErrorCode::invalid_argument, "must be >= poll", "max_poll");
  if (options.broker_timeout.count() <= 0) return make_error(ErrorCode::invalid_argument, "must be > 0", "timeout");
  if (options.max_records == 0) return make_error(ErrorCode::invalid_argument, "must be > 0", "max_records");
  if (options.max_record_bytes == 0) {
    return make_error(ErrorCode::invalid_argument, "must be > 0", "max_record_bytes");
  }
  // The broker thread logs: create spdlog's registry here, not first on it (see AmqpEventBus).
  (void)spdlog::default_logger_raw();
  return std::unique_ptr<AmqpTaskQueue>(new AmqpTaskQueue(std::make_unique<Broker>(time, random, std::move(options))));
}

AmqpTaskQueue::AmqpTaskQueue(std::unique_ptr<Broker> broker) : broker_(std::move(broker)) {}
AmqpTaskQueue::~AmqpTaskQueue() = default;

std::chrono::milliseconds AmqpTaskQueue::lease() const { return broker_->options.store.lease; }
std::uint64_t AmqpTaskQueue::redeliveries() const { return broker_->redeliveries.load(); }

Awaitable<Result<TaskRecord>> AmqpTaskQueue::enqueue(TaskSpec spec) {
  if (auto v = validate(spec); !v) co_return v.error();
  if (!spec.unique_key.empty()) {  // the key is taken (a round trip of its own) before the task is sent
    auto job = [spec = std::move(spec)](Broker& b) mutable {
      return b.connected<TaskRecord>([&]() -> Result<TaskRecord> {
        auto t = b.prepare(std::move(spec));
        if (!t) return t.error();
        if (auto taken = b.take_unique_key(*t); !taken) return taken.error();
        auto target = b.target_of(*t);
        if (!target) return target.error();
        auto stored = b.publish(*target, task_body(*t, b.reply_queue), t->id);
        if (!stored) return stored.error();
        if (!*stored) return make_error(ErrorCode::unavailable, "amqp task queue: the broker refused the task");
        b.records.remember(*t);
        return t;
      });
    };
    co_return co_await on_broker<TaskRecord>(*broker_, std::move(job));
  }
  const auto executor = co_await asio::this_coro::executor;
  auto done = std::make_shared<Completion<Result<TaskRecord>>>(executor);
  broker_->post_enqueue(std::move(spec), done);
  auto result = co_await done->wait_until(broker_->answer_deadline());
  if (!result) co_return make_error(ErrorCode::unavailable, "amqp task queue: no answer from the broker thread");
  co_return std::move(*result);
}

Awaitable<Result<std::optional<TaskRecord>>> AmqpTaskQueue::fetch(std::string queue, std::string worker,
                                                                  std::chrono::milliseconds wait) {
  // Waits on real time, like the Redis queue's BLPOP: the broker's clock is real.
  const auto give_up = std::chrono::steady_clock::now() + wait;
  auto& broker = *broker_;
  for (;;) {
    auto job = [queue, worker](Broker& b) {
      return b.connected<std::optional<TaskRecord>>([&] { return b.fetch(queue, worker); });
    };
    auto got = co_await on_broker<std::optional<TaskRecord>>(broker, std::move(job));
    if (!got || *got) co_return got;
    const auto left = std::chrono::duration_cast<milliseconds>(give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) co_return got;
    asio::steady_timer timer(co_await asio::this_coro::executor, std::min(left, broker.options.poll));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

Awaitable<Result<SystemTime>> AmqpTaskQueue::renew(std::string id, std::string worker) {
  auto job = [id, worker](Broker& b) -> Result<SystemTime> {
    auto it = b.leases.find(id);
    if (it == b.leases.end() || it->second.task.worker != worker) return not_held(id);
    auto& task = it->second.task;
    const auto now = b.time.system_now();
    if (task.deadline && *task.deadline <= now) {
      return make_error(ErrorCode::timeout, "task " + id + " ran past its timeout", "timeout");
    }
    task.lease_until = now + b.options.store.lease;
    b.records.remember(task);
    return task.lease_until;
  };
  co_return co_await on_broker<SystemTime>(*broker_, std::move(job));
}

Awaitable<Result<void>> AmqpTaskQueue::complete(std::string id, std::string worker, nlohmann::json result) {
  auto job = [id, worker, result = std::move(result)](Broker& b) -> Result<void> {
    auto it = b.leases.find(id);
    if (it == b.leases.end() || it->second.task.worker != worker) return not_held(id);
    return b.connected<void>([&]() -> Result<void> {
      auto lease = std::move(it->second);
      b.leases.erase(it);
      auto& t = lease.task;
      t.state = TaskState::succeeded;
      t.result = result;
      t.finished_at = b.time.system_now();
      t.worker.clear();
      t.deadline.reset();
      b.tell(lease.reply_to, t);  // before the acknowledgement (see end_attempt)
      if (auto r = b.settle(lease.tag, true); !r) return r;
      b.records.remember(t);
      return {};
    });
  };
  co_return co_await on_broker<void>(*broker_, std::move(job));
}

Awaitable<Result<TaskState>> AmqpTaskQueue::fail(std::string id, std::string worker, std::string error,
                                                 bool retryable) {
  auto job = [id, worker, error = std::move(error), retryable](Broker& b) -> Result<TaskState> {
    auto it = b.leases.find(id);
    if (it == b.leases.end() || it->second.task.worker != worker) return not_held(id);
    return b.connected<TaskState>([&]() -> Result<TaskState> {
      auto lease = std::move(it->second);
      b.leases.erase(it);
      return b.end_attempt(std::move(lease), error, retryable);
    });
  };
  co_return co_await on_broker<TaskState>(*broker_, std::move(job));
}

Awaitable<Result<TaskRecord>> AmqpTaskQueue::get(std::string id) {
  auto job = [id](Broker& b) -> Result<TaskRecord> {
    // Outcomes other processes sent first; with the broker away, what this process knows.
    auto read = b.connected<void>([&] { return b.read_outcomes(); });
    b.records.forget_finished(b.time.system_now());
    const auto* known = b.records.find(id);
    if (known == nullptr && !read) return read.error();
    if (known == nullptr) {
      return make_error(ErrorCode::not_found,
                        "no task " + id +
                            " known to this process (amqp:// keeps task records in the processes that enqueued or "
                            "ran them)",
                        "id");
    }
    return *known;
  };
  co_return co_await on_broker<TaskRecord>(*broker_, std::move(job));
}

Awaitable<Result<std::vector<TaskRecord>>> AmqpTaskQueue::list(std::string queue, TaskState state, std::size_t limit) {
  auto job = [queue, state, limit](Broker& b) -> Result<std::vector<TaskRecord>> {
    std::vector<TaskRecord> out;
    if (state == TaskState::pending) {
      return make_error(ErrorCode::invalid_argument,
                        "amqp:// cannot list pending tasks: reading them would count as attempts", "state");
    }
    if (state == TaskState::dead || state == TaskState::failed) {
      return b.connected<std::vector<TaskRecord>>([&]() -> Result<std::vector<TaskRecord>> {
        if (auto r = b.declare_topology(queue); !r) return r.error();
        std::vector<std::uint64_t> taken;
        const auto letters = b.name(queue, state == TaskState::dead ? "dead" : "failed");
        while (out.size() < limit) {
          auto d = b.get_one(letters, false);
          if (!d) return d.error();
          if (!*d) break;
          taken.push_back((*d)->tag);
          std::string reply_to;
          if (auto t = task_from_body((*d)->body, reply_to)) out.push_back(std::move(*t));
        }
        for (auto tag : taken) {
          if (auto r = b.settle(tag, false); !r) return r.error();
        }
        return out;
      });
    }
    if (state == TaskState::active) {
      for (const auto& [id, lease] : b.leases) {
        if (lease.task.spec.queue == queue && out.size() < limit) out.push_back(lease.task);
      }
      return out;
    }
    b.records.forget_finished(b.time.system_now());
    b.records.each([&](const TaskRecord& t) {
      if (t.spec.queue == queue && t.state == state && out.size() < limit) out.push_back(t);
    });
    return out;
  };
  co_return co_await on_broker<std::vector<TaskRecord>>(*broker_, std::move(job));
}

Awaitable<Result<std::map<TaskState, std::size_t>>> AmqpTaskQueue::counts(std::string queue) {
  auto job = [queue](Broker& b) -> Result<std::map<TaskState, std::size_t>> {
    return b.connected<std::map<TaskState, std::size_t>>([&]() -> Result<std::map<TaskState, std::size_t>> {
      if (auto r = b.read_outcomes(); !r) return r.error();
      std::map<TaskState, std::size_t> out;
      const auto add = [&](TaskState s, std::size_t n) {
        if (n > 0) out[s] += n;
      };
      auto ready = b.declare_queues(queue);
      if (!ready) return ready.error();
      add(TaskState::pending, (*ready)[0] + (*ready)[1] + (*ready)[2]);
      add(TaskState::dead, (*ready)[3]);
      add(TaskState::failed, (*ready)[4]);
      for (const auto& [id, lease] : b.leases) add(TaskState::active, lease.task.spec.queue == queue ? 1 : 0);
      b.records.forget_finished(b.time.system_now());
      const auto now = b.time.system_now();
      b.records.each([&](const TaskRecord& t) {
        if (t.spec.queue != queue) return;
        if ((t.state == TaskState::scheduled || t.state == TaskState::retry) && t.run_at > now) add(t.state, 1);
        if (t.state == TaskState::succeeded) add(t.state, 1);
      });
      return out;
    });
  };
  co_return co_await on_broker<std::map<TaskState, std::size_t>>(*broker_, std::move(job));
}

Awaitable<Result<void>> AmqpTaskQueue::run_now(std::string id) {
  auto job = [id](Broker& b) -> Result<void> {
    return b.connected<void>([&]() -> Result<void> {
      return b.on_letter(id, [&](Delivery& d) -> Result<void> {
        std::string reply_to;
        auto t = task_from_body(d.body, reply_to);
        if (!t) return t.error();
        t->state = TaskState::pending;
        t->attempts = 0;  // a dead task run again starts counting anew
        t->run_at = b.time.system_now();
        t->finished_at = {};
        b.woke(t->spec.queue);
        auto stored = b.publish(b.work_queue(t->spec.queue, t->spec.priority), task_body(*t, reply_to), t->id);
        if (!stored) return stored.error();
        if (auto r = b.settle(d.tag, true); !r) return r;
        b.records.remember(*t);
        return {};
      });
    });
  };
  co_return co_await on_broker<void>(*broker_, std::move(job));
}

Awaitable<Result<void>> AmqpTaskQueue::remove(std::string id) {
  auto job = [id](Broker& b) -> Result<void> {
    return b.connected<void>([&]() -> Result<void> {
      auto removed = b.on_letter(id, [&](Delivery& d) { return b.settle(d.tag, true); });
      if (removed) b.records.forget(id);
      return removed;
    });
  };
  co_return co_await on_broker<void>(*broker_, std::move(job));
}

Awaitable<Result<void>> AmqpTaskQueue::pause(std::string queue) {
  auto job = [queue](Broker& b) -> Result<void> {
    return b.connected<void>([&]() -> Result<void> {
      if (auto r = b.declare_topology(queue); !r) return r;
      auto stored = b.publish(b.name(queue, "paused"), "{}", "paused");
      if (!stored) return stored.error();
      b.pause_seen[queue] = {true, b.time.steady_now()};
      return {};
    });
  };
  co_return co_await on_broker<void>(*broker_, std::move(job));
}

Awaitable<Result<void>> AmqpTaskQueue::resume(std::string queue) {
  auto job = [queue](Broker& b) -> Result<void> {
    return b.connected<void>([&]() -> Result<void> {
      if (auto r = b.declare_topology(queue); !r) return r;
      const auto marker = b.name(queue, "paused");
      amqp_queue_purge(b.connection->state(), kSide, bytes_of(marker));
      if (auto r = b.connection->rpc_result("purging " + marker); !r) return r;
      b.pause_seen[queue] = {false, b.time.steady_now()};
      b.woke(queue);
      return {};
    });
  };
  co_return co_await on_broker<void>(*broker_, std::move(job));
}

}  // namespace svckit::queue
