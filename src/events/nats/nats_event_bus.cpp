// NatsEventBus on cnats: callbacks come on cnats's threads (publish acknowledgements, deliveries,
// connection events); they hand over to coroutines on the subscription's executor or wake a
// publisher waiting on its own executor. The blocking JetStream management calls (declare,
// consumer creation, dead-letter reads) run on the caller's thread or a one-thread pool.
#include "svckit/events/nats_event_bus.hpp"
#include "svckit/core/instance_json.hpp"

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <mutex>
#include <unordered_map>

#include "svckit/core/completion.hpp"
#include "svckit/core/log.hpp"
#include "svckit/events/delivery_policy.hpp"

namespace svckit::events {

namespace asio = boost::asio;
using Steady = std::chrono::steady_clock;

namespace {

constexpr const char* kMsgId = "Nats-Msg-Id";
constexpr const char* kErrorHeader = "Svckit-Error";
constexpr const char* kDeliveriesHeader = "Svckit-Deliveries";
constexpr std::int64_t kNanosPerMs = 1'000'000;

std::string status_text(natsStatus s, jsErrCode code = static_cast<jsErrCode>(0), const char* text = nullptr) {
  std::string out = text != nullptr && *text != '\0' ? text : natsStatus_GetText(s);
  if (code != 0) out += " (JetStream error " + std::to_string(static_cast<int>(code)) + ")";
  return out;
}

/// Maps a failed publish: a full stream or a full reconnect buffer is limit_exceeded, the rest unavailable.
Error publish_error(natsStatus s, jsErrCode code, const char* text) {
  const auto why = status_text(s, code, text);
  const bool full = s == NATS_INSUFFICIENT_BUFFER || why.find("maximum") != std::string::npos;
  return make_error(full ? ErrorCode::limit_exceeded : ErrorCode::unavailable, "nats publish: " + why);
}

struct MsgDeleter {
  void operator()(natsMsg* m) const { natsMsg_Destroy(m); }
};
using MsgPtr = std::unique_ptr<natsMsg, MsgDeleter>;

std::string header(natsMsg* msg, const char* key) {
  const char* value = nullptr;
  return natsMsgHeader_Get(msg, key, &value) == NATS_OK && value != nullptr ? value : std::string();
}

int deliveries_of(natsMsg* msg) {
  jsMsgMetaData* meta = nullptr;
  if (natsMsg_GetMetaData(&meta, msg) != NATS_OK || meta == nullptr) return 1;
  const auto n = static_cast<int>(meta->NumDelivered);
  jsMsgMetaData_Destroy(meta);
  return n;
}

}  // namespace

using PendingPublish = Completion<Result<void>>;  // one publish waiting for its PubAck

struct NatsEventBus::Context {
  Context(const TimeSource& t, Random& r, Sleeper& s, NatsEventBusOptions o)
      : time(t), random(r), sleeper(s), options(std::move(o)) {}
  ~Context() {
    if (js != nullptr) jsCtx_Destroy(js);
    if (connection != nullptr) natsConnection_Destroy(connection);
  }

  const TimeSource& time;
  Random& random;  // guarded by mutex
  Sleeper& sleeper;
  const NatsEventBusOptions options;
  natsConnection* connection = nullptr;
  jsCtx* js = nullptr;
  asio::thread_pool blocking{1};  // dead-letter reads, re-declaring after a reconnect
  std::mutex mutex;
  std::unordered_multimap<std::string, std::shared_ptr<PendingPublish>> pending;  // by Nats-Msg-Id
  std::atomic<std::uint64_t> reconnects{0};
  std::atomic<bool> closing{false};  // the bus is being destroyed: a disconnect is expected
  std::mutex closed_mutex;
  std::condition_variable closed_cv;
  bool closed = false;  // guarded by closed_mutex: cnats ran the closed callback (its last)

  std::string subject_of(std::string_view type) const { return options.prefix + ".ev." + std::string(type); }
  std::string dead_stream() const { return options.stream + "_DEAD"; }
  std::string dead_subject(const std::string& group) const {
    return options.prefix + ".dead." + (group.empty() ? std::string("_listeners") : group);
  }

  /// Creates (or updates) both streams. Blocking: one request each.
  Result<void> declare() {
    const auto events_subject = options.prefix + ".ev.>";
    const auto dead_subjects = options.prefix + ".dead.>";
    const auto dead_name = dead_stream();
    auto add = [&](jsStreamConfig& cfg) -> Result<void> {
      jsErrCode code = static_cast<jsErrCode>(0);
      jsStreamInfo* info = nullptr;
      natsStatus s = js_AddStream(&info, js, &cfg, nullptr, &code);
      if (s != NATS_OK && code == JSStreamNameExistErr) s = js_UpdateStream(&info, js, &cfg, nullptr, &code);
      if (info != nullptr) jsStreamInfo_Destroy(info);
      if (s != NATS_OK) {
        return make_error(ErrorCode::unavailable, std::string("nats: declaring stream ") + cfg.Name + ": " +
                                                      status_text(s, code, nats_GetLastError(nullptr)));
      }
      return {};
    };
    const char* events_subjects[] = {events_subject.c_str()};
    jsStreamConfig events;
    jsStreamConfig_Init(&events);
    events.Name = options.stream.c_str();
    events.Subjects = events_subjects;
    events.SubjectsLen = 1;
    events.Retention = js_InterestPolicy;
    events.Discard = js_DiscardNew;
    events.MaxMsgs = static_cast<std::int64_t>(options.max_pending);
    events.Storage = js_FileStorage;
    events.Duplicates = options.duplicate_window.count() * kNanosPerMs;
    if (auto r = add(events); !r) return r;
    const char* dead_subjects_list[] = {dead_subjects.c_str()};
    jsStreamConfig dead;
    jsStreamConfig_Init(&dead);
    dead.Name = dead_name.c_str();
    dead.Subjects = dead_subjects_list;
    dead.SubjectsLen = 1;
    dead.Retention = js_LimitsPolicy;
    dead.Discard = js_DiscardOld;
    dead.MaxMsgsPerSubject = static_cast<std::int64_t>(options.max_dead_letters);
    dead.Storage = js_FileStorage;
    dead.Duplicates = options.duplicate_window.count() * kNanosPerMs;
    return add(dead);
  }

  /// The event as a message to publish: fills its id (when empty) and time (when unset), validates
  /// it, and sets Nats-Msg-Id (the broker de-duplicates by it).
  Result<MsgPtr> message_for(Event& event) {
    if (event.id.empty()) {
      std::lock_guard lock(mutex);
      event.id = random_hex_id(random);
    }
    if (event.time == SystemTime{}) event.time = time.system_now();
    if (auto valid = validate(event); !valid) return valid.error();
    const auto subject = subject_of(event.type);
    const auto body = to_json(event).dump();
    natsMsg* raw = nullptr;
    if (natsMsg_Create(&raw, subject.c_str(), nullptr, body.data(), static_cast<int>(body.size())) != NATS_OK) {
      return make_error(ErrorCode::internal, "nats: cannot create the message");
    }
    MsgPtr msg(raw);
    natsMsgHeader_Set(msg.get(), kMsgId, event.id.c_str());
    return msg;
  }

  /// Publishes `msg` (taking it) and waits for its PubAck, on the caller's executor.
  Awaitable<Result<void>> publish(MsgPtr msg, std::string id) {
    const auto executor = co_await asio::this_coro::executor;
    auto waiter = std::make_shared<PendingPublish>(executor);
    {
      std::lock_guard lock(mutex);
      pending.emplace(id, waiter);
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MaxWait = options.publish_timeout.count();
    natsMsg* raw = msg.release();
    const natsStatus s = js_PublishMsgAsync(js, &raw, &po);
    if (s != NATS_OK) {
      if (raw != nullptr) natsMsg_Destroy(raw);
      forget(id, waiter);
      co_return publish_error(s, static_cast<jsErrCode>(0), nats_GetLastError(nullptr));
    }
    // The PubAck or cnats's own timeout wakes us; the extra second only guards against neither.
    const auto deadline = Steady::now() + options.publish_timeout + std::chrono::seconds(1);
    auto result = co_await waiter->wait_until(deadline);
    if (result) co_return *result;
    forget(id, waiter);
    co_return make_error(ErrorCode::unavailable, "nats publish: no confirmation within " +
                                                     std::to_string(options.publish_timeout.count()) + " ms");
  }

  void forget(const std::string& id, const std::shared_ptr<PendingPublish>& waiter) {
    std::lock_guard lock(mutex);
    auto [first, last] = pending.equal_range(id);
    for (auto it = first; it != last; ++it) {
      if (it->second == waiter) {
        pending.erase(it);
        return;
      }
    }
  }

  /// cnats's publish-acknowledgement callback (its thread): completes the oldest waiter of the id.
  static void on_ack(jsCtx*, natsMsg* msg, jsPubAck* ack, jsPubAckErr* error, void* closure) {
    auto* self = static_cast<Context*>(closure);
    const auto id = header(msg, kMsgId);
    std::shared_ptr<PendingPublish> waiter;
    {
      std::lock_guard lock(self->mutex);
      auto it = self->pending.find(id);
      if (it != self->pending.end()) {
        waiter = std::move(it->second);
        self->pending.erase(it);
      }
    }
    if (waiter) {
      if (ack != nullptr) {
        waiter->set(Result<void>{});
      } else {
        waiter->set(error != nullptr ? publish_error(error->Err, error->ErrCode, error->ErrText)
                                     : make_error(ErrorCode::unavailable, "nats publish: no acknowledgement"));
      }
    }
    natsMsg_Destroy(msg);
  }

  static void on_disconnected(natsConnection*, void* closure) {
    if (!static_cast<Context*>(closure)->closing) logs::warn("events", "event=nats_disconnected");
  }
  /// cnats's last callback for the connection (its callbacks run in order on one thread).
  static void on_closed(natsConnection*, void* closure) {
    auto* self = static_cast<Context*>(closure);
    std::lock_guard lock(self->closed_mutex);
    self->closed = true;
    self->closed_cv.notify_all();
  }
  static void on_reconnected(natsConnection*, void* closure) {
    auto* self = static_cast<Context*>(closure);
    self->reconnects.fetch_add(1);
    logs::info("events", "event=nats_reconnected");
    // The broker may have come back without its store: declare the streams again (off cnats's thread).
    asio::post(self->blocking, [self] {
      if (auto r = self->declare(); !r)
        logs::warn("events", "event=nats_declare_failed error=\"{}\"", r.error().describe());
    });
  }
  static std::int64_t reconnect_delay(natsConnection*, int attempts, void*) {
    const int doublings = std::min(attempts, 7);  // 50 ms · 2^7 > 5 s
    return std::min<std::int64_t>(50LL << doublings, 5'000);
  }
};

namespace {

using Context = NatsEventBus::Context;

class NatsSubscription final : public Subscription {
 public:
  struct Shared {
    std::shared_ptr<Context> context;
    SubscribeOptions options;
    EventHandler handler;
    asio::any_io_executor executor;
    std::mutex mutex;
    std::condition_variable slot_freed;
    std::size_t running = 0;               // guarded by mutex: handlers in flight
    bool stopping = false;                 // guarded by mutex
    std::optional<WakeableWait> ended;     // guarded by mutex: close() waits for running == 0
    std::optional<DeliveryPolicy> policy;  // set before the first delivery
  };

  NatsSubscription(std::shared_ptr<Shared> shared, natsSubscription* sub) : shared_(std::move(shared)), sub_(sub) {}
  ~NatsSubscription() override {
    stop();
    natsSubscription_Destroy(sub_);
  }

  Awaitable<void> close() override {
    stop();
    const auto executor = co_await asio::this_coro::executor;
    std::optional<WakeableWait> ended;
    {
      std::lock_guard lock(shared_->mutex);
      if (shared_->running == 0) co_return;
      shared_->ended.emplace(executor);
      ended = shared_->ended;
    }
    const auto far = Steady::now() + std::chrono::hours(24 * 365);
    co_await ended->wait_until(far);
  }

  SubscriptionStats stats() const override { return shared_->policy->stats(); }
  bool ready() const override { return true; }

  /// cnats's delivery callback (the subscription's own thread): waits for a free handler slot, then
  /// hands the message to a coroutine on the subscription's executor.
  static void on_message(natsConnection*, natsSubscription*, natsMsg* raw, void* closure) {
    MsgPtr msg(raw);
    auto s = *static_cast<std::shared_ptr<Shared>*>(closure);
    {
      std::unique_lock lock(s->mutex);
      s->slot_freed.wait(lock, [&] { return s->stopping || s->running < s->options.concurrency; });
      if (s->stopping) {
        natsMsg_Nak(msg.get(), nullptr);  // to another member now, not after ack_wait
        return;
      }
      ++s->running;
    }
    std::shared_ptr<natsMsg> shared_msg(msg.release(), MsgDeleter{});
    asio::co_spawn(s->executor, handle(s, std::move(shared_msg)), asio::detached);
  }
  static void on_complete(void* closure) { delete static_cast<std::shared_ptr<Shared>*>(closure); }

 private:
  void stop() {
    {
      std::lock_guard lock(shared_->mutex);
      if (shared_->stopping) return;
      shared_->stopping = true;
    }
    shared_->slot_freed.notify_all();
    // Stops deliveries. The group's consumer stays (the subscription bound to it, it did not make it).
    natsSubscription_Unsubscribe(sub_);
    // A round trip, so the server has dropped our interest before anything else happens: without
    // it, events published right after a group's last member closed were pushed to this gone
    // subscription and came back only after ack_wait (measured: 2 s with a 2 s ack_wait → 57 ms).
    natsConnection_FlushTimeout(shared_->context->connection, 1000);
  }

  static void finished(Shared& s) {
    {
      std::lock_guard lock(s.mutex);
      if (--s.running == 0 && s.ended) s.ended->wake();
    }
    s.slot_freed.notify_one();
  }

  /// Tells the broker the handler is still at it, every ack_wait / 3, until `done`.
  static Awaitable<void> keep_alive(std::shared_ptr<Shared> s, std::shared_ptr<natsMsg> msg,
                                    std::shared_ptr<CancelToken> done) {
    const std::chrono::nanoseconds every = s->context->options.ack_wait / 3;
    CancelToken* const ended = done.get();
    for (;;) {
      const bool slept = co_await s->context->sleeper.sleep_for(every, ended);
      if (!slept) break;
      natsMsg_InProgress(msg.get(), nullptr);
    }
  }

  static Awaitable<void> dead_letter(Shared& s, natsMsg* msg, const std::string& envelope, const std::string& error,
                                     int deliveries, const std::string& event_id) {
    auto& c = *s.context;
    const auto subject = c.dead_subject(s.options.group);
    natsMsg* raw = nullptr;
    if (natsMsg_Create(&raw, subject.c_str(), nullptr, envelope.data(), static_cast<int>(envelope.size())) != NATS_OK) {
      co_return;  // not terminated: redelivered, dead-lettered then
    }
    MsgPtr letter(raw);
    // One letter per event and group, even when a redelivery dead-letters it again.
    const auto id = "dead-" + (s.options.group.empty() ? s.options.pattern : s.options.group) + "-" + event_id;
    natsMsgHeader_Set(letter.get(), kMsgId, id.c_str());
    natsMsgHeader_Set(letter.get(), kErrorHeader, error.c_str());
    natsMsgHeader_Set(letter.get(), kDeliveriesHeader, std::to_string(deliveries).c_str());
    logs::warn("events", "event=event_dead_lettered subject={} group={} id={} deliveries={} error=\"{}\"",
               natsMsg_GetSubject(msg), s.options.group, event_id, deliveries, error);
    auto stored = co_await c.publish(std::move(letter), id);
    if (!stored) {
      logs::warn("events", "event=dead_letter_failed id={} error=\"{}\"", event_id, stored.error().describe());
      co_return;
    }
    natsMsg_Term(msg, nullptr);
    s.policy->dead_lettered();  // after the store: a reader who sees the count finds the letter
  }

  static Awaitable<void> handle(std::shared_ptr<Shared> s, std::shared_ptr<natsMsg> msg) {
    const int deliveries = deliveries_of(msg.get());
    const std::string envelope(natsMsg_GetData(msg.get()), static_cast<std::size_t>(natsMsg_GetDataLength(msg.get())));
    auto json = parse_json_or_discarded(envelope);
    auto event = json.is_discarded() ? Result<Event>(make_error(ErrorCode::invalid_argument, "not JSON"))
                                     : event_from_json(json);
    if (!event) {  // not an envelope: retrying cannot help
      const auto no_id = header(msg.get(), kMsgId);
      co_await dead_letter(*s, msg.get(), envelope, s->policy->undecodable(event.error()), deliveries, no_id);
      finished(*s);
      co_return;
    }
    if (s->policy->screen(*event, deliveries) != DeliveryPolicy::Screen::deliver) {
      natsMsg_Ack(msg.get(), nullptr);
      finished(*s);
      co_return;
    }
    auto done = std::make_shared<CancelToken>();
    const auto executor = co_await asio::this_coro::executor;
    asio::co_spawn(executor, keep_alive(s, msg, done), asio::detached);
    auto handled = co_await s->handler(*event);
    done->cancel();
    const auto verdict = s->policy->after(handled, deliveries);
    if (verdict.kind == DeliveryPolicy::Verdict::Kind::ack) {
      natsMsg_Ack(msg.get(), nullptr);
    } else if (verdict.kind == DeliveryPolicy::Verdict::Kind::dead_letter) {
      co_await dead_letter(*s, msg.get(), envelope, verdict.reason, deliveries, event->id);
    } else {
      natsMsg_NakWithDelay(msg.get(), verdict.delay.count(), nullptr);  // cnats takes milliseconds
    }
    finished(*s);
  }

  std::shared_ptr<Shared> shared_;
  natsSubscription* sub_;
};

}  // namespace

Result<std::unique_ptr<NatsEventBus>> NatsEventBus::connect(const TimeSource& time, Random& random, Sleeper& sleeper,
                                                            NatsEventBusOptions options) {
  if (options.servers.empty()) return make_error(ErrorCode::invalid_argument, "no NATS server", "servers");
  if (options.prefix.empty() || options.prefix.find_first_of(".*> ") != std::string::npos) {
    return make_error(ErrorCode::invalid_argument, "a single subject token", "prefix");
  }
  // cnats's threads log: create spdlog's registry here, not first on one of them (its lazy
  // initialisation inside libspdlog is invisible to ThreadSanitizer).
  (void)spdlog::default_logger_raw();
  auto context = std::make_shared<Context>(time, random, sleeper, std::move(options));
  auto& o = context->options;
  natsOptions* opts = nullptr;
  if (natsOptions_Create(&opts) != NATS_OK) return make_error(ErrorCode::internal, "nats: out of memory");
  std::unique_ptr<natsOptions, decltype(&natsOptions_Destroy)> opts_guard(opts, natsOptions_Destroy);
  std::vector<const char*> servers;
  for (const auto& s : o.servers) servers.push_back(s.c_str());
  natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
  natsOptions_SetTimeout(opts, o.connect_timeout.count());
  natsOptions_SetMaxReconnect(opts, -1);
  natsOptions_SetCustomReconnectDelay(opts, &Context::reconnect_delay, nullptr);
  natsOptions_SetReconnectBufSize(opts, o.reconnect_buffer_bytes);
  natsOptions_SetDisconnectedCB(opts, &Context::on_disconnected, context.get());
  natsOptions_SetReconnectedCB(opts, &Context::on_reconnected, context.get());
  natsOptions_SetClosedCB(opts, &Context::on_closed, context.get());
  const natsStatus s = natsConnection_Connect(&context->connection, opts);
  if (s != NATS_OK) {
    return make_error(ErrorCode::unavailable,
                      "nats: connecting to " + o.servers.front() + ": " +
                          status_text(s, static_cast<jsErrCode>(0), nats_GetLastError(nullptr)));
  }
  jsOptions jo;
  jsOptions_Init(&jo);
  jo.Wait = o.publish_timeout.count();
  jo.PublishAsync.AckHandler = &Context::on_ack;
  jo.PublishAsync.AckHandlerClosure = context.get();
  jo.PublishAsync.MaxPending = 10'000;
  if (natsConnection_JetStream(&context->js, context->connection, &jo) != NATS_OK) {
    return make_error(ErrorCode::unavailable, "nats: no JetStream context");
  }
  if (auto declared = context->declare(); !declared) return declared.error();
  return std::unique_ptr<NatsEventBus>(new NatsEventBus(std::move(context)));
}

NatsEventBus::NatsEventBus(std::shared_ptr<Context> context) : context_(std::move(context)) {}

NatsEventBus::~NatsEventBus() {
  context_->closing = true;
  context_->blocking.join();
  // Publishes still waiting complete as failed through cnats's callbacks while it closes. Its
  // connection callbacks hold the Context: wait for the last one (closed) before it can go.
  natsConnection_Close(context_->connection);
  std::unique_lock lock(context_->closed_mutex);
  context_->closed_cv.wait_for(lock, std::chrono::seconds(5), [&] { return context_->closed; });
}

std::uint64_t NatsEventBus::reconnects() const { return context_->reconnects.load(); }

Awaitable<Result<std::string>> NatsEventBus::publish(Event event) {
  auto msg = context_->message_for(event);
  if (!msg) co_return msg.error();
  auto id = event.id;
  auto stored = co_await context_->publish(std::move(*msg), id);
  if (!stored) co_return stored.error();
  co_return id;
}

Result<std::string> NatsEventBus::publish_unconfirmed(Event event) {
  auto msg = context_->message_for(event);
  if (!msg) return msg.error();
  const natsStatus s = natsConnection_PublishMsg(context_->connection, msg->get());
  if (s != NATS_OK) return publish_error(s, static_cast<jsErrCode>(0), nats_GetLastError(nullptr));
  return event.id;
}

Result<std::unique_ptr<Subscription>> NatsEventBus::subscribe(asio::any_io_executor executor, SubscribeOptions options,
                                                              EventHandler handler) {
  if (auto valid = events::validate(options); !valid) return valid.error();
  auto& c = *context_;
  auto shared = std::make_shared<NatsSubscription::Shared>();
  shared->context = context_;
  shared->executor = std::move(executor);
  shared->handler = std::move(handler);
  {
    std::lock_guard lock(c.mutex);
    shared->policy.emplace(c.time, c.random.next_u64(), options);
  }
  shared->options = std::move(options);
  const auto& o = shared->options;
  const auto filter = c.subject_of(o.pattern);
  const auto& name = o.group;  // validate(): a service name, so a valid NATS consumer name
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = c.options.stream.c_str();
  so.ManualAck = true;
  jsErrCode code = static_cast<jsErrCode>(0);
  if (!o.group.empty()) {
    // The group's durable consumer, made here so that closing a member never deletes it.
    jsConsumerConfig cc;
    jsConsumerConfig_Init(&cc);
    cc.Durable = name.c_str();
    cc.DeliverGroup = name.c_str();
    const auto deliver = c.options.prefix + ".deliver." + name;
    cc.DeliverSubject = deliver.c_str();
    cc.FilterSubject = filter.c_str();
    cc.DeliverPolicy = js_DeliverNew;
    cc.AckPolicy = js_AckExplicit;
    cc.AckWait = c.options.ack_wait.count() * kNanosPerMs;
    cc.MaxDeliver = -1;  // we dead-letter after max_deliveries ourselves: the broker never drops one
    cc.MaxAckPending = c.options.max_ack_pending;
    // An existing group keeps its pattern (the broker would silently change its filter).
    jsConsumerInfo* info = nullptr;
    const natsStatus found = js_GetConsumerInfo(&info, c.js, c.options.stream.c_str(), name.c_str(), nullptr, &code);
    if (found == NATS_OK && info != nullptr) {
      const std::string existing =
          info->Config != nullptr && info->Config->FilterSubject != nullptr ? info->Config->FilterSubject : "";
      jsConsumerInfo_Destroy(info);
      if (existing != filter) {
        return make_error(ErrorCode::invalid_argument,
                          "group " + o.group + " subscribes to " + existing + ", not " + filter, "pattern");
      }
    } else {
      code = static_cast<jsErrCode>(0);
      const natsStatus made = js_AddConsumer(&info, c.js, c.options.stream.c_str(), &cc, nullptr, &code);
      if (info != nullptr) jsConsumerInfo_Destroy(info);
      if (made != NATS_OK) {
        return make_error(ErrorCode::unavailable, "nats: creating consumer " + name + ": " +
                                                      status_text(made, code, nats_GetLastError(nullptr)));
      }
    }
    so.Consumer = name.c_str();
    so.Queue = name.c_str();
  } else {
    so.Config.DeliverPolicy = js_DeliverNew;
    so.Config.AckPolicy = js_AckExplicit;
    so.Config.AckWait = c.options.ack_wait.count() * kNanosPerMs;
    so.Config.MaxDeliver = -1;
    so.Config.MaxAckPending = c.options.max_ack_pending;
  }
  auto* closure = new std::shared_ptr<NatsSubscription::Shared>(shared);
  natsSubscription* sub = nullptr;
  const natsStatus s =
      js_Subscribe(&sub, c.js, filter.c_str(), &NatsSubscription::on_message, closure, nullptr, &so, &code);
  if (s != NATS_OK) {
    delete closure;
    return make_error(ErrorCode::unavailable,
                      "nats: subscribing to " + filter + ": " + status_text(s, code, nats_GetLastError(nullptr)));
  }
  natsSubscription_SetOnCompleteCB(sub, &NatsSubscription::on_complete, closure);
  return std::unique_ptr<Subscription>(std::make_unique<NatsSubscription>(std::move(shared), sub));
}

namespace {

/// Reads a group's dead letters through an ordered ephemeral consumer. Blocking.
Result<std::vector<DeadLetter>> read_dead_letters(Context& c, const std::string& group, std::size_t limit) {
  const auto subject = c.dead_subject(group);
  const auto stream = c.dead_stream();
  jsSubOptions so;
  jsSubOptions_Init(&so);
  so.Stream = stream.c_str();
  so.Ordered = true;  // ephemeral, from the first letter, no acknowledgements
  jsErrCode code = static_cast<jsErrCode>(0);
  natsSubscription* sub = nullptr;
  natsStatus s = js_SubscribeSync(&sub, c.js, subject.c_str(), nullptr, &so, &code);
  if (s != NATS_OK) {
    return make_error(ErrorCode::unavailable, "nats: reading " + subject + ": " + status_text(s, code));
  }
  std::vector<DeadLetter> out;
  while (out.size() < limit) {
    natsMsg* raw = nullptr;
    s = natsSubscription_NextMsg(&raw, sub, 500);
    if (s != NATS_OK) break;  // timeout: no more
    MsgPtr msg(raw);
    jsMsgMetaData* meta = nullptr;
    std::uint64_t left = 0;
    if (natsMsg_GetMetaData(&meta, msg.get()) == NATS_OK) {
      left = meta->NumPending;
      jsMsgMetaData_Destroy(meta);
    }
    DeadLetter letter;
    const std::string body(natsMsg_GetData(msg.get()), static_cast<std::size_t>(natsMsg_GetDataLength(msg.get())));
    auto json = parse_json_or_discarded(body);
    if (!json.is_discarded()) {
      if (auto e = event_from_json(json)) letter.event = std::move(*e);
    }
    letter.error = header(msg.get(), kErrorHeader);
    letter.deliveries = std::atoi(header(msg.get(), kDeliveriesHeader).c_str());
    out.push_back(std::move(letter));
    if (left == 0) break;
  }
  natsSubscription_Unsubscribe(sub);
  natsSubscription_Destroy(sub);
  return out;
}

Awaitable<Result<std::vector<DeadLetter>>> read_dead_letters_async(Context* c, std::string group, std::size_t limit) {
  co_return read_dead_letters(*c, group, limit);
}

}  // namespace

Awaitable<Result<std::vector<DeadLetter>>> NatsEventBus::dead_letters(std::string group, std::size_t limit) {
  // On the blocking pool (no lambda: GCC 12 destroys a capturing coroutine lambda's captures twice).
  Context* const c = context_.get();
  auto read = read_dead_letters_async(c, std::move(group), limit);
  co_return co_await asio::co_spawn(c->blocking, std::move(read), asio::use_awaitable);
}

}  // namespace svckit::events
