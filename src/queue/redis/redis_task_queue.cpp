#include "svckit/queue/redis_task_queue.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <charconv>
#include <cstdio>

#include "queue/redis/redis_task_scripts.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"
#include "svckit/core/wait_list.hpp"

namespace svckit::queue {
namespace {

namespace asio = boost::asio;
using redis::RedisScript;
using redis::Reply;

const RedisScript& script(const char* body) {
  // One RedisScript per body, built once (EVALSHA keys on the source's SHA).
  static const std::map<const char*, RedisScript> kScripts = [] {
    std::map<const char*, RedisScript> all;
    for (const char* b :
         {redis_scripts::kEnqueue, redis_scripts::kWorkerOps, redis_scripts::kRenew, redis_scripts::kFail,
          redis_scripts::kRunNow, redis_scripts::kRemove, redis_scripts::kCounts, redis_scripts::kList}) {
      all.emplace(b, RedisScript{std::string(redis_scripts::kCommon) + b});
    }
    return all;
  }();
  return kScripts.at(body);
}

long long ms_of(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
SystemTime time_of(long long ms) { return SystemTime(std::chrono::milliseconds(ms)); }

long long number(const std::string& text) {
  long long value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

Error protocol(const std::string& what) { return make_error(ErrorCode::protocol, "redis task queue: " + what); }

/// A task from its id and HGETALL's flat field/value list.
// The task hash's fields (see redis_task_scripts.hpp), by position.
enum class TaskField : std::size_t {
  q,
  name,
  payload,
  prio,
  max_retries,
  timeout,
  ukey,
  ufor,
  state,
  attempts,
  enq,
  run_at,
  worker,
  lease,
  deadline,
  result,
  error,
  fin,
  tp,
  ts
};
constexpr std::size_t kTaskFieldCount = 20;
constexpr std::string_view kTaskFields[kTaskFieldCount] = {
    "q",   "name",   "payload", "prio",  "max_retries", "timeout", "ukey",  "ufor", "state", "attempts",
    "enq", "run_at", "worker",  "lease", "deadline",    "result",  "error", "fin",  "tp",    "ts"};

Result<TaskRecord> decode_task(const std::string& id, const std::vector<Reply>& fields, std::size_t from = 0) {
  // The hash's fields, in whatever order HGETALL gives them (a field not set is absent: empty / 0).
  const std::string* f[kTaskFieldCount] = {};
  for (std::size_t i = from; i + 1 < fields.size(); i += 2) {
    const auto& name = fields[i].text;
    for (std::size_t k = 0; k < kTaskFieldCount; ++k) {
      if (name == kTaskFields[k]) {
        f[k] = &fields[i + 1].text;
        break;
      }
    }
  }
  static const std::string kNone;
  auto get = [&](TaskField k) -> const std::string& {
    const auto* v = f[static_cast<std::size_t>(k)];
    return v != nullptr ? *v : kNone;
  };
  if (get(TaskField::q).empty() || get(TaskField::state).empty())
    return protocol("task " + id + " has no queue or state");
  TaskRecord task;
  task.id = id;
  task.spec.queue = get(TaskField::q);
  task.spec.name = get(TaskField::name);
  auto payload = parse_json(get(TaskField::payload));
  if (!payload) return protocol("task " + id + " payload: " + payload.error().message);
  task.spec.payload = std::move(*payload);
  task.spec.priority = static_cast<Priority>(std::clamp(number(get(TaskField::prio)), 0LL, 2LL));
  task.spec.max_retries = static_cast<int>(number(get(TaskField::max_retries)));
  task.spec.timeout = std::chrono::milliseconds(number(get(TaskField::timeout)));
  task.spec.unique_key = get(TaskField::ukey);
  task.spec.unique_for = std::chrono::milliseconds(number(get(TaskField::ufor)));
  task.spec.traceparent = get(TaskField::tp);
  task.spec.tracestate = get(TaskField::ts);
  auto parsed_state = parse_task_state(get(TaskField::state));
  if (!parsed_state) return protocol("task " + id + " has state '" + get(TaskField::state) + "'");
  task.state = *parsed_state;
  task.attempts = static_cast<int>(number(get(TaskField::attempts)));
  task.enqueued_at = time_of(number(get(TaskField::enq)));
  task.run_at = time_of(number(get(TaskField::run_at)));
  task.worker = get(TaskField::worker);
  task.lease_until = time_of(number(get(TaskField::lease)));
  if (!get(TaskField::deadline).empty()) task.deadline = time_of(number(get(TaskField::deadline)));
  if (!get(TaskField::result).empty()) {
    auto parsed = parse_json(get(TaskField::result));
    if (!parsed) return protocol("task " + id + " result: " + parsed.error().message);
    task.result = std::move(*parsed);
  }
  task.last_error = get(TaskField::error);
  task.finished_at = time_of(number(get(TaskField::fin)));
  return task;
}

Error not_held(const std::string& id) {
  return make_error(ErrorCode::not_found, "task " + id + " is not active under this worker (its lease was lost)", "id");
}
Error no_task(const std::string& id) { return make_error(ErrorCode::not_found, "no task " + id, "id"); }

/// The status code a script answered first ({status, ...}).
Result<long long> status_of(const Result<Reply>& reply) {
  if (!reply) return reply.error();
  if (reply->kind != Reply::Kind::array || reply->elements.empty()) return protocol("unexpected script reply");
  return reply->elements[0].integer;
}

std::string text_at(const Reply& reply, std::size_t i) {
  return i < reply.elements.size() ? reply.elements[i].text : std::string();
}

template <class... T>
void append(std::vector<std::string>& args, T&&... parts) {
  (args.emplace_back(std::forward<T>(parts)), ...);
}

void append_policy(std::vector<std::string>& args, const BackoffPolicy& p) {
  append(args, std::string(to_string(p.kind)), std::to_string(p.base.count()), std::to_string(p.cap.count()),
         std::to_string(p.multiplier));
}

}  // namespace

RedisTaskQueue::RedisTaskQueue(redis::RedisClient& client, const TimeSource& time, Random& random,
                               RedisTaskQueueOptions options)
    : client_(client),
      time_(time),
      random_(random),
      options_(std::move(options)),
      enqueues_([this](std::vector<std::vector<std::string>> b) { return flush_enqueues(std::move(b)); },
                options_.max_batch),
      worker_ops_([this](std::vector<std::vector<std::string>> b) { return flush_worker_ops(std::move(b)); },
                  options_.max_batch) {}

namespace {

/// Splits a batched script's reply into one part per item: `width` consecutive elements made an
/// array, or (width 0) the reply's nested arrays, one per item. A failed call gives every item its
/// error.
std::vector<Result<Reply>> split(Result<Reply> reply, std::size_t n, std::size_t width) {
  std::vector<Result<Reply>> out;
  out.reserve(n);
  const bool whole =
      reply && reply->kind == Reply::Kind::array && reply->elements.size() == (width == 0 ? n : n * width);
  std::optional<Error> failure;
  if (!reply) {
    failure = reply.error();
  } else if (!whole) {
    failure = protocol("a batched script answered " + std::to_string(reply->elements.size()) + " elements for " +
                       std::to_string(n) + " items");
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (failure) {
      out.emplace_back(*failure);
    } else if (width == 0) {
      out.emplace_back(std::move(reply->elements[i]));
    } else {
      Reply part;
      part.kind = Reply::Kind::array;
      part.elements.reserve(width);
      for (std::size_t k = 0; k < width; ++k) part.elements.push_back(std::move(reply->elements[i * width + k]));
      out.emplace_back(std::move(part));
    }
  }
  return out;
}

}  // namespace

Awaitable<std::vector<Result<Reply>>> RedisTaskQueue::flush_enqueues(std::vector<std::vector<std::string>> tasks) {
  auto args = common_args();
  args.push_back(std::to_string(tasks.size()));
  for (auto& fields : tasks) {
    for (auto& f : fields) args.push_back(std::move(f));
  }
  std::vector<std::string> keys;
  auto reply = co_await client_.eval(script(redis_scripts::kEnqueue), std::move(keys), std::move(args));
  co_return split(std::move(reply), tasks.size(), 2);
}

Awaitable<std::vector<Result<Reply>>> RedisTaskQueue::flush_worker_ops(std::vector<std::vector<std::string>> ops) {
  const auto& o = options_.store;
  auto args = common_args();
  append_policy(args, o.retry_backoff);
  append(args, std::to_string(o.lease.count()), std::string(o.strict_priority ? "1" : "0"),
         std::to_string(o.weights[0]), std::to_string(o.weights[1]), std::to_string(o.weights[2]),
         std::to_string(o.retention.count()), std::to_string(o.max_dead), std::to_string(o.dead_max_age.count()),
         std::to_string(ops.size()));
  for (auto& op : ops) {
    for (auto& field : op) args.push_back(std::move(field));
  }
  const auto now = args[1];
  std::vector<std::string> keys;
  auto reply = co_await client_.eval(script(redis_scripts::kWorkerOps), std::move(keys), std::move(args));
  auto parts = split(std::move(reply), ops.size(), 0);
  // Each part learns the time the script ran at (a fetch waits from it until the next due task).
  for (auto& part : parts) {
    if (part) {
      Reply at;
      at.kind = Reply::Kind::string;
      at.text = now;
      part->elements.push_back(std::move(at));
    }
  }
  co_return parts;
}

std::vector<std::string> RedisTaskQueue::common_args() {
  std::vector<std::string> args;
  args.reserve(20);
  append(args, options_.prefix, std::to_string(ms_of(time_.system_now())),
         std::to_string(1 + random_.uniform(2147483645ULL)));
  return args;
}

std::string RedisTaskQueue::queue_key(const std::string& queue, const char* suffix) const {
  return options_.prefix + ":q:" + queue + ":" + suffix;
}

Awaitable<Result<std::string>> RedisTaskQueue::check_server() {
  std::vector<std::string> args{"CONFIG", "GET", "maxmemory-policy"};
  auto reply = co_await client_.command(std::move(args));
  std::string policy = "unknown";
  if (reply && reply->elements.size() == 2) policy = reply->elements[1].text;
  if (!reply && reply.error().code == ErrorCode::unavailable) co_return reply.error();
  if (policy != "noeviction") {
    logs::warn("tasks",
               "event=redis_eviction_policy policy={} server={}:{} message=\"task queues need maxmemory-policy "
               "noeviction: an evicting Redis may drop queued tasks\"",
               policy, client_.options().server.host, client_.options().server.port);
  }
  co_return policy;
}

Awaitable<Result<TaskRecord>> RedisTaskQueue::enqueue(TaskSpec spec) {
  if (auto v = validate(spec); !v) co_return v.error();
  const auto now = time_.system_now();
  const auto run_at = spec.run_at ? *spec.run_at : now + spec.delay;
  const std::string id = random_hex_id(random_);
  std::vector<std::string> fields;
  fields.reserve(12);
  append(fields, std::string(id), spec.queue, spec.name, spec.payload.dump(),
         std::to_string(static_cast<int>(spec.priority)), std::to_string(spec.max_retries),
         std::to_string(spec.timeout.count()), spec.unique_key, std::to_string(spec.unique_for.count()),
         std::to_string(ms_of(run_at)), spec.traceparent, spec.tracestate);
  // The batch runs at its own `now` (a little later than this one): a task due at or before it is
  // pending at once, one due after it is scheduled — the same either way.
  auto reply = co_await enqueues_.submit(std::move(fields));
  auto status = status_of(reply);
  if (!status) co_return status.error();
  if (*status == 4) {
    co_return make_error(ErrorCode::limit_exceeded,
                         "task " + text_at(*reply, 1) + " holds unique_key '" + spec.unique_key + "'", "unique_key");
  }
  TaskRecord task;
  task.id = id;
  task.enqueued_at = time_of(ms_of(now));
  task.run_at = time_of(ms_of(run_at));
  task.state = text_at(*reply, 1) == "scheduled" ? TaskState::scheduled : TaskState::pending;
  task.spec = std::move(spec);
  co_return task;
}

struct RedisTaskQueue::Doorbell {
  std::mutex mutex;
  WaitList waiters;         // the fetches waiting for a token (parked under mutex)
  bool listening = false;   // guarded by mutex: a listener runs
  std::uint64_t rings = 0;  // guarded by mutex: tokens seen so far
  std::shared_ptr<CancelToken> closed = std::make_shared<CancelToken>();  // the queue is gone
};

std::shared_ptr<RedisTaskQueue::Doorbell> RedisTaskQueue::doorbell(const std::string& queue) {
  std::lock_guard lock(doorbells_mutex_);
  auto& bell = doorbells_[queue];
  if (!bell) bell = std::make_shared<Doorbell>();
  return bell;
}

Awaitable<Result<std::optional<TaskRecord>>> RedisTaskQueue::fetch(std::string queue, std::string worker,
                                                                   std::chrono::milliseconds wait) {
  const auto& o = options_.store;
  // Waits run on sleeper_ (real time), so the give-up time is on the real steady clock too.
  const auto give_up = std::chrono::steady_clock::now() + wait;
  const auto executor = co_await asio::this_coro::executor;
  auto bell = doorbell(queue);
  for (;;) {
    std::uint64_t rings_before = 0;  // a ring between this fetch and the wait below: look again
    {
      std::lock_guard lock(bell->mutex);
      rings_before = bell->rings;
    }
    std::vector<std::string> ask;
    append(ask, std::string("f"), queue, worker, std::string());
    auto reply = co_await worker_ops_.submit(std::move(ask));
    auto status = status_of(reply);
    if (!status) co_return status.error();
    if (*status == 0) {
      auto task = decode_task(text_at(*reply, 1), reply->elements, 2);
      if (!task) co_return task.error();
      co_return std::optional<TaskRecord>(std::move(*task));
    }
    const auto now_ms = number(reply->elements.back().text);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - std::chrono::steady_clock::now());
    if (left.count() <= 0) co_return std::optional<TaskRecord>{};
    // Block on the wake list until something may be due: a new task (token), the next scheduled
    // one, or at the latest a lease's length (an active task's lease may run out meanwhile).
    auto block = std::min(left, o.lease);
    const long long next_due = reply->elements.size() > 1 ? reply->elements[1].integer : -1;
    if (next_due >= 0) block = std::min(block, std::chrono::milliseconds(std::max(1LL, next_due - now_ms)));
    std::optional<WaitList::Ticket> parked;
    bool start_listener = false;
    {
      std::lock_guard lock(bell->mutex);
      if (bell->rings != rings_before) continue;
      parked.emplace(bell->waiters.park());
      start_listener = !bell->listening;
      bell->listening = true;
    }
    if (start_listener) {
      asio::co_spawn(executor, listen(bell, client_, queue_key(queue, "wake")), asio::detached);
    }
    (void)co_await parked->wait_for(block, sleeper_);
  }
}

Awaitable<void> RedisTaskQueue::listen(std::shared_ptr<Doorbell> bell, redis::RedisClient& client, std::string key) {
  // Touches only `bell` after a wait: the queue (and with a contract-abiding caller, the client)
  // may be gone by then — the queue's destructor cancels the wait, and no waiter is left.
  const std::chrono::milliseconds block(1000);
  for (;;) {
    std::vector<std::string> blpop{"BLPOP", key, "1"};
    auto token = co_await client.blocking_command(std::move(blpop), block, bell->closed);
    std::lock_guard lock(bell->mutex);
    const bool rang = token && !token->is_nil();
    if (rang) {
      ++bell->rings;
      bell->waiters.notify_all();  // every waiting fetch looks again
    }
    // Stop when nobody waits, the queue is gone, or Redis failed (the waiters' own timers end
    // their waits; their next fetch reports the error and the next wait starts a listener).
    if (bell->waiters.waiting() == 0 || bell->closed->cancelled() || !token) {
      bell->listening = false;
      co_return;
    }
  }
}

RedisTaskQueue::~RedisTaskQueue() {
  std::lock_guard lock(doorbells_mutex_);
  for (auto& [queue, bell] : doorbells_) bell->closed->cancel();
}

Awaitable<Result<SystemTime>> RedisTaskQueue::renew(std::string id, std::string worker) {
  auto args = common_args();
  append(args, id, worker, std::to_string(options_.store.lease.count()));
  std::vector<std::string> keys;
  auto reply = co_await client_.eval(script(redis_scripts::kRenew), std::move(keys), std::move(args));
  auto status = status_of(reply);
  if (!status) co_return status.error();
  if (*status == 1) co_return not_held(id);
  if (*status == 5) co_return make_error(ErrorCode::timeout, "task " + id + " ran past its timeout", "timeout");
  co_return time_of(reply->elements.size() > 1 ? reply->elements[1].integer : 0);
}

Awaitable<Result<void>> RedisTaskQueue::complete(std::string id, std::string worker, nlohmann::json result) {
  std::vector<std::string> op;
  append(op, std::string("c"), id, std::move(worker), result.is_null() ? std::string() : result.dump());
  auto reply = co_await worker_ops_.submit(std::move(op));
  auto status = status_of(reply);
  if (!status) co_return status.error();
  if (*status == 1) co_return not_held(id);
  co_return Result<void>{};
}

Awaitable<Result<std::optional<TaskRecord>>> RedisTaskQueue::complete_and_fetch(std::string id, std::string worker,
                                                                                nlohmann::json result,
                                                                                std::string /*queue: the task's own*/) {
  std::vector<std::string> op;
  append(op, std::string("n"), id, std::move(worker), result.is_null() ? std::string() : result.dump());
  auto reply = co_await worker_ops_.submit(std::move(op));
  auto status = status_of(reply);
  if (!status) co_return status.error();
  if (*status == 1) co_return not_held(id);
  if (reply->elements.size() < 2 || reply->elements[1].kind != Reply::Kind::array ||
      reply->elements[1].elements.empty()) {
    co_return protocol("complete-and-fetch answered no lease reply");
  }
  const auto& lease = reply->elements[1];
  if (lease.elements[0].integer != 0) co_return std::optional<TaskRecord>{};  // none due now
  auto task = decode_task(text_at(lease, 1), lease.elements, 2);
  if (!task) co_return task.error();
  co_return std::optional<TaskRecord>(std::move(*task));
}

Awaitable<Result<TaskState>> RedisTaskQueue::fail(std::string id, std::string worker, std::string error,
                                                  bool retryable) {
  auto args = common_args();
  append_policy(args, options_.store.retry_backoff);
  append(args, id, worker, std::move(error), std::string(retryable ? "1" : "0"));
  std::vector<std::string> keys;
  auto reply = co_await client_.eval(script(redis_scripts::kFail), std::move(keys), std::move(args));
  auto status = status_of(reply);
  if (!status) co_return status.error();
  if (*status == 1) co_return not_held(id);
  auto state = parse_task_state(text_at(*reply, 1));
  if (!state) co_return protocol("fail answered state '" + text_at(*reply, 1) + "'");
  co_return *state;
}

Awaitable<Result<TaskRecord>> RedisTaskQueue::get(std::string id) {
  std::vector<std::string> args{"HGETALL", options_.prefix + ":t:" + id};
  auto reply = co_await client_.command(std::move(args));
  if (!reply) co_return reply.error();
  if (reply->elements.empty()) co_return no_task(id);
  co_return decode_task(id, reply->elements);
}

Awaitable<Result<std::vector<TaskRecord>>> RedisTaskQueue::list(std::string queue, TaskState state, std::size_t limit) {
  std::vector<TaskRecord> out;
  if (limit == 0) co_return out;
  auto args = common_args();
  append(args, queue, std::string(to_string(state)), std::to_string(limit));
  std::vector<std::string> keys;
  auto reply = co_await client_.eval(script(redis_scripts::kList), std::move(keys), std::move(args));
  if (!reply) co_return reply.error();
  for (std::size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
    if (reply->elements[i + 1].elements.empty()) continue;  // removed meanwhile
    auto task = decode_task(reply->elements[i].text, reply->elements[i + 1].elements);
    if (!task) co_return task.error();
    out.push_back(std::move(*task));
  }
  co_return out;
}

Awaitable<Result<std::map<TaskState, std::size_t>>> RedisTaskQueue::counts(std::string queue) {
  auto args = common_args();
  append(args, queue);
  std::vector<std::string> keys;
  auto reply = co_await client_.eval(script(redis_scripts::kCounts), std::move(keys), std::move(args));
  if (!reply) co_return reply.error();
  if (reply->elements.size() < 7) co_return protocol("counts answered " + std::to_string(reply->elements.size()));
  constexpr std::array<TaskState, 7> kOrder{TaskState::pending, TaskState::scheduled, TaskState::active,
                                            TaskState::retry,   TaskState::succeeded, TaskState::failed,
                                            TaskState::dead};
  std::map<TaskState, std::size_t> out;
  for (std::size_t i = 0; i < kOrder.size(); ++i) {
    if (reply->elements[i].integer > 0) out[kOrder[i]] = static_cast<std::size_t>(reply->elements[i].integer);
  }
  co_return out;
}

Awaitable<Result<std::uint64_t>> RedisTaskQueue::redeliveries(std::string queue) {
  auto args = common_args();
  append(args, queue);
  std::vector<std::string> keys;
  auto reply = co_await client_.eval(script(redis_scripts::kCounts), std::move(keys), std::move(args));
  if (!reply) co_return reply.error();
  if (reply->elements.size() < 8) co_return protocol("counts answered " + std::to_string(reply->elements.size()));
  co_return static_cast<std::uint64_t>(reply->elements[7].integer);
}

Awaitable<Result<void>> RedisTaskQueue::run_now(std::string id) {
  auto args = common_args();
  append(args, id);
  std::vector<std::string> keys;
  auto reply = co_await client_.eval(script(redis_scripts::kRunNow), std::move(keys), std::move(args));
  auto status = status_of(reply);
  if (!status) co_return status.error();
  if (*status == 2) co_return no_task(id);
  if (*status == 3) co_return make_error(ErrorCode::invalid_argument, "task " + id + " is " + text_at(*reply, 1), "id");
  co_return Result<void>{};
}

Awaitable<Result<void>> RedisTaskQueue::remove(std::string id) {
  auto args = common_args();
  append(args, id);
  std::vector<std::string> keys;
  auto reply = co_await client_.eval(script(redis_scripts::kRemove), std::move(keys), std::move(args));
  auto status = status_of(reply);
  if (!status) co_return status.error();
  if (*status == 2) co_return no_task(id);
  if (*status == 3) {
    co_return make_error(ErrorCode::invalid_argument, "task " + id + " is running; it can be removed when it ends",
                         "id");
  }
  co_return Result<void>{};
}

Awaitable<Result<void>> RedisTaskQueue::pause(std::string queue) {
  std::vector<std::string> args{"SET", queue_key(queue, "paused"), "1"};
  auto reply = co_await client_.command(std::move(args));
  if (!reply) co_return reply.error();
  co_return Result<void>{};
}

Awaitable<Result<void>> RedisTaskQueue::resume(std::string queue) {
  std::vector<std::string> args{"DEL", queue_key(queue, "paused")};
  auto reply = co_await client_.command(std::move(args));
  if (!reply) co_return reply.error();
  std::vector<std::string> wake{"RPUSH", queue_key(queue, "wake")};
  wake.resize(2 + 16, "1");  // every waiting worker (up to the list's bound) looks again
  auto woke = co_await client_.command(std::move(wake));
  if (!woke) co_return woke.error();
  co_return Result<void>{};
}

}  // namespace svckit::queue
