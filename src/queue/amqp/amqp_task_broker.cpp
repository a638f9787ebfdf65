#include "queue/amqp/amqp_task_broker.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <condition_variable>
#include <deque>
#include <functional>
#include <set>
#include <thread>
#include <unordered_map>

#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"
#include "svckit/resilience/backoff.hpp"

namespace svckit::queue {

using namespace amqp_tasks;  // the task message and the broker's constants
using std::chrono::milliseconds;

AmqpTaskQueue::Broker::Broker(const TimeSource& t, Random& r, AmqpTaskQueueOptions o)
    : time(t),
      random(r),
      options(std::move(o)),
      records(options.max_records, options.max_record_bytes, options.store.retention) {
  thread = std::thread([this] { run(); });
}

AmqpTaskQueue::Broker::~Broker() {
  {
    std::lock_guard lock(mutex);
    stopping = true;
  }
  wakeup.notify_all();
  thread.join();
}

void AmqpTaskQueue::Broker::post(Job job) {
  {
    std::lock_guard lock(mutex);
    jobs.push_back(std::move(job));
  }
  wakeup.notify_one();
}

std::chrono::steady_clock::time_point AmqpTaskQueue::Broker::answer_deadline() const {
  return std::chrono::steady_clock::now() + patience();
}

void AmqpTaskQueue::Broker::post_enqueue(TaskSpec spec, std::shared_ptr<Completion<Result<TaskRecord>>> done) {
  {
    std::lock_guard lock(mutex);
    enqueues.push_back(Enqueue{std::move(spec), std::move(done)});
  }
  wakeup.notify_one();
}

void AmqpTaskQueue::Broker::run() {
  for (;;) {
    std::deque<Job> batch;
    std::deque<Enqueue> new_tasks;
    {
      std::unique_lock lock(mutex);
      wakeup.wait_for(lock, std::chrono::milliseconds(200),
                      [&] { return stopping || !jobs.empty() || !enqueues.empty(); });
      batch.swap(jobs);
      new_tasks.swap(enqueues);
      closing = stopping;
    }
    if (!new_tasks.empty()) enqueue_batch(new_tasks);
    for (auto& job : batch) job(*this);  // when closing, each answers unavailable
    if (closing) break;
    if (batch.empty() && connection && !leases.empty()) {
      if (auto swept = sweep(); !swept) drop_connection(swept.error());
    }
  }
  connection.reset();
}

Result<TaskRecord> AmqpTaskQueue::Broker::prepare(TaskSpec spec) {
  if (auto r = declare_topology(spec.queue); !r) return r.error();
  TaskRecord t;
  t.id = random_hex_id(random);
  const auto now = time.system_now();
  t.enqueued_at = time_of(ms_of(now));  // the message keeps milliseconds
  t.run_at = time_of(ms_of(spec.run_at ? *spec.run_at : now + spec.delay));
  t.state = t.run_at > t.enqueued_at ? TaskState::scheduled : TaskState::pending;
  t.spec = std::move(spec);
  woke(t.spec.queue);
  return t;
}

Result<std::string> AmqpTaskQueue::Broker::target_of(const TaskRecord& t) {
  const auto delay = std::chrono::ceil<milliseconds>(t.run_at - time.system_now()).count();
  if (delay <= 0) return work_queue(t.spec.queue, t.spec.priority);
  return wait_queue(t.spec.queue, t.spec.priority, delay);  // an error: never run early instead
}

Result<void> AmqpTaskQueue::Broker::take_unique_key(const TaskRecord& t) {
  const auto& spec = t.spec;
  const auto marker = name(spec.queue, "unique." + std::to_string(spec.unique_for.count()) + "." + spec.unique_key);
  if (marker.size() > 255) {
    return make_error(ErrorCode::invalid_argument, "too long for a RabbitMQ queue name on amqp://", "unique_key");
  }
  amqp::Table args;
  args.add("x-max-length", std::int64_t{1});
  args.add("x-overflow", std::string("reject-publish"));
  args.add("x-message-ttl", static_cast<std::int64_t>(spec.unique_for.count()));
  args.add("x-expires", static_cast<std::int64_t>(spec.unique_for.count() + 60'000));
  if (auto r = declare(marker, args); !r) return r.error();
  auto taken = publish(marker, t.id, t.id);
  if (!taken) return taken.error();
  if (*taken) return {};
  std::string holder = "another task";
  if (auto d = get_one(marker, false); d && *d) {
    holder = "task " + (*d)->body;
    (void)settle((*d)->tag, false);
  }
  return make_error(ErrorCode::limit_exceeded, holder + " holds unique_key '" + spec.unique_key + "'", "unique_key");
}

void AmqpTaskQueue::Broker::enqueue_batch(std::deque<Enqueue>& batch) {
  if (auto c = connect(); !c) {
    for (auto& e : batch) e.done->set(c.error());
    return;
  }
  struct Sent {
    Enqueue* request;
    std::uint64_t tag;
    TaskRecord task;
  };
  std::vector<Sent> sent;
  std::map<std::uint64_t, bool> answers;
  std::optional<Error> lost;
  for (auto& e : batch) {
    if (lost) {
      e.done->set(*lost);
      continue;
    }
    auto t = prepare(std::move(e.spec));
    if (!t) {
      if (t.error().code == ErrorCode::unavailable) lost = t.error();
      e.done->set(t.error());
      continue;
    }
    auto target = target_of(*t);
    if (!target) {
      if (target.error().code == ErrorCode::unavailable) lost = target.error();
      e.done->set(target.error());
      continue;
    }
    auto tag = send(*target, task_body(*t, reply_queue), t->id);
    if (!tag) {
      lost = tag.error();
      e.done->set(tag.error());
      continue;
    }
    answers[*tag] = false;
    sent.push_back(Sent{&e, *tag, std::move(*t)});
  }
  if (!lost && !answers.empty()) {
    if (auto confirmed = wait_confirms(answers); !confirmed) lost = confirmed.error();
  }
  for (auto& s : sent) {
    if (lost) {
      s.request->done->set(make_error(ErrorCode::unavailable, "amqp task queue: not confirmed: " + lost->message));
    } else if (!answers[s.tag]) {
      s.request->done->set(make_error(ErrorCode::unavailable, "amqp task queue: the broker refused the task"));
    } else {
      records.remember(s.task);
      s.request->done->set(std::move(s.task));
    }
  }
  if (lost) drop_connection(*lost);
}

Result<void> AmqpTaskQueue::Broker::connect() {
  if (closing) return make_error(ErrorCode::unavailable, "amqp task queue: closing");
  if (connection) return {};
  auto opened = AmqpConnection::open(options);
  if (!opened) return opened.error();
  auto& c = **opened;
  amqp_confirm_select(c.state(), kTasks);
  if (auto r = c.rpc_result("enabling publisher confirms"); !r) return r;
  if (auto r = c.open_channel(kSide); !r) return r;
  amqp::Table none;
  auto reply = c.declare_queue("", false, true, true, none);  // exclusive: outcomes for this process
  if (!reply) return reply.error();
  connection = std::move(*opened);
  reply_queue = *reply;
  next_tag = 0;
  declared.clear();
  wait_queues.clear();
  return {};
}

void AmqpTaskQueue::Broker::drop_connection(const Error& why) {
  if (!connection) return;
  logs::warn("tasks", "event=amqp_task_queue_connection_lost error=\"{}\" leases_lost={}", why.describe(),
             leases.size());
  connection.reset();
  leases.clear();
  reply_queue.clear();
}

Result<std::uint32_t> AmqpTaskQueue::Broker::declare(const std::string& name, amqp::Table& args) {
  auto r = connection->declare_durable(name, args, kSide);
  if (r || r.error().message.find("channel closed by the broker") == std::string::npos) return r;
  if (auto again = connection->reopen_channel(kSide); !again) return again.error();
  if (r.error().message.find("406") == std::string::npos) return make_error(ErrorCode::internal, r.error().message);
  if (warned_arguments.insert(name).second) {
    logs::warn("tasks", "event=amqp_queue_arguments_differ queue={} error=\"{}\" message=\"used as declared before\"",
               name, r.error().message);
  }
  amqp::Table none;
  auto existing = connection->declare_durable(name, none, kSide, true);
  if (existing || existing.error().message.find("channel closed by the broker") == std::string::npos) return existing;
  if (auto again = connection->reopen_channel(kSide); !again) return again.error();
  return make_error(ErrorCode::internal, existing.error().message);
}

std::string AmqpTaskQueue::Broker::name(const std::string& queue, const std::string& suffix) const {
  return options.prefix + "." + queue + "." + suffix;
}

std::string AmqpTaskQueue::Broker::work_queue(const std::string& queue, Priority p) const {
  return name(queue, kLevels[static_cast<int>(p)]);
}

Result<std::array<std::uint32_t, 6>> AmqpTaskQueue::Broker::declare_queues(const std::string& queue) {
  std::array<std::uint32_t, 6> ready{};
  for (std::size_t level = 0; level < 3; ++level) {
    amqp::Table args;
    auto n = declare(name(queue, kLevels[level]), args);
    if (!n) return n.error();
    ready[level] = *n;
  }
  for (std::size_t i = 0; i < 2; ++i) {
    amqp::Table args;
    args.add("x-max-length", static_cast<std::int64_t>(options.store.max_dead));
    args.add("x-message-ttl", static_cast<std::int64_t>(options.store.dead_max_age.count()));
    auto n = declare(name(queue, i == 0 ? "dead" : "failed"), args);
    if (!n) return n.error();
    ready[3 + i] = *n;
  }
  amqp::Table none;
  auto n = declare(name(queue, "paused"), none);
  if (!n) return n.error();
  ready[5] = *n;
  declared.insert(queue);
  return ready;
}

Result<void> AmqpTaskQueue::Broker::declare_topology(const std::string& queue) {
  if (declared.count(queue) != 0) return {};
  auto r = declare_queues(queue);
  if (!r) return r.error();
  return {};
}

Result<std::string> AmqpTaskQueue::Broker::wait_queue(const std::string& queue, Priority p, long long delay_ms) {
  const auto bucket = wait_bucket(delay_ms);
  const auto wait = name(queue, std::string(kLevels[static_cast<int>(p)]) + ".wait." + std::to_string(bucket));
  const auto now = time.steady_now();
  auto it = wait_queues.find(wait);
  if (it == wait_queues.end() || now - it->second > std::chrono::minutes(1)) {
    amqp::Table args;
    args.add("x-message-ttl", static_cast<std::int64_t>(bucket));
    args.add("x-dead-letter-exchange", std::string());
    args.add("x-dead-letter-routing-key", work_queue(queue, p));
    args.add("x-expires", static_cast<std::int64_t>(bucket + 600'000));
    if (auto r = declare(wait, args); !r) return r.error();
    wait_queues[wait] = now;
  }
  return wait;
}

Result<std::uint64_t> AmqpTaskQueue::Broker::send(const std::string& queue, const std::string& body,
                                                  const std::string& id, const std::string& error) {
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_MESSAGE_ID_FLAG;
  props.content_type = amqp_cstring_bytes("application/json");
  props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  props.message_id = bytes_of(id);
  amqp::Table headers;
  if (!error.empty()) {
    headers.add(kErrorHeader, error);
    props._flags |= AMQP_BASIC_HEADERS_FLAG;
    props.headers = headers.get();
  }
  const int status = amqp_basic_publish(connection->state(), kTasks, amqp_empty_bytes, bytes_of(queue), 0, 0, &props,
                                        amqp_bytes_t{body.size(), const_cast<char*>(body.data())});
  if (auto r = AmqpConnection::status(status, "publishing to " + queue); !r) return r.error();
  return ++next_tag;
}

Result<bool> AmqpTaskQueue::Broker::publish(const std::string& queue, const std::string& body, const std::string& id,
                                            const std::string& error) {
  auto tag = send(queue, body, id, error);
  if (!tag) return tag.error();
  std::map<std::uint64_t, bool> answers{{*tag, false}};
  if (auto r = wait_confirms(answers); !r) return r.error();
  return answers.begin()->second;
}

Result<void> AmqpTaskQueue::Broker::wait_confirms(std::map<std::uint64_t, bool>& answers) {
  std::set<std::uint64_t> waiting;
  for (const auto& [tag, ignored] : answers) waiting.insert(tag);
  while (!waiting.empty()) {
    amqp_frame_t frame;
    const auto ms = options.broker_timeout.count();
    timeval wait{static_cast<time_t>(ms / 1000), static_cast<suseconds_t>((ms % 1000) * 1000)};
    const int status = amqp_simple_wait_frame_noblock(connection->state(), &frame, &wait);
    if (status == AMQP_STATUS_TIMEOUT) {
      return make_error(ErrorCode::unavailable,
                        "amqp task queue: no confirmation within " + std::to_string(ms) + " ms");
    }
    if (auto r = AmqpConnection::status(status, "waiting for a confirmation"); !r) return r.error();
    if (frame.frame_type != AMQP_FRAME_METHOD) continue;
    const auto id = frame.payload.method.id;
    if (id == AMQP_CHANNEL_CLOSE_METHOD || id == AMQP_CONNECTION_CLOSE_METHOD) {
      return make_error(ErrorCode::unavailable, "amqp task queue: the broker closed the connection");
    }
    if (id != AMQP_BASIC_ACK_METHOD && id != AMQP_BASIC_NACK_METHOD) continue;
    const bool ack = id == AMQP_BASIC_ACK_METHOD;
    const auto* a = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
    const auto* n = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
    const std::uint64_t tag = ack ? a->delivery_tag : n->delivery_tag;
    const bool multiple = (ack ? a->multiple : n->multiple) != 0;
    const auto end = multiple ? waiting.upper_bound(tag) : waiting.find(tag);
    const auto first = multiple ? waiting.begin() : end;
    if (!multiple && end == waiting.end()) continue;
    for (auto it = first; it != (multiple ? end : std::next(end)); ++it) answers[*it] = ack;
    waiting.erase(first, multiple ? end : std::next(end));
  }
  return {};
}

Result<std::optional<Delivery>> AmqpTaskQueue::Broker::get_one(const std::string& queue, bool no_ack) {
  auto& c = *connection;
  const amqp_rpc_reply_t reply = amqp_basic_get(c.state(), kTasks, bytes_of(queue), no_ack ? 1 : 0);
  if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
    if (auto r = c.rpc_result("reading " + queue); !r) return r.error();
  }
  if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD) return std::optional<Delivery>{};
  Delivery d;
  const auto* ok = static_cast<const amqp_basic_get_ok_t*>(reply.reply.decoded);
  d.tag = ok->delivery_tag;
  d.redelivered = ok->redelivered != 0;
  amqp_message_t message;
  const amqp_rpc_reply_t read = amqp_read_message(c.state(), kTasks, &message, 0);
  if (read.reply_type != AMQP_RESPONSE_NORMAL) return make_error(ErrorCode::unavailable, "amqp: reading " + queue);
  d.body = amqp::to_string(message.body);
  if ((message.properties._flags & AMQP_BASIC_MESSAGE_ID_FLAG) != 0) {
    d.message_id = amqp::to_string(message.properties.message_id);
  }
  amqp_destroy_message(&message);
  amqp_maybe_release_buffers(c.state());
  return std::optional<Delivery>(std::move(d));
}

Result<void> AmqpTaskQueue::Broker::settle(std::uint64_t tag, bool ack, bool requeue) {
  const int status = ack ? amqp_basic_ack(connection->state(), kTasks, tag, 0)
                         : amqp_basic_reject(connection->state(), kTasks, tag, requeue ? 1 : 0);
  return AmqpConnection::status(status, ack ? "acknowledging" : "returning");
}

void AmqpTaskQueue::Broker::tell(const std::string& reply_to, const TaskRecord& t) {
  if (reply_to.empty() || reply_to == reply_queue) return;
  const auto body = task_body(t, "");
  amqp_basic_properties_t props{};
  props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG;
  props.content_type = amqp_cstring_bytes("application/json");
  (void)amqp_basic_publish(connection->state(), kSide, amqp_empty_bytes, bytes_of(reply_to), 0, 0, &props,
                           amqp_bytes_t{body.size(), const_cast<char*>(body.data())});
}

Result<void> AmqpTaskQueue::Broker::read_outcomes() {
  for (int i = 0; i < 10'000; ++i) {
    auto d = get_one(reply_queue, true);
    if (!d) return d.error();
    if (!*d) return {};
    std::string ignored;
    auto t = task_from_body((*d)->body, ignored);
    if (t && records.find(t->id) != nullptr) records.remember(*t);
  }
  return {};
}

Result<TaskState> AmqpTaskQueue::Broker::end_attempt(Lease lease, const std::string& error, bool retryable) {
  auto t = std::move(lease.task);
  const auto now = time.system_now();
  t.last_error = error;
  t.worker.clear();
  t.deadline.reset();
  std::string target;
  if (!retryable || t.attempts > t.spec.max_retries) {
    t.state = retryable ? TaskState::dead : TaskState::failed;
    t.finished_at = now;
    target = name(t.spec.queue, retryable ? "dead" : "failed");
  } else {
    Backoff backoff(options.store.retry_backoff, random);
    auto delay = backoff.next();
    for (int i = 1; i < t.attempts; ++i) delay = backoff.next();  // retry n waits like the n-th
    t.state = TaskState::retry;
    t.run_at = now + delay;
    if (delay.count() > 0) {
      auto wait = wait_queue(t.spec.queue, t.spec.priority, delay.count());
      if (!wait) return wait.error();
      target = *wait;
    } else {
      target = work_queue(t.spec.queue, t.spec.priority);
      woke(t.spec.queue);
    }
  }
  auto stored = publish(target, task_body(t, lease.reply_to), t.id, error);
  if (!stored) return stored.error();
  if (!*stored) return make_error(ErrorCode::unavailable, "amqp task queue: the broker refused " + target);
  tell(lease.reply_to, t);  // before the acknowledgement: a crash between sends it again, never not at all
  if (auto r = settle(lease.tag, true); !r) return r.error();
  records.remember(t);
  return t.state;
}

Result<void> AmqpTaskQueue::Broker::sweep() {
  records.forget_finished(time.system_now());
  const auto now = time.system_now();
  std::vector<std::string> expired;
  for (const auto& [id, lease] : leases) {
    if (lease.task.lease_until <= now || (lease.task.deadline && *lease.task.deadline <= now)) expired.push_back(id);
  }
  for (const auto& id : expired) {
    auto lease = std::move(leases.at(id));
    leases.erase(id);
    const bool timed_out = lease.task.deadline && *lease.task.deadline <= now;
    const auto why = timed_out
                         ? "timeout: the attempt ran past " + std::to_string(lease.task.spec.timeout.count()) + " ms"
                         : "lease expired: worker " + lease.task.worker + " stopped renewing";
    redeliveries.fetch_add(1);
    if (auto r = end_attempt(std::move(lease), why, true); !r) return r.error();
  }
  return {};
}

Result<bool> AmqpTaskQueue::Broker::paused(const std::string& queue) {
  const auto now = time.steady_now();
  auto it = pause_seen.find(queue);
  if (it != pause_seen.end() && now - it->second.second < options.pause_check) return it->second.first;
  amqp::Table none;
  auto count = declare(name(queue, "paused"), none);
  if (!count) return count.error();
  pause_seen[queue] = {*count > 0, now};
  return *count > 0;
}

Result<std::optional<TaskRecord>> AmqpTaskQueue::Broker::fetch(const std::string& queue, const std::string& worker) {
  if (auto r = declare_topology(queue); !r) return r.error();
  if (auto r = sweep(); !r) return r.error();
  auto is_paused = paused(queue);
  if (!is_paused) return is_paused.error();
  if (*is_paused) return std::optional<TaskRecord>{};
  // A priority found empty within the poll window, with nothing enqueued here since, is not
  // asked again: waiting fetches of one process ask the broker once per window between them,
  // and a queue whose tasks are all of one priority costs one basic.get per task, not three.
  // The window starts at `poll` and doubles while the queue stays empty, up to `max_poll`: an
  // idle worker process costs the broker a few requests a second, not hundreds.
  const auto now = time.steady_now();
  auto& seen = empty_seen[queue];
  auto window = idle_window.try_emplace(queue, options.poll).first;
  std::vector<int> levels;
  for (int l = 0; l < 3; ++l) {
    const auto& at = seen[static_cast<std::size_t>(l)];
    if (!at || now - *at >= window->second) levels.push_back(l);
  }
  const bool asked = !levels.empty();
  while (!levels.empty()) {
    std::size_t pick = 0;
    if (!options.store.strict_priority) {  // weight / (sum of the weights of those not yet found empty)
      std::uint64_t total = 0;
      for (int l : levels) total += static_cast<std::uint64_t>(options.store.weights[static_cast<std::size_t>(l)]);
      auto r = random.uniform(total);
      for (; pick + 1 < levels.size(); ++pick) {
        const auto w = static_cast<std::uint64_t>(options.store.weights[static_cast<std::size_t>(levels[pick])]);
        if (r < w) break;
        r -= w;
      }
    }
    const auto level = static_cast<Priority>(levels[pick]);
    auto task = take(queue, level, worker);
    if (!task) return task.error();
    if (*task) {
      window->second = options.poll;
      return task;
    }
    seen[static_cast<std::size_t>(level)] = now;
    levels.erase(levels.begin() + static_cast<std::ptrdiff_t>(pick));
  }
  if (asked) window->second = std::min(window->second * 2, std::max(options.max_poll, options.poll));
  return std::optional<TaskRecord>{};
}

void AmqpTaskQueue::Broker::woke(const std::string& queue) {
  empty_seen.erase(queue);
  idle_window.erase(queue);
}

Result<std::optional<TaskRecord>> AmqpTaskQueue::Broker::take(const std::string& queue, Priority level,
                                                              const std::string& worker) {
  const auto from = work_queue(queue, level);
  for (;;) {
    auto d = get_one(from, false);
    if (!d) return d.error();
    if (!*d) return std::optional<TaskRecord>{};
    std::string reply_to;
    auto t = task_from_body((*d)->body, reply_to);
    if (t && t->spec.queue != queue) t = protocol("a task of queue '" + t->spec.queue + "' in " + from);
    const auto now = time.system_now();
    if (!t) {  // not a task: kept in the failed queue with the reason, not handed to a worker
      auto kept = publish(name(queue, "failed"), (*d)->body, (*d)->message_id, t.error().message);
      if (!kept) return kept.error();
      if (auto r = settle((*d)->tag, true); !r) return r.error();
      continue;
    }
    if ((*d)->redelivered) {
      // Its worker's connection was lost mid-attempt: that attempt counts. The count travels in
      // the message, so the task goes back with it (or, with its retries used up, goes dead).
      redeliveries.fetch_add(1);
      t->attempts += 1;
      t->last_error = "returned by the broker: the connection of the worker running it was lost";
      if (t->attempts > t->spec.max_retries) {
        Lease lost{*t, (*d)->tag, reply_to};
        if (auto r = end_attempt(std::move(lost), t->last_error, true); !r) return r.error();
        continue;
      }
      auto again = publish(from, task_body(*t, reply_to), t->id);
      if (!again) return again.error();
      if (auto r = settle((*d)->tag, true); !r) return r.error();
      continue;
    }
    t->attempts += 1;
    t->state = TaskState::active;
    t->worker = worker;
    t->lease_until = now + options.store.lease;
    if (t->spec.timeout.count() > 0) t->deadline = now + t->spec.timeout;
    Lease lease{*t, (*d)->tag, reply_to};
    leases[t->id] = lease;
    records.remember(*t);
    return std::optional<TaskRecord>(std::move(*t));
  }
}

Result<bool> AmqpTaskQueue::Broker::walk_letters(const std::string& letters, const std::string& id,
                                                 const std::function<Result<void>(Delivery&)>& found) {
  std::vector<std::uint64_t> others;
  Result<bool> outcome = false;
  for (std::size_t i = 0; i < options.store.max_dead + 1; ++i) {
    auto d = get_one(letters, false);
    if (!d) return d.error();
    if (!*d) break;
    if ((*d)->message_id == id) {
      auto r = found(**d);
      outcome = r ? Result<bool>(true) : Result<bool>(r.error());
      break;
    }
    others.push_back((*d)->tag);
  }
  for (auto tag : others) {
    if (auto r = settle(tag, false); !r) return r.error();
  }
  return outcome;
}

Result<void> AmqpTaskQueue::Broker::on_letter(const std::string& id,
                                              const std::function<Result<void>(Delivery&)>& act) {
  if (leases.count(id) != 0) {
    return make_error(ErrorCode::invalid_argument, "task " + id + " is running; it can be changed when it ends", "id");
  }
  std::vector<std::string> queues;
  if (const auto* known = records.find(id)) {
    const auto state = known->state;
    if (state == TaskState::pending || state == TaskState::scheduled || state == TaskState::retry ||
        state == TaskState::active) {
      return make_error(ErrorCode::invalid_argument,
                        "task " + id + " is " + std::string(to_string(state)) +
                            ": amqp:// runs again or removes only dead and failed tasks (RabbitMQ keeps no index "
                            "of the others)",
                        "id");
    }
    queues.push_back(known->spec.queue);
  } else {
    queues.assign(declared.begin(), declared.end());
  }
  for (const auto& queue : queues) {
    for (const char* letters : {"dead", "failed"}) {
      auto hit = walk_letters(name(queue, letters), id, act);
      if (!hit) return hit.error();
      if (*hit) return {};
    }
  }
  return make_error(ErrorCode::not_found, "no dead or failed task " + id + " in the queues this process uses", "id");
}

}  // namespace svckit::queue
