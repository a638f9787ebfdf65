#include "svckit/events/redis_event_bus.hpp"

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <cstdio>
#include <mutex>
#include <optional>

#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"
#include "svckit/events/delivery_policy.hpp"

namespace svckit::events {

namespace asio = boost::asio;
using redis::RedisScript;
using redis::Reply;
using Steady = std::chrono::steady_clock;

struct RedisEventBus::Context {
  Context(redis::RedisClient& c, const TimeSource& t, Random& r, Sleeper& s, RedisEventBusOptions o)
      : client(c), time(t), random(r), sleeper(s), options(std::move(o)) {}
  redis::RedisClient& client;
  const TimeSource& time;
  Random& random;
  Sleeper& sleeper;
  RedisEventBusOptions options;

  std::string stream(std::string_view type) const {
    return options.prefix + ":s:" + std::string(type.substr(0, type.find('.')));
  }
  std::string dead_stream(const std::string& group) const {
    return options.prefix + ":dead:" + (group.empty() ? std::string("listeners") : group);
  }
};

namespace {

// KEYS[1] the stream; ARGV: envelope JSON, max_pending. Reply {0, entry id} or {1, length}.
// A full stream refuses while a group still holds entries in it; a stream only listeners read
// (no group) drops its older half instead (listeners that far behind miss those).
const RedisScript publish_script{R"lua(
local length = redis.call('XLEN', KEYS[1])
local limit = tonumber(ARGV[2])
if length >= limit then
  if #redis.call('XINFO', 'GROUPS', KEYS[1]) > 0 then return {1, length} end
  redis.call('XTRIM', KEYS[1], 'MAXLEN', math.floor(limit / 2))
end
return {0, redis.call('XADD', KEYS[1], '*', 'e', ARGV[1])}
)lua"};

// KEYS[1] the stream, KEYS[2] the dead-letter stream; ARGV: group, entry id, envelope JSON, error,
// deliveries, max dead letters. Records the dead letter and acknowledges the entry in one step.
const RedisScript dead_letter_script{R"lua(
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[6], '*', 'e', ARGV[3], 'error', ARGV[4], 'deliveries', ARGV[5])
if ARGV[1] ~= '' then redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) end
return 0
)lua"};

// KEYS[1] the stream: drops the entries every group has acknowledged (those before each group's
// first pending entry, or up to its last delivered one). Returns how many went.
const RedisScript trim_script{R"lua(
local function less(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local minid = nil
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[1])) do
  local info = {}
  for i = 1, #g, 2 do info[g[i]] = g[i + 1] end
  local bound = info['last-delivered-id']
  if tonumber(info['pending']) > 0 then
    local summary = redis.call('XPENDING', KEYS[1], info['name'])
    if summary[2] and less(summary[2], bound) then bound = summary[2] end
  end
  if not minid or less(bound, minid) then minid = bound end
end
if not minid then return 0 end
return redis.call('XTRIM', KEYS[1], 'MINID', minid)
)lua"};

/// One stream entry: its id and the envelope in field "e" (plus the dead-letter fields).
struct Entry {
  std::string id;
  std::map<std::string, std::string> fields;
};

std::vector<Entry> entries_of(const Reply& list) {
  std::vector<Entry> out;
  for (const auto& item : list.elements) {
    if (item.elements.size() < 2) continue;  // a deleted entry claimed: [id, nil]
    Entry e;
    e.id = item.elements[0].text;
    const auto& kv = item.elements[1].elements;
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2) e.fields[kv[i].text] = kv[i + 1].text;
    out.push_back(std::move(e));
  }
  return out;
}

/// XREAD/XREADGROUP answer: [[stream, [entries]]] or nil.
std::vector<Entry> read_entries(const Reply& reply) {
  if (reply.is_nil() || reply.elements.empty() || reply.elements[0].elements.size() < 2) return {};
  return entries_of(reply.elements[0].elements[1]);
}

Result<Event> decode(const Entry& entry) {
  auto json = parse_json(entry.fields.count("e") != 0 ? entry.fields.at("e") : std::string());
  if (!json) return json.error();
  return event_from_json(*json);
}

class RedisSubscription final : public Subscription {
  struct Shared;

 public:
  RedisSubscription(std::shared_ptr<RedisEventBus::Context> context, SubscribeOptions options, EventHandler handler,
                    std::string consumer)
      : shared_(std::make_shared<Shared>()) {
    shared_->context = std::move(context);
    shared_->options = std::move(options);
    shared_->handler = std::move(handler);
    shared_->consumer = std::move(consumer);
    shared_->stream = shared_->context->stream(shared_->options.pattern);
    shared_->policy.emplace(shared_->context->time, shared_->context->random.next_u64(), shared_->options);
  }
  ~RedisSubscription() override {
    shared_->stopping = true;
    for (const auto& c : shared_->cancels) c->cancel();
  }

  void start(const asio::any_io_executor& executor) {
    const std::size_t loops = shared_->options.group.empty() ? 1 : shared_->options.concurrency;
    for (std::size_t i = 0; i < loops; ++i) shared_->cancels.push_back(std::make_shared<CancelToken>());
    {
      std::lock_guard lock(shared_->mutex);
      shared_->loops = loops;
    }
    for (std::size_t i = 0; i < loops; ++i) {
      auto consumer = shared_->consumer + "-" + std::to_string(i);
      if (shared_->options.group.empty()) {
        asio::co_spawn(asio::make_strand(executor), listen(shared_, shared_->cancels[i]), asio::detached);
      } else {
        asio::co_spawn(asio::make_strand(executor), consume(shared_, std::move(consumer), shared_->cancels[i]),
                       asio::detached);
      }
    }
  }

  Awaitable<void> close() override {
    const auto executor = co_await asio::this_coro::executor;
    std::optional<WakeableWait> ended;
    {
      std::lock_guard lock(shared_->mutex);
      shared_->stopping = true;
      for (const auto& c : shared_->cancels) c->cancel();
      if (shared_->loops == 0) co_return;
      shared_->ended.emplace(executor);
      ended = shared_->ended;
    }
    const auto far = Steady::now() + std::chrono::hours(24 * 365);
    co_await ended->wait_until(far);
  }

  bool ready() const override { return shared_->ready_loops.load() == shared_->cancels.size(); }

  SubscriptionStats stats() const override { return shared_->policy->stats(); }

 private:
  struct Retry {
    std::string id;
    int deliveries = 0;  // so far
    Steady::time_point due;
  };
  struct Shared {
    std::shared_ptr<RedisEventBus::Context> context;
    SubscribeOptions options;
    EventHandler handler;
    std::string consumer;
    std::string stream;
    std::atomic<bool> stopping{false};
    // One per loop (a CancelToken holds one waiter's hook): aborts its blocking read or pause.
    std::vector<std::shared_ptr<CancelToken>> cancels;  // filled by start(), then read-only
    std::mutex mutex;
    std::size_t loops = 0;                 // guarded by mutex
    std::optional<WakeableWait> ended;     // guarded by mutex
    std::optional<DeliveryPolicy> policy;  // set by the constructor
    std::atomic<std::uint64_t> ack_failures{0};
    std::atomic<std::size_t> ready_loops{0};  // loops whose group is declared / start position known
  };

  static void loop_ended(Shared& s) {
    std::lock_guard lock(s.mutex);
    if (--s.loops == 0 && s.ended) s.ended->wake();
  }

  static Awaitable<Result<Reply>> ack(Shared& s, const std::string& id) {
    auto args = redis::command_args("XACK", s.stream, s.options.group, id);
    co_return co_await s.context->client.command(std::move(args));
  }

  static Awaitable<void> dead_letter(Shared& s, const Entry& entry, const std::string& error, int deliveries) {
    logs::warn("events", "event=event_dead_lettered stream={} group={} entry={} deliveries={} error=\"{}\"", s.stream,
               s.options.group, entry.id, deliveries, error);
    auto keys = redis::command_args(s.stream, s.context->dead_stream(s.options.group));
    const auto envelope = entry.fields.count("e") != 0 ? entry.fields.at("e") : std::string();
    auto args = redis::command_args(s.options.group, entry.id, envelope, error, std::to_string(deliveries),
                                    std::to_string(s.context->options.max_dead_letters));
    auto r = co_await s.context->client.eval(dead_letter_script, std::move(keys), std::move(args));
    if (!r) {
      // Not acknowledged either: the entry stays pending and is dead-lettered again on its next delivery.
      logs::warn("events", "event=dead_letter_failed entry={} error=\"{}\"", entry.id, r.error().describe());
      co_return;
    }
    s.policy->dead_lettered();  // after the store: a reader who sees the count finds the letter
  }

  /// Keeps a pending entry ours while its handler runs (resets its idle time; no new delivery).
  static Awaitable<void> touch(std::shared_ptr<Shared> s, std::string consumer, std::string id,
                               std::shared_ptr<CancelToken> done) {
    const std::chrono::nanoseconds every = s->context->options.claim_idle / 3;
    CancelToken* const ended = done.get();
    for (;;) {  // not `while (co_await ...)`: that shape miscompiles with GCC 12
      const bool slept = co_await s->context->sleeper.sleep_for(every, ended);
      if (!slept) break;
      auto args = redis::command_args("XCLAIM", s->stream, s->options.group, consumer, "0", id, "JUSTID");
      (void)co_await s->context->client.command(std::move(args));
    }
  }

  /// Handles one delivery. Returns the retry to schedule, if the handler failed and may try again.
  static Awaitable<std::optional<Retry>> process(std::shared_ptr<Shared> s, const std::string& consumer,
                                                 const Entry& entry, int deliveries) {
    auto& o = s->options;
    auto event = decode(entry);
    if (!event) {  // not an envelope: retrying cannot help
      co_await dead_letter(*s, entry, s->policy->undecodable(event.error()), deliveries);
      co_return std::nullopt;
    }
    if (s->policy->screen(*event, deliveries) != DeliveryPolicy::Screen::deliver) {
      if (!o.group.empty()) (void)co_await ack(*s, entry.id);
      co_return std::nullopt;
    }
    std::shared_ptr<CancelToken> done;
    if (!o.group.empty()) {
      done = std::make_shared<CancelToken>();
      const auto executor = co_await asio::this_coro::executor;
      asio::co_spawn(executor, touch(s, consumer, entry.id, done), asio::detached);
    }
    auto handled = co_await s->handler(*event);
    if (done) done->cancel();
    const auto verdict = s->policy->after(handled, deliveries);
    if (verdict.kind == DeliveryPolicy::Verdict::Kind::ack) {
      if (!o.group.empty()) {
        auto acked = co_await ack(*s, entry.id);
        if (!acked) {
          // The entry stays pending and is handled again (at least once). During an outage every
          // ack fails: logged at the 1st, 2nd, 4th, 8th... failure, with the count.
          const auto failures = s->ack_failures.fetch_add(1) + 1;
          if ((failures & (failures - 1)) == 0) {
            logs::warn("events", "event=event_ack_failed entry={} failures={} error=\"{}\"", entry.id, failures,
                       acked.error().describe());
          }
        }
      }
      co_return std::nullopt;
    }
    if (verdict.kind == DeliveryPolicy::Verdict::Kind::dead_letter) {
      co_await dead_letter(*s, entry, verdict.reason, deliveries);
      co_return std::nullopt;
    }
    Retry retry;
    retry.id = entry.id;
    retry.deliveries = deliveries;
    retry.due = Steady::now() + verdict.delay;
    co_return retry;
  }

  /// XGROUP CREATE (at the stream's end the first time; from its start after Redis lost it).
  static Awaitable<Result<void>> declare(Shared& s, const char* from) {
    auto args = redis::command_args("XGROUP", "CREATE", s.stream, s.options.group, from, "MKSTREAM");
    auto r = co_await s.context->client.command(std::move(args));
    if (!r && r.error().message.find("BUSYGROUP") == std::string::npos) co_return r.error();
    co_return Result<void>{};
  }

  static Awaitable<void> consume(std::shared_ptr<Shared> s, std::string consumer, std::shared_ptr<CancelToken> cancel) {
    // Named values, not temporaries, inside co_await expressions (GCC 12 coroutine bugs).
    CancelToken* const stop = cancel.get();
    const char* const from_end = "$";
    const char* const from_start = "0";
    auto& o = s->options;
    const auto& bus = s->context->options;
    std::vector<Retry> retries;
    auto pause = std::chrono::milliseconds(50);
    auto next_claim = Steady::now();
    auto next_trim = Steady::now() + std::chrono::seconds(10);
    bool declared = false;
    bool declared_once = false;
    while (!s->stopping) {
      if (!declared) {
        auto made = co_await declare(*s, from_end);
        if (!made) {
          logs::warn("events", "event=event_group_declare_failed stream={} group={} error=\"{}\"", s->stream, o.group,
                     made.error().describe());
          const std::chrono::nanoseconds wait = pause;
          co_await s->context->sleeper.sleep_for(wait, stop);
          pause = std::min(pause * 2, std::chrono::milliseconds(5000));
          continue;
        }
        if (!declared_once) s->ready_loops.fetch_add(1);
        declared = declared_once = true;
      }
      // 1. our failed entries whose backoff ran out: claimed again (a delivery more)
      const auto now = Steady::now();
      for (std::size_t i = 0; i < retries.size();) {
        if (retries[i].due > now || s->stopping) {
          ++i;
          continue;
        }
        auto retry = retries[i];
        retries.erase(retries.begin() + static_cast<std::ptrdiff_t>(i));
        auto args = redis::command_args("XCLAIM", s->stream, o.group, consumer, "0", retry.id);
        auto claimed = co_await s->context->client.command(std::move(args));
        if (!claimed) continue;  // Redis away: the entry stays pending; a member reclaims it later
        const int deliveries = retry.deliveries + 1;
        for (const auto& entry : entries_of(*claimed)) {
          auto again = co_await process(s, consumer, entry, deliveries);
          if (again) retries.push_back(*again);
        }
      }
      // 2. entries of members that died (idle past claim_idle)
      if (Steady::now() >= next_claim) {
        next_claim = Steady::now() + bus.claim_idle / 2;
        auto args =
            redis::command_args("XAUTOCLAIM", s->stream, o.group, consumer, std::to_string(bus.claim_idle.count()),
                                "0-0", "COUNT", std::to_string(bus.batch));
        auto claimed = co_await s->context->client.command(std::move(args));
        if (claimed && claimed->elements.size() >= 2) {
          for (const auto& entry : entries_of(claimed->elements[1])) {
            auto count_args = redis::command_args("XPENDING", s->stream, o.group, entry.id, entry.id, "1");
            auto pending = co_await s->context->client.command(std::move(count_args));
            int deliveries = 1;
            if (pending && !pending->elements.empty() && pending->elements[0].elements.size() >= 4) {
              deliveries = static_cast<int>(pending->elements[0].elements[3].integer);
            }
            auto again = co_await process(s, consumer, entry, deliveries);
            if (again) retries.push_back(*again);
          }
        }
      }
      // 3. new entries, waiting at most until the next retry is due
      auto block = std::chrono::milliseconds(1000);
      for (const auto& r : retries) {
        block = std::min(block, std::max(std::chrono::milliseconds(1),
                                         std::chrono::duration_cast<std::chrono::milliseconds>(r.due - Steady::now())));
      }
      auto args = redis::command_args("XREADGROUP", "GROUP", o.group, consumer, "COUNT", std::to_string(bus.batch),
                                      "BLOCK", std::to_string(block.count()), "STREAMS", s->stream, ">");
      auto read = co_await s->context->client.blocking_command(std::move(args), block, cancel);
      if (!read) {
        if (s->stopping) break;
        if (read.error().message.find("NOGROUP") != std::string::npos) {
          // Redis lost the group (restarted without its data): declare it again, from the start
          // of whatever the stream holds now.
          (void)co_await declare(*s, from_start);
          continue;
        }
        logs::warn("events", "event=event_read_failed stream={} group={} error=\"{}\" retry_in_ms={}", s->stream,
                   o.group, read.error().describe(), pause.count());
        const std::chrono::nanoseconds wait = pause;
        co_await s->context->sleeper.sleep_for(wait, stop);
        pause = std::min(pause * 2, std::chrono::milliseconds(5000));
        continue;
      }
      pause = std::chrono::milliseconds(50);
      auto entries = read_entries(*read);
      // priority orders each batch (the stream keeps publish order)
      std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
        auto prio = [](const Entry& e) {
          const auto& text = e.fields.count("e") != 0 ? e.fields.at("e") : std::string();
          return text.find("\"priority\":\"high\"") != std::string::npos  ? 0
                 : text.find("\"priority\":\"low\"") != std::string::npos ? 2
                                                                          : 1;
        };
        return prio(a) < prio(b);
      });
      const int first_delivery = 1;
      for (const auto& entry : entries) {
        auto again = co_await process(s, consumer, entry, first_delivery);
        if (again) retries.push_back(*again);
      }
      if (Steady::now() >= next_trim) {
        next_trim = Steady::now() + std::chrono::seconds(10);
        auto keys = redis::command_args(s->stream);
        std::vector<std::string> no_args;
        (void)co_await s->context->client.eval(trim_script, std::move(keys), std::move(no_args));
      }
    }
    loop_ended(*s);
  }

  static Awaitable<void> listen(std::shared_ptr<Shared> s, std::shared_ptr<CancelToken> cancel) {
    CancelToken* const stop = cancel.get();
    const std::string no_consumer;
    const auto& bus = s->context->options;
    std::string last;  // the last entry read; first: the stream's end at subscribe time
    auto pause = std::chrono::milliseconds(50);
    while (!s->stopping && last.empty()) {
      auto args = redis::command_args("XREVRANGE", s->stream, "+", "-", "COUNT", "1");
      auto r = co_await s->context->client.command(std::move(args));
      if (r) {
        last = !r->elements.empty() && !r->elements[0].elements.empty() ? r->elements[0].elements[0].text : "0-0";
        s->ready_loops.fetch_add(1);
      } else {
        const std::chrono::nanoseconds wait = pause;
        co_await s->context->sleeper.sleep_for(wait, stop);
        pause = std::min(pause * 2, std::chrono::milliseconds(5000));
      }
    }
    while (!s->stopping) {
      const std::chrono::milliseconds block(1000);
      auto args = redis::command_args("XREAD", "COUNT", std::to_string(bus.batch), "BLOCK",
                                      std::to_string(block.count()), "STREAMS", s->stream, last);
      auto read = co_await s->context->client.blocking_command(std::move(args), block, cancel);
      if (!read) {
        if (s->stopping) break;
        const std::chrono::nanoseconds wait = pause;
        co_await s->context->sleeper.sleep_for(wait, stop);
        pause = std::min(pause * 2, std::chrono::milliseconds(5000));
        continue;
      }
      pause = std::chrono::milliseconds(50);
      for (const auto& entry : read_entries(*read)) {
        last = entry.id;
        // A listener retries in place (it holds no pending entries); then dead-letters.
        for (int deliveries = 1;; ++deliveries) {
          auto retry = co_await process(s, no_consumer, entry, deliveries);
          if (!retry || s->stopping) break;
          const std::chrono::nanoseconds wait = retry->due - Steady::now();
          co_await s->context->sleeper.sleep_for(wait, stop);
        }
      }
    }
    loop_ended(*s);
  }

  std::shared_ptr<Shared> shared_;
};

}  // namespace

RedisEventBus::RedisEventBus(redis::RedisClient& client, const TimeSource& time, Random& random, Sleeper& sleeper,
                             RedisEventBusOptions options)
    : context_(std::make_shared<Context>(client, time, random, sleeper, std::move(options))) {}

std::string RedisEventBus::stream_of(std::string_view type) const { return context_->stream(type); }

Awaitable<Result<std::string>> RedisEventBus::publish(Event event) {
  if (auto v = validate(event); !v) co_return v.error();
  if (event.id.empty()) event.id = random_hex_id(context_->random);
  if (event.time == SystemTime{}) event.time = context_->time.system_now();
  auto keys = redis::command_args(context_->stream(event.type));
  auto args = redis::command_args(to_json(event).dump(), std::to_string(context_->options.max_pending));
  auto reply = co_await context_->client.eval(publish_script, std::move(keys), std::move(args));
  if (!reply) co_return reply.error();
  if (reply->elements.size() < 2) co_return make_error(ErrorCode::protocol, "publish: unexpected reply");
  if (reply->elements[0].integer == 1) {
    co_return make_error(ErrorCode::limit_exceeded,
                         "stream " + context_->stream(event.type) + " holds " +
                             std::to_string(reply->elements[1].integer) + " events (max_pending): consumers lag",
                         "max_pending");
  }
  co_return event.id;
}

Result<std::unique_ptr<Subscription>> RedisEventBus::subscribe(asio::any_io_executor executor, SubscribeOptions options,
                                                               EventHandler handler) {
  if (auto v = validate(options); !v) return v.error();
  const auto first = options.pattern.substr(0, options.pattern.find('.'));
  if (first == "*" || first == ">") {
    return make_error(ErrorCode::invalid_argument,
                      "redis:// needs a pattern whose first segment names the namespace (e.g. 'orders.*'), got '" +
                          options.pattern + "'",
                      "pattern");
  }
  char suffix[13];
  std::snprintf(suffix, sizeof suffix, "%012llx",
                static_cast<unsigned long long>(context_->random.next_u64() & 0xffffffffffffULL));
  auto subscription =
      std::make_unique<RedisSubscription>(context_, std::move(options), std::move(handler), std::string("c-") + suffix);
  subscription->start(executor);
  return std::unique_ptr<Subscription>(std::move(subscription));
}

Awaitable<Result<std::vector<DeadLetter>>> RedisEventBus::dead_letters(std::string group, std::size_t limit) {
  auto args = redis::command_args("XRANGE", context_->dead_stream(group), "-", "+", "COUNT", std::to_string(limit));
  auto reply = co_await context_->client.command(std::move(args));
  if (!reply) co_return reply.error();
  std::vector<DeadLetter> out;
  for (const auto& entry : entries_of(*reply)) {
    DeadLetter d;
    auto json = parse_json(entry.fields.count("e") != 0 ? entry.fields.at("e") : std::string());
    if (json) {
      auto event = event_from_json(*json);
      if (event) d.event = std::move(*event);
    }
    d.error = entry.fields.count("error") != 0 ? entry.fields.at("error") : std::string();
    d.deliveries = std::atoi(entry.fields.count("deliveries") != 0 ? entry.fields.at("deliveries").c_str() : "0");
    out.push_back(std::move(d));
  }
  co_return out;
}

}  // namespace svckit::events
