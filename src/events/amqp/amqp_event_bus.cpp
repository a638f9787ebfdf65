// AmqpEventBus: rabbitmq-c is blocking and not thread-safe, so each connection has one thread
// that alone touches it — the publisher's (batches publishes, collects confirms) and one per
// subscription (consumes, acknowledges). Coroutines talk to them through locked queues: a publish
// waits on a Completion; a handler's outcome goes back as an acknowledgement request.
#include "svckit/events/amqp_event_bus.hpp"
#include "svckit/core/instance_json.hpp"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "amqp/amqp_connection.hpp"
#include "svckit/core/completion.hpp"
#include "svckit/core/log.hpp"
#include "svckit/events/delivery_policy.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::events {

namespace asio = boost::asio;
using Steady = std::chrono::steady_clock;
using amqp::AmqpConnection;

namespace {

constexpr const char* kLetterErrorHeader = "svckit-error";
constexpr const char* kLetterDeliveriesHeader = "svckit-deliveries";
constexpr auto kPoll = std::chrono::milliseconds(10);  // how long a consumer thread waits for a delivery

std::string namespace_of(std::string_view type) { return std::string(type.substr(0, type.find('.'))); }

/// Our pattern as an AMQP topic binding key: a last `>` (one or more segments) becomes `#` (zero
/// or more); the handler side filters the zero case with pattern_matches().
std::string binding_key(std::string_view pattern) {
  std::string key(pattern);
  if (!key.empty() && key.back() == '>') key.back() = '#';
  return key;
}

std::uint8_t amqp_priority(Priority p) {
  switch (p) {
    case Priority::high:
      return 2;
    case Priority::low:
      return 0;
    default:
      return 1;
  }
}

timeval to_timeval(std::chrono::microseconds us) {
  return timeval{static_cast<time_t>(us.count() / 1'000'000), static_cast<suseconds_t>(us.count() % 1'000'000)};
}

/// Re-connection pauses: 50 ms doubling to 5 s.
std::chrono::milliseconds next_pause(std::chrono::milliseconds pause) {
  return std::min(pause * 2, std::chrono::milliseconds(5'000));
}

}  // namespace

Result<AmqpEventBusOptions> AmqpEventBusOptions::from_url(std::string_view url) {
  AmqpEventBusOptions o;
  auto parsed = amqp::parse_amqp_url(url, o);
  if (!parsed) return parsed.error();
  if (auto it = parsed->query.find("prefix"); it != parsed->query.end()) o.prefix = it->second;
  auto prefetch = net::backend_url_count(*parsed, "prefetch", o.prefetch, 65535);
  if (!prefetch) return prefetch.error();
  o.prefetch = static_cast<std::uint16_t>(*prefetch);
  auto timeout = net::backend_url_duration(*parsed, "timeout", o.publish_timeout);
  if (!timeout) return timeout.error();
  o.publish_timeout = *timeout;
  if (auto ok = net::check_url_options(*parsed, "amqp://",
                                       {"user", "password_env", "password_file", "prefix", "prefetch", "timeout"});
      !ok) {
    return ok.error();
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// The publisher thread.

struct AmqpEventBus::Publisher {
  struct Request {
    std::string exchange, key, body, message_id;
    std::uint8_t priority = 1;
    amqp::Table headers;
    Steady::time_point deadline;
    std::shared_ptr<Completion<Result<void>>> done;
  };

  explicit Publisher(AmqpEventBusOptions o) : options(std::move(o)) {}
  ~Publisher() { stop(); }

  void start(std::unique_ptr<AmqpConnection> first) {
    connection = std::move(first);
    thread = std::thread([this] { run(); });
  }
  void stop() {
    {
      std::lock_guard lock(mutex);
      if (stopping) return;
      stopping = true;
    }
    wakeup.notify_all();
    if (thread.joinable()) thread.join();
  }

  /// Queues `r` and waits for the broker's confirmation (or the deadline).
  Awaitable<Result<void>> publish(Request r) {
    const auto executor = co_await asio::this_coro::executor;
    auto done = std::make_shared<Completion<Result<void>>>(executor);
    r.done = done;
    r.deadline = Steady::now() + options.publish_timeout;
    const auto deadline = r.deadline + std::chrono::seconds(1);  // the thread fails it first
    {
      std::lock_guard lock(mutex);
      if (queue.size() + unconfirmed >= options.max_buffered) {
        co_return make_error(ErrorCode::limit_exceeded, "amqp publish: " + std::to_string(options.max_buffered) +
                                                            " publishes already wait for the broker");
      }
      queue.push_back(std::move(r));
    }
    wakeup.notify_one();
    auto result = co_await done->wait_until(deadline);
    if (result) co_return *result;
    co_return make_error(ErrorCode::unavailable, "amqp publish: no confirmation within " +
                                                     std::to_string(options.publish_timeout.count()) + " ms");
  }

  /// Declares what publishing needs on a new connection: confirms and the dead-letter exchange.
  Result<void> prepare(AmqpConnection& c) {
    amqp_confirm_select(c.state(), amqp::kChannel);
    if (auto r = c.rpc_result("enabling publisher confirms"); !r) return r;
    return c.declare_exchange(options.prefix + ".dead", "direct");
  }

  void run() {
    auto pause = std::chrono::milliseconds(50);
    const std::string dead_exchange = options.prefix + ".dead";  // prepare() declares it
    std::set<std::string> declared{dead_exchange};               // exchanges declared on this connection
    while (true) {
      std::deque<Request> batch;
      {
        std::unique_lock lock(mutex);
        wakeup.wait_for(lock, std::chrono::milliseconds(100), [&] { return stopping || !queue.empty(); });
        if (stopping) break;
        fail_expired(queue);
        if (!connection) {
          lock.unlock();
          auto opened = AmqpConnection::open(options);
          Result<void> ready = opened ? prepare(**opened) : Result<void>(opened.error());
          if (!ready) {
            logs::warn("events", "event=amqp_publisher_connect_failed error=\"{}\" retry_in_ms={}",
                       ready.error().describe(), pause.count());
            std::unique_lock again(mutex);
            wakeup.wait_for(again, pause, [&] { return stopping; });
            pause = next_pause(pause);
            continue;
          }
          connection = std::move(*opened);
          next_tag = 0;  // delivery tags count per channel
          declared = {dead_exchange};
          pause = std::chrono::milliseconds(50);
          reconnects.fetch_add(1);
          logs::info("events", "event=amqp_publisher_reconnected");
          continue;
        }
        const std::size_t n = std::min<std::size_t>(queue.size(), 512);
        for (std::size_t i = 0; i < n; ++i) {
          batch.push_back(std::move(queue.front()));
          queue.pop_front();
        }
        unconfirmed = batch.size();
      }
      if (batch.empty()) continue;
      auto sent = send(batch, declared);
      std::lock_guard lock(mutex);
      unconfirmed = 0;
      if (!sent) {
        // Not confirmed: back to the front of the queue, for the next connection (subscribers
        // de-duplicate by id should the broker have stored some of them).
        logs::warn("events", "event=amqp_publisher_connection_lost error=\"{}\" requeued={}", sent.error().describe(),
                   batch.size());
        connection.reset();
        for (auto it = batch.rbegin(); it != batch.rend(); ++it) queue.push_front(std::move(*it));
      }
    }
    std::lock_guard lock(mutex);
    for (auto& r : queue) r.done->set(make_error(ErrorCode::unavailable, "amqp publish: the bus is closing"));
    queue.clear();
  }

  void fail_expired(std::deque<Request>& requests) {
    const auto now = Steady::now();
    for (auto it = requests.begin(); it != requests.end();) {
      if (it->deadline <= now) {
        it->done->set(make_error(ErrorCode::unavailable, "amqp publish: not confirmed within " +
                                                             std::to_string(options.publish_timeout.count()) +
                                                             " ms (broker unreachable)"));
        it = requests.erase(it);
      } else {
        ++it;
      }
    }
  }

  /// Publishes the batch and waits for every confirm. Completes the requests it settled and
  /// removes them from `batch`; an error means the connection is lost (what is left is unsettled).
  Result<void> send(std::deque<Request>& batch, std::set<std::string>& declared) {
    auto& c = *connection;
    for (const auto& r : batch) {
      if (declared.insert(r.exchange).second) {
        if (auto d = c.declare_exchange(r.exchange, "topic"); !d) {
          declared.erase(r.exchange);
          return d;
        }
      }
    }
    std::map<std::uint64_t, Request> in_flight;
    std::string status_lost;
    while (!batch.empty()) {
      auto& r = batch.front();
      amqp_basic_properties_t props{};
      props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_PRIORITY_FLAG |
                     AMQP_BASIC_MESSAGE_ID_FLAG | AMQP_BASIC_HEADERS_FLAG;
      props.content_type = amqp_cstring_bytes("application/json");
      props.delivery_mode = AMQP_DELIVERY_PERSISTENT;
      props.priority = r.priority;
      props.message_id = amqp_cstring_bytes(r.message_id.c_str());
      props.headers = r.headers.get();
      const amqp_bytes_t body{r.body.size(), r.body.data()};
      const int status = amqp_basic_publish(c.state(), amqp::kChannel, amqp_cstring_bytes(r.exchange.c_str()),
                                            amqp_cstring_bytes(r.key.c_str()), 0, 0, &props, body);
      if (status != AMQP_STATUS_OK) {
        for (auto it = in_flight.rbegin(); it != in_flight.rend(); ++it) batch.push_front(std::move(it->second));
        return AmqpConnection::status(status, "publishing");
      }
      in_flight.emplace(++next_tag, std::move(r));
      batch.pop_front();
    }
    while (!in_flight.empty()) {
      amqp_frame_t frame;
      auto wait = to_timeval(std::chrono::milliseconds(100));
      const int status = amqp_simple_wait_frame_noblock(c.state(), &frame, &wait);
      if (status == AMQP_STATUS_TIMEOUT) {
        if (in_flight.begin()->second.deadline > Steady::now()) continue;
        // The broker keeps silent past the deadline: treat the connection as lost.
        status_lost = "no confirmation within the publish timeout";
      } else if (status != AMQP_STATUS_OK) {
        status_lost = amqp_error_string2(status);
      } else if (frame.frame_type == AMQP_FRAME_METHOD) {
        const auto id = frame.payload.method.id;
        if (id == AMQP_BASIC_ACK_METHOD || id == AMQP_BASIC_NACK_METHOD) {
          std::uint64_t tag = 0;
          bool multiple = false;
          if (id == AMQP_BASIC_ACK_METHOD) {
            const auto* m = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
            tag = m->delivery_tag;
            multiple = m->multiple != 0;
          } else {
            const auto* m = static_cast<const amqp_basic_nack_t*>(frame.payload.method.decoded);
            tag = m->delivery_tag;
            multiple = m->multiple != 0;
          }
          const auto end = multiple ? in_flight.upper_bound(tag) : std::next(in_flight.find(tag));
          auto first = multiple ? in_flight.begin() : in_flight.find(tag);
          if (first == in_flight.end()) continue;
          for (auto it = first; it != end; ++it) {
            it->second.done->set(id == AMQP_BASIC_ACK_METHOD
                                     ? Result<void>{}
                                     : make_error(ErrorCode::limit_exceeded,
                                                  "amqp publish: refused by the broker (a group's queue is full)"));
          }
          in_flight.erase(first, end);
          continue;
        }
        if (id == AMQP_CHANNEL_CLOSE_METHOD || id == AMQP_CONNECTION_CLOSE_METHOD) {
          status_lost = "closed by the broker";
        } else {
          continue;  // e.g. basic.return: not asked for
        }
      } else {
        continue;
      }
      for (auto it = in_flight.rbegin(); it != in_flight.rend(); ++it) batch.push_front(std::move(it->second));
      return make_error(ErrorCode::unavailable, "amqp: " + status_lost);
    }
    amqp_maybe_release_buffers(c.state());
    return {};
  }

  const AmqpEventBusOptions options;
  std::unique_ptr<AmqpConnection> connection;  // the thread's only
  std::uint64_t next_tag = 0;                  // the thread's only: the channel's last delivery tag
  std::thread thread;
  std::mutex mutex;
  std::condition_variable wakeup;
  std::deque<Request> queue;    // guarded by mutex
  std::size_t unconfirmed = 0;  // guarded by mutex: the batch being sent
  bool stopping = false;        // guarded by mutex
  std::atomic<std::uint64_t> reconnects{0};
};

// ---------------------------------------------------------------------------------------------
// Subscriptions: a consumer thread per subscription.

namespace {

struct Delivery {
  std::uint64_t generation = 0;  // the consumer connection it came on
  std::uint64_t tag = 0;
  bool redelivered = false;
  std::string body;
};

enum class Settle { ack, requeue };

class AmqpSubscription final : public Subscription {
 public:
  struct Shared : std::enable_shared_from_this<Shared> {
    const TimeSource* time = nullptr;
    Sleeper* sleeper = nullptr;
    AmqpEventBus::Publisher* publisher = nullptr;
    AmqpEventBusOptions bus;
    SubscribeOptions options;
    EventHandler handler;
    asio::any_io_executor executor;
    std::string queue;  // the group's queue ("" for a listener: the broker names it)
    std::string exchange;
    std::mutex mutex;
    std::condition_variable wakeup;
    std::array<std::deque<Delivery>, 3> waiting;                            // guarded by mutex: by priority, high first
    std::vector<std::tuple<std::uint64_t, std::uint64_t, Settle>> settles;  // guarded by mutex
    std::size_t running = 0;                                                // guarded by mutex
    bool closing = false;                                                   // guarded by mutex
    bool finished = false;                                                  // guarded by mutex: thread may end
    std::optional<WakeableWait> ended;                                      // guarded by mutex
    std::optional<DeliveryPolicy> policy;                                   // set before the first delivery
    std::atomic<std::uint64_t> reconnects{0};
  };

  explicit AmqpSubscription(std::shared_ptr<Shared> shared, std::unique_ptr<AmqpConnection> first)
      : shared_(std::move(shared)) {
    thread_ = std::thread([s = shared_, c = std::move(first)]() mutable { consume(*s, std::move(c)); });
  }
  ~AmqpSubscription() override {
    {
      std::lock_guard lock(shared_->mutex);
      shared_->closing = true;
      shared_->finished = true;
    }
    shared_->wakeup.notify_all();
    thread_.join();
  }

  Awaitable<void> close() override {
    const auto executor = co_await asio::this_coro::executor;
    std::optional<WakeableWait> ended;
    {
      std::lock_guard lock(shared_->mutex);
      shared_->closing = true;
      if (shared_->running > 0) {
        shared_->ended.emplace(executor);
        ended = shared_->ended;
      }
    }
    if (ended) {
      const auto far = Steady::now() + std::chrono::hours(24 * 365);
      co_await ended->wait_until(far);
    }
    {
      std::lock_guard lock(shared_->mutex);
      shared_->finished = true;  // the thread settles what the handlers left, then closes
    }
    shared_->wakeup.notify_all();
  }

  SubscriptionStats stats() const override { return shared_->policy->stats(); }
  bool ready() const override { return true; }

  /// Declares the queue (and the group's dead-letter queue) and binds it; returns the queue name.
  static Result<std::string> declare(Shared& s, AmqpConnection& c) {
    const auto& bus = s.bus;
    if (auto r = c.declare_exchange(s.exchange, "topic"); !r) return r.error();
    const auto dead_exchange = bus.prefix + ".dead";
    if (auto r = c.declare_exchange(dead_exchange, "direct"); !r) return r.error();
    const auto dead_key = s.options.group.empty() ? std::string("_listeners") : s.options.group;
    amqp::Table dead_args;
    dead_args.add("x-max-length", static_cast<std::int64_t>(bus.max_dead_letters));
    auto dead_queue = c.declare_queue(bus.prefix + ".dead." + dead_key, true, false, false, dead_args);
    if (!dead_queue) return dead_queue.error();
    if (auto r = c.bind(*dead_queue, dead_exchange, dead_key); !r) return r.error();
    amqp::Table args;
    args.add("x-max-priority", std::int64_t{3});
    args.add("x-dead-letter-exchange", dead_exchange);
    args.add("x-dead-letter-routing-key", dead_key);
    Result<std::string> queue = std::string();
    if (s.options.group.empty()) {
      queue = c.declare_queue("", false, true, true, args);
    } else {
      args.add("x-max-length", static_cast<std::int64_t>(bus.max_pending));
      args.add("x-overflow", std::string("reject-publish"));
      queue = c.declare_queue(s.queue, true, false, false, args);
    }
    if (!queue) return queue.error();
    if (auto r = c.bind(*queue, s.exchange, binding_key(s.options.pattern)); !r) return r.error();
    return queue;
  }

  /// Declares the topology and starts consuming on `c`.
  static Result<void> start(Shared& s, AmqpConnection& c) {
    auto queue = declare(s, c);
    if (!queue) return queue.error();
    amqp_basic_qos(c.state(), amqp::kChannel, 0, s.bus.prefetch, 0);
    if (auto r = c.rpc_result("setting the prefetch"); !r) return r;
    amqp_basic_consume(c.state(), amqp::kChannel, amqp_cstring_bytes(queue->c_str()), amqp_empty_bytes, 0, 0, 0,
                       amqp_empty_table);
    return c.rpc_result("consuming from " + *queue);
  }

 private:
  /// The consumer thread: (re)connects, receives deliveries into `waiting`, hands them to handler
  /// coroutines (at most `concurrency` at once) and settles what they finished.
  static void consume(Shared& s, std::unique_ptr<AmqpConnection> connection) {
    std::uint64_t generation = 1;
    auto pause = std::chrono::milliseconds(50);
    while (true) {
      std::vector<std::tuple<std::uint64_t, std::uint64_t, Settle>> settles;
      {
        std::unique_lock lock(s.mutex);
        if (s.finished) break;
        settles.swap(s.settles);
        dispatch(s, lock);
      }
      if (!connection) {
        auto opened = AmqpConnection::open(s.bus);
        Result<void> started = opened ? start(s, **opened) : Result<void>(opened.error());
        if (!started) {
          logs::warn("events", "event=amqp_consumer_connect_failed queue={} error=\"{}\" retry_in_ms={}", s.queue,
                     started.error().describe(), pause.count());
          std::unique_lock lock(s.mutex);
          s.wakeup.wait_for(lock, pause, [&] { return s.finished; });
          pause = next_pause(pause);
          continue;
        }
        connection = std::move(*opened);
        ++generation;
        s.reconnects.fetch_add(1);
        pause = std::chrono::milliseconds(50);
        logs::info("events", "event=amqp_consumer_reconnected queue={}", s.queue);
        continue;
      }
      auto* state = connection->state();
      bool lost = false;
      for (const auto& [gen, tag, how] : settles) {
        if (gen != generation) continue;  // that connection is gone: the broker redelivers it
        const int status = how == Settle::ack ? amqp_basic_ack(state, amqp::kChannel, tag, 0)
                                              : amqp_basic_nack(state, amqp::kChannel, tag, 0, 1);
        if (status != AMQP_STATUS_OK) lost = true;
      }
      if (!lost) lost = !receive(s, *connection, generation);
      if (lost) {
        logs::warn("events", "event=amqp_consumer_connection_lost queue={}", s.queue);
        connection.reset();
        std::lock_guard lock(s.mutex);
        for (auto& level : s.waiting) level.clear();  // unacknowledged: the broker redelivers them
      }
    }
  }

  /// Waits up to kPoll for a delivery; false when the connection is lost.
  static bool receive(Shared& s, AmqpConnection& c, std::uint64_t generation) {
    amqp_envelope_t envelope;
    amqp_maybe_release_buffers(c.state());
    auto timeout = to_timeval(kPoll);
    const amqp_rpc_reply_t reply = amqp_consume_message(c.state(), &envelope, &timeout, 0);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) {
      Delivery d;
      d.generation = generation;
      d.tag = envelope.delivery_tag;
      d.redelivered = envelope.redelivered != 0;
      d.body = amqp::to_string(envelope.message.body);
      const auto& props = envelope.message.properties;
      const int level = (props._flags & AMQP_BASIC_PRIORITY_FLAG) != 0 ? std::min<int>(props.priority, 2) : 1;
      amqp_destroy_envelope(&envelope);
      std::lock_guard lock(s.mutex);
      s.waiting[static_cast<std::size_t>(2 - level)].push_back(std::move(d));
      return true;
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_TIMEOUT) {
      return true;
    }
    if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && reply.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
      // Not a delivery: a close from the broker ends the connection; anything else is skipped.
      amqp_frame_t frame;
      auto none = to_timeval(std::chrono::microseconds(0));
      const int status = amqp_simple_wait_frame_noblock(c.state(), &frame, &none);
      if (status != AMQP_STATUS_OK) return status == AMQP_STATUS_TIMEOUT;
      if (frame.frame_type == AMQP_FRAME_METHOD && (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD ||
                                                    frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD)) {
        return false;
      }
      return true;
    }
    return false;
  }

  /// Starts handlers for waiting deliveries while there is room. Called with the lock held.
  static void dispatch(Shared& s, std::unique_lock<std::mutex>&) {
    while (!s.closing && s.running < s.options.concurrency) {
      auto level = std::find_if(s.waiting.begin(), s.waiting.end(), [](const auto& q) { return !q.empty(); });
      if (level == s.waiting.end()) return;
      ++s.running;
      asio::co_spawn(s.executor, handle(s.shared_from_this(), std::move(level->front())), asio::detached);
      level->pop_front();
    }
  }

  static void settle(Shared& s, const Delivery& d, Settle how) {
    {
      std::lock_guard lock(s.mutex);
      s.settles.emplace_back(d.generation, d.tag, how);
    }
    s.wakeup.notify_all();
  }

  static void finished(Shared& s) {
    {
      std::unique_lock lock(s.mutex);
      --s.running;
      dispatch(s, lock);  // the next waiting delivery starts now, not at the thread's next poll
      if (s.running == 0 && s.ended) s.ended->wake();
    }
    s.wakeup.notify_all();
  }

  /// Publishes the event to the dead-letter exchange (confirmed), then acknowledges it; requeues
  /// it when the dead letter could not be stored.
  static Awaitable<void> dead_letter(Shared& s, const Delivery& d, const std::string& error, int deliveries,
                                     const std::string& id) {
    logs::warn("events", "event=event_dead_lettered queue={} group={} id={} deliveries={} error=\"{}\"", s.queue,
               s.options.group, id, deliveries, error);
    AmqpEventBus::Publisher::Request r;
    r.exchange = s.bus.prefix + ".dead";
    r.key = s.options.group.empty() ? std::string("_listeners") : s.options.group;
    r.body = d.body;
    r.message_id = id;
    r.headers.add(kLetterErrorHeader, error);
    r.headers.add(kLetterDeliveriesHeader, std::int64_t{deliveries});
    auto stored = co_await s.publisher->publish(std::move(r));
    if (!stored) {
      logs::warn("events", "event=dead_letter_failed id={} error=\"{}\"", id, stored.error().describe());
      settle(s, d, Settle::requeue);
      co_return;
    }
    settle(s, d, Settle::ack);
    s.policy->dead_lettered();  // after the store: a reader who sees the count finds the letter
  }

  static Awaitable<void> handle(std::shared_ptr<Shared> s, Delivery d) {
    auto json = parse_json_or_discarded(d.body);
    auto event = json.is_discarded() ? Result<Event>(make_error(ErrorCode::invalid_argument, "not JSON"))
                                     : event_from_json(json);
    int deliveries = d.redelivered ? 2 : 1;
    if (!event) {  // not an envelope: retrying cannot help
      const std::string no_id;
      co_await dead_letter(*s, d, s->policy->undecodable(event.error()), deliveries, no_id);
      finished(*s);
      co_return;
    }
    if (s->policy->screen(*event, deliveries) != DeliveryPolicy::Screen::deliver) {
      settle(*s, d, Settle::ack);
      finished(*s);
      co_return;
    }
    for (;; ++deliveries) {
      auto handled = co_await s->handler(*event);
      const auto verdict = s->policy->after(handled, deliveries);
      if (verdict.kind == DeliveryPolicy::Verdict::Kind::ack) {
        settle(*s, d, Settle::ack);
        break;
      }
      if (verdict.kind == DeliveryPolicy::Verdict::Kind::dead_letter) {
        co_await dead_letter(*s, d, verdict.reason, deliveries, event->id);
        break;
      }
      const std::chrono::milliseconds delay = verdict.delay;
      // The slot is free while the event waits: the subscription's other events go on.
      finished(*s);
      const std::chrono::nanoseconds wait = delay;
      co_await s->sleeper->sleep_for(wait);
      {
        std::lock_guard lock(s->mutex);
        if (s->closing) {  // not retried here: back to the group (close() no longer waits for it)
          s->settles.emplace_back(d.generation, d.tag, Settle::requeue);
          co_return;
        }
        ++s->running;  // may exceed concurrency for this one retry
      }
    }
    finished(*s);
  }

  std::shared_ptr<Shared> shared_;
  std::thread thread_;
};

/// Reads up to `limit` dead letters without taking them: basic.get without acknowledging, then
/// the connection closes and the broker puts them back in order. Blocking.
Result<std::vector<DeadLetter>> read_dead_letters(const AmqpEventBusOptions& o, const std::string& group,
                                                  std::size_t limit) {
  auto connection = AmqpConnection::open(o);
  if (!connection) return connection.error();
  auto& c = **connection;
  const auto queue = o.prefix + ".dead." + (group.empty() ? std::string("_listeners") : group);
  std::vector<DeadLetter> out;
  while (out.size() < limit) {
    const amqp_rpc_reply_t reply = amqp_basic_get(c.state(), amqp::kChannel, amqp_cstring_bytes(queue.c_str()), 0);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      if (auto r = c.rpc_result("reading " + queue); !r) {
        if (r.error().message.find("NOT_FOUND") != std::string::npos) break;  // no dead letters yet
        return r.error();
      }
      break;
    }
    if (reply.reply.id != AMQP_BASIC_GET_OK_METHOD) break;  // get-empty
    amqp_message_t message;
    const amqp_rpc_reply_t read = amqp_read_message(c.state(), amqp::kChannel, &message, 0);
    if (read.reply_type != AMQP_RESPONSE_NORMAL) return make_error(ErrorCode::unavailable, "amqp: reading " + queue);
    DeadLetter letter;
    auto json = parse_json_or_discarded(amqp::to_string(message.body));
    if (!json.is_discarded()) {
      if (auto e = event_from_json(json)) letter.event = std::move(*e);
    }
    if ((message.properties._flags & AMQP_BASIC_HEADERS_FLAG) != 0) {
      letter.error = amqp::header_text(message.properties.headers, kLetterErrorHeader);
      letter.deliveries = static_cast<int>(amqp::header_number(message.properties.headers, kLetterDeliveriesHeader));
    }
    amqp_destroy_message(&message);
    out.push_back(std::move(letter));
  }
  return out;
}

Awaitable<Result<std::vector<DeadLetter>>> read_dead_letters_async(const AmqpEventBusOptions* o, std::string group,
                                                                   std::size_t limit) {
  co_return read_dead_letters(*o, group, limit);
}

}  // namespace

// ---------------------------------------------------------------------------------------------

Result<std::unique_ptr<AmqpEventBus>> AmqpEventBus::connect(const TimeSource& time, Random& random, Sleeper& sleeper,
                                                            AmqpEventBusOptions options) {
  if (options.prefix.empty() || options.prefix.find_first_of(".*#> ") != std::string::npos) {
    return make_error(ErrorCode::invalid_argument, "a single word", "prefix");
  }
  if (options.prefetch == 0) return make_error(ErrorCode::invalid_argument, "at least 1", "prefetch");
  // Our threads log: create spdlog's registry here, not first on two of them at once (its lazy
  // initialisation inside libspdlog is invisible to ThreadSanitizer).
  (void)spdlog::default_logger_raw();
  auto publisher = std::make_unique<Publisher>(options);
  auto connection = AmqpConnection::open(options);
  if (!connection) return connection.error();
  if (auto r = publisher->prepare(**connection); !r) return r.error();
  publisher->start(std::move(*connection));
  return std::unique_ptr<AmqpEventBus>(
      new AmqpEventBus(time, random, sleeper, std::move(options), std::move(publisher)));
}

AmqpEventBus::AmqpEventBus(const TimeSource& time, Random& random, Sleeper& sleeper, AmqpEventBusOptions options,
                           std::unique_ptr<Publisher> publisher)
    : time_(time), random_(random), sleeper_(sleeper), options_(std::move(options)), publisher_(std::move(publisher)) {}

AmqpEventBus::~AmqpEventBus() = default;

std::uint64_t AmqpEventBus::reconnects() const { return publisher_->reconnects.load(); }

Awaitable<Result<std::string>> AmqpEventBus::publish(Event event) {
  if (event.id.empty()) {
    std::lock_guard lock(mutex_);
    event.id = random_hex_id(random_);
  }
  if (event.time == SystemTime{}) event.time = time_.system_now();
  if (auto valid = validate(event); !valid) co_return valid.error();
  Publisher::Request r;
  r.exchange = options_.prefix + "." + namespace_of(event.type);
  r.key = event.type;
  r.body = to_json(event).dump();
  r.message_id = event.id;
  r.priority = amqp_priority(event.priority);
  auto id = event.id;
  auto stored = co_await publisher_->publish(std::move(r));
  if (!stored) co_return stored.error();
  co_return id;
}

Result<std::unique_ptr<Subscription>> AmqpEventBus::subscribe(asio::any_io_executor executor, SubscribeOptions options,
                                                              EventHandler handler) {
  if (auto valid = events::validate(options); !valid) return valid.error();
  const auto ns = namespace_of(options.pattern);
  if (ns == "*" || ns == ">") {
    return make_error(ErrorCode::invalid_argument, "amqp:// needs a literal first segment (it names the exchange)",
                      "pattern");
  }
  auto s = std::make_shared<AmqpSubscription::Shared>();
  s->time = &time_;
  s->sleeper = &sleeper_;
  s->publisher = publisher_.get();
  s->bus = options_;
  s->executor = std::move(executor);
  s->handler = std::move(handler);
  s->exchange = options_.prefix + "." + ns;
  if (!options.group.empty()) s->queue = options_.prefix + ".group." + options.group;
  s->policy.emplace(time_, random_.next_u64(), options);
  s->options = std::move(options);
  auto connection = AmqpConnection::open(options_);
  if (!connection) return connection.error();
  if (auto started = AmqpSubscription::start(*s, **connection); !started) {
    if (started.error().message.find("PRECONDITION_FAILED") != std::string::npos) {
      return make_error(ErrorCode::invalid_argument, started.error().message, "group");
    }
    return started.error();
  }
  return std::unique_ptr<Subscription>(std::make_unique<AmqpSubscription>(std::move(s), std::move(*connection)));
}

Awaitable<Result<std::vector<DeadLetter>>> AmqpEventBus::dead_letters(std::string group, std::size_t limit) {
  // On a thread of its own (blocking); no lambda: GCC 12 destroys a capturing coroutine lambda's
  // captures twice.
  asio::thread_pool pool(1);
  auto read = read_dead_letters_async(&options_, std::move(group), limit);
  auto result = co_await asio::co_spawn(pool, std::move(read), asio::use_awaitable);
  co_return result;
}

}  // namespace svckit::events
