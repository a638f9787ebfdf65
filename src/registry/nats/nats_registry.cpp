// nats://host:4222[,host:4222]?bucket=svckit_registry : the registry in a NATS JetStream key-value
// bucket (cnats). One key per instance, `<service>.<id>` (each part escaped to NATS's key
// alphabet: a byte outside [A-Za-z0-9_-] is written =XX), whose value is the instance's JSON with
// its expiry state. Every write is a JetStream publish acknowledged once stored.
//
// Each client follows the whole bucket with one KV watcher on a thread of its own and keeps a
// MemoryRegistry as its cache (load_replicated / apply_replicated): lists, gets and watches are
// answered from it, after a read barrier (the bucket's last revision, one stream-info request: the
// cache must have seen it), so a read includes every write any client completed before it. The
// index is one more than the bucket's revision of the last change a reader
// can see (an empty bucket, revision 0, is index 1 as in every svckit registry) — a
// heartbeat, or registering identical data again, writes a new revision but moves no index — so
// every client of one bucket numbers changes alike, and an index never goes back (a bucket that
// was recreated starts over: watchers get a reset). A write returns once the client's own cache
// has seen it (read-your-writes). When the watcher fails (a server restart) it is created again
// and the state it reads applied as the exact difference to the cache.
//
// TTLs: a heartbeat rewrites the key (compare-and-set on its revision, so a status set meanwhile
// is not lost); the server's timestamp of the last write is the last heartbeat. Every client
// sweeps every `sweep`: a TTL instance whose last write is older than its ttl is marked down
// (`expired`) with a compare-and-set, and one down for longer than `grace` is deleted with a
// publish that expects the key's revision — so each expiry and each removal happens once however
// many clients sweep. Clocks of clients and servers are assumed within a fraction of a TTL (NTP).
//
// Thread-safety: thread-safe. cnats's blocking calls run on a two-thread pool, never on the
// caller's executor.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <nats/nats.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <condition_variable>
#include <map>
#include <mutex>
#include <thread>

#include "svckit/core/completion.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"
#include "svckit/net/url_token.hpp"
#include "svckit/registry/memory_registry.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace svckit {
namespace {

namespace asio = boost::asio;
using nlohmann::json;
using namespace std::chrono_literals;
using Key = std::pair<std::string, std::string>;  // service, id

struct NatsRegistryOptions {
  std::vector<std::string> servers;
  std::string bucket = "svckit_registry";
  int replicas = 1;
  std::string user, password, token;
  bool tls = false;
  std::string ca_file, cert_file, key_file;
  std::chrono::milliseconds timeout{5'000};
  std::chrono::milliseconds sweep{1'000};
  std::chrono::milliseconds grace{30'000};
  std::size_t max_instances = 10'000;
};

/// A NATS KV key part: [A-Za-z0-9_-] as is, any other byte as =XX.
std::string escape_key(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : text) {
    if (std::isalnum(c) != 0 || c == '_' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '=';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string key_of(const std::string& service, const std::string& id) {
  return escape_key(service) + "." + escape_key(id);
}

std::string nats_text(natsStatus s) {
  const char* last = nats_GetLastError(nullptr);
  return std::string(natsStatus_GetText(s)) + (last != nullptr && *last != '\0' ? std::string(": ") + last : "");
}

Error nats_failure(const std::string& what, natsStatus s) {
  return make_error(ErrorCode::unavailable, "nats " + what + ": " + nats_text(s));
}

/// One stored value: the instance as readers see it, and its expiry state.
struct Record {
  ServiceInstance instance;
  std::uint64_t revision = 0;
  long long written_ms = 0;                         // the server's time of the last write (the last heartbeat)
  long long expired_at_ms = 0;                      // > 0: expired (listed down) since then
  InstanceStatus before = InstanceStatus::healthy;  // the status an expired instance comes back to
};

std::string encode(const Record& r) {
  json value{{"instance", to_json(r.instance)}};
  if (r.expired_at_ms > 0) {
    value["expired_at_ms"] = r.expired_at_ms;
    value["status_before_expiry"] = std::string(to_string(r.before));
  }
  return value.dump();
}

std::optional<Record> decode(kvEntry* e) {
  const auto* data = static_cast<const char*>(kvEntry_Value(e));
  const auto parsed = parse_json_or_discarded(
      std::string_view(data == nullptr ? "" : data, static_cast<std::size_t>(kvEntry_ValueLen(e))));
  if (!parsed.is_object() || !parsed.contains("instance")) return std::nullopt;
  auto in = instance_from_json(parsed["instance"]);
  if (!in) return std::nullopt;
  Record r;
  r.instance = std::move(*in);
  r.revision = kvEntry_Revision(e);
  r.written_ms = kvEntry_Created(e) / 1'000'000;
  r.instance.last_heartbeat = SystemTime(std::chrono::milliseconds(r.written_ms));
  if (parsed.contains("expired_at_ms") && parsed["expired_at_ms"].is_number_integer()) {
    r.expired_at_ms = parsed["expired_at_ms"].get<long long>();
    r.before = parse_instance_status(parsed.value("status_before_expiry", "healthy")).value_or(InstanceStatus::healthy);
  }
  return r;
}

struct EntryDeleter {
  void operator()(kvEntry* e) const { kvEntry_Destroy(e); }
};
using EntryPtr = std::unique_ptr<kvEntry, EntryDeleter>;

/// The change from `before` (absent: none) to `after` (absent: removed) as a reader sees it.
std::optional<RegistryEvent> change(const Record* before, const Record* after, std::uint64_t index) {
  RegistryEvent e;
  e.index = index;
  if (after == nullptr) {
    if (before == nullptr) return std::nullopt;
    e.type = EventType::deregistered;
    e.instance = before->instance;
    return e;
  }
  e.instance = after->instance;
  if (before == nullptr) {
    e.type = EventType::registered;
    return e;
  }
  if (before->instance.status != after->instance.status) {
    e.previous_status = before->instance.status;
    e.type = after->expired_at_ms > 0 && before->expired_at_ms == 0 ? EventType::expired : EventType::status_changed;
    return e;
  }
  auto a = before->instance;
  auto b = after->instance;
  a.last_heartbeat = b.last_heartbeat = {};
  if (a == b) return std::nullopt;
  e.type = EventType::updated;
  return e;
}

/// The connection, the bucket, the cache and the watcher thread: shared with the sweep loop.
class NatsState : public std::enable_shared_from_this<NatsState> {
 public:
  NatsState(const RegistryDeps& deps, NatsRegistryOptions options)
      : cache(deps.time, cache_options()), options_(std::move(options)), time_(deps.time), executor_(deps.executor) {}

  ~NatsState() {
    if (kv_ != nullptr) kvStore_Destroy(kv_);
    if (js_ != nullptr) jsCtx_Destroy(js_);
    if (connection_ != nullptr) natsConnection_Destroy(connection_);
  }

  Result<void> connect() {
    natsOptions* opts = nullptr;
    if (natsOptions_Create(&opts) != NATS_OK) return make_error(ErrorCode::internal, "nats: out of memory");
    std::unique_ptr<natsOptions, decltype(&natsOptions_Destroy)> guard(opts, natsOptions_Destroy);
    std::vector<const char*> servers;
    for (const auto& s : options_.servers) servers.push_back(s.c_str());
    natsOptions_SetServers(opts, servers.data(), static_cast<int>(servers.size()));
    natsOptions_SetTimeout(opts, options_.timeout.count());
    natsOptions_SetMaxReconnect(opts, -1);
    natsOptions_SetReconnectWait(opts, 100);
    natsOptions_SetReconnectedCB(opts, &NatsState::on_reconnected, this);
    if (!options_.user.empty()) natsOptions_SetUserInfo(opts, options_.user.c_str(), options_.password.c_str());
    if (!options_.token.empty()) natsOptions_SetToken(opts, options_.token.c_str());
    if (options_.tls) {
      natsOptions_SetSecure(opts, true);
      if (!options_.ca_file.empty() && natsOptions_LoadCATrustedCertificates(opts, options_.ca_file.c_str()) != NATS_OK)
        return make_error(ErrorCode::invalid_argument, "nats: cannot read ca_file " + options_.ca_file, "ca_file");
      if (!options_.cert_file.empty() &&
          natsOptions_LoadCertificatesChain(opts, options_.cert_file.c_str(), options_.key_file.c_str()) != NATS_OK)
        return make_error(ErrorCode::invalid_argument, "nats: cannot read cert_file/key_file", "cert_file");
    }
    if (auto s = natsConnection_Connect(&connection_, opts); s != NATS_OK) return nats_failure("connect", s);
    jsOptions js_options;
    jsOptions_Init(&js_options);
    js_options.Wait = options_.timeout.count();
    if (auto s = natsConnection_JetStream(&js_, connection_, &js_options); s != NATS_OK) {
      return nats_failure("jetstream", s);
    }
    if (js_KeyValue(&kv_, js_, options_.bucket.c_str()) != NATS_OK) {
      kvConfig config;
      kvConfig_Init(&config);
      config.Bucket = options_.bucket.c_str();
      config.Description = "svckit registry: one key per instance";
      config.History = 1;
      config.StorageType = js_FileStorage;
      config.Replicas = options_.replicas;
      if (auto s = js_CreateKeyValue(&kv_, js_, &config); s != NATS_OK) {
        if (js_KeyValue(&kv_, js_, options_.bucket.c_str()) != NATS_OK) return nats_failure("create bucket", s);
      }
    }
    return {};
  }

  /// Starts the watcher thread and the sweep loop.
  void start() {
    auto self = shared_from_this();
    watcher_ = std::thread([self] { self->follow(); });
    asio::co_spawn(executor_, sweep_loop(self), asio::detached);
  }

  /// Ends the watcher thread and the sweep loop (from the registry's destructor).
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopped_ = true;
      if (watching_ != nullptr) kvWatcher_Stop(watching_);  // wakes kvWatcher_Next at once
    }
    stop_wait_.notify_all();
    asio::post(executor_, [self = shared_from_this()] { self->timer_.cancel(); });
    if (watcher_.joinable()) watcher_.join();
  }

  /// Runs a blocking cnats call on the pool; the caller's coroutine waits on its own executor.
  template <class T>
  Awaitable<T> blocking(std::function<T()> job) {
    auto done = std::make_shared<Completion<T>>(co_await asio::this_coro::executor);
    asio::post(pool_, [done, job = std::move(job)] { done->set(job()); });
    auto value = co_await done->wait_until(time_.steady_now() + std::chrono::hours(24));
    co_return std::move(*value);
  }

  /// Waits until the cache loaded the bucket (false: not within the timeout).
  Awaitable<bool> ready() { co_return co_await seen(0); }
  /// Waits until the cache has seen revision `rev` (and loaded the bucket).
  Awaitable<bool> seen(std::uint64_t rev) {
    const auto deadline = time_.steady_now() + options_.timeout;
    auto waiter = std::make_shared<Completion<bool>>(co_await asio::this_coro::executor);
    {
      std::lock_guard lock(mutex_);
      if (loaded_ && seen_ >= rev) co_return true;
      waiters_.emplace(rev, waiter);
    }
    auto done = co_await waiter->wait_until(deadline);
    co_return done.has_value();
  }

  /// The bucket's last revision now (its stream's last sequence), read from the server.
  Result<std::uint64_t> last_revision() {
    jsStreamInfo* info = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const auto stream = "KV_" + options_.bucket;
    const auto s = js_GetStreamInfo(&info, js_, stream.c_str(), nullptr, &code);
    std::unique_ptr<jsStreamInfo, decltype(&jsStreamInfo_Destroy)> guard(info, jsStreamInfo_Destroy);
    if (s != NATS_OK || info == nullptr) return nats_failure("stream info", s);
    return info->State.LastSeq;
  }

  /// The current record of a key, read from the server (not the cache).
  Result<std::optional<Record>> read(const std::string& key) {
    kvEntry* raw = nullptr;
    const auto s = kvStore_Get(&raw, kv_, key.c_str());
    EntryPtr entry(raw);
    if (s == NATS_NOT_FOUND) return std::optional<Record>{};
    if (s != NATS_OK) return nats_failure("get", s);
    auto record = decode(entry.get());
    if (!record) return make_error(ErrorCode::protocol, "nats: the value of '" + key + "' is not an instance");
    return std::optional<Record>(std::move(*record));
  }

  /// Writes `record` under `key` when its revision is still `last` (0: whatever it is). Returns the
  /// new revision, or nullopt when another write came first.
  Result<std::optional<std::uint64_t>> write(const std::string& key, const Record& record, std::uint64_t last) {
    const auto value = encode(record);
    std::uint64_t rev = 0;
    const auto s = last == 0
                       ? kvStore_Put(&rev, kv_, key.c_str(), value.data(), static_cast<int>(value.size()))
                       : kvStore_Update(&rev, kv_, key.c_str(), value.data(), static_cast<int>(value.size()), last);
    if (s == NATS_OK) return std::optional<std::uint64_t>(rev);
    if (last != 0 && s == NATS_ERR) return std::optional<std::uint64_t>{};  // wrong last sequence
    return nats_failure("put", s);
  }

  /// Deletes `key` when its revision is still `last`: a KV delete marker published with the
  /// expected last subject sequence. Returns its revision, or nullopt when another write came first.
  Result<std::optional<std::uint64_t>> remove(const std::string& key, std::uint64_t last) {
    natsMsg* raw = nullptr;
    const auto subject = "$KV." + options_.bucket + "." + key;
    if (natsMsg_Create(&raw, subject.c_str(), nullptr, nullptr, 0) != NATS_OK) {
      return make_error(ErrorCode::internal, "nats: out of memory");
    }
    std::unique_ptr<natsMsg, decltype(&natsMsg_Destroy)> msg(raw, natsMsg_Destroy);
    natsMsgHeader_Set(msg.get(), "KV-Operation", "DEL");
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.ExpectLastSubjectSeq = last;
    jsPubAck* ack = nullptr;
    jsErrCode code = static_cast<jsErrCode>(0);
    const auto s = js_PublishMsg(&ack, js_, msg.get(), &po, &code);
    std::unique_ptr<jsPubAck, decltype(&jsPubAck_Destroy)> ack_guard(ack, jsPubAck_Destroy);
    if (s == NATS_OK && ack != nullptr) return std::optional<std::uint64_t>(ack->Sequence);
    if (code == JSStreamWrongLastSequenceErr) return std::optional<std::uint64_t>{};
    return nats_failure("delete", s);
  }

  std::size_t max_instances() const { return options_.max_instances; }
  const TimeSource& time() const { return time_; }

  MemoryRegistry cache;

 private:
  static MemoryRegistryOptions cache_options() {
    MemoryRegistryOptions o;
    o.store.max_instances_per_service = 1'000'000;  // limits are checked on writes
    o.store.event_history = 16'384;
    return o;
  }

  static void on_reconnected(natsConnection*, void* closure) {
    static_cast<NatsState*>(closure)->resync_ = true;  // the watcher may have missed changes
  }

  /// The watcher thread: follows the bucket until stop(), creating the watcher again after a failure.
  void follow() {
    int failures = 0;
    while (!stopped_) {
      kvWatcher* raw = nullptr;
      kvWatchOptions wo;
      kvWatchOptions_Init(&wo);
      wo.Timeout = options_.timeout.count();
      if (auto s = kvStore_WatchAll(&raw, kv_, &wo); s != NATS_OK) {
        if (++failures == 1 || failures % 50 == 0)
          logs::warn("registry", "event=nats_registry_watch_failed error=\"{}\"", nats_text(s));
        // Back off before the next attempt; stop() ends the wait at once.
        std::unique_lock lock(mutex_);
        stop_wait_.wait_for(lock, std::chrono::milliseconds(std::min(100 * failures, 2'000)),
                            [&] { return stopped_.load(); });
        continue;
      }
      std::unique_ptr<kvWatcher, decltype(&kvWatcher_Destroy)> watcher(raw, kvWatcher_Destroy);
      {
        std::lock_guard lock(mutex_);
        watching_ = raw;
        if (stopped_) kvWatcher_Stop(raw);
      }
      resync_ = false;
      // The current values first, until a null entry says they are all there.
      std::map<std::string, Record> state;  // by key
      std::uint64_t top = 0;
      bool caught_up = false;
      while (!stopped_ && !caught_up) {
        kvEntry* e = nullptr;
        const auto s = kvWatcher_Next(&e, watcher.get(), 500);
        if (s == NATS_TIMEOUT) continue;
        if (s != NATS_OK) break;
        if (e == nullptr) {
          caught_up = true;
          break;
        }
        EntryPtr entry(e);
        top = std::max(top, kvEntry_Revision(e));
        if (kvEntry_Operation(e) != kvOp_Put) continue;
        if (auto r = decode(e)) state[kvEntry_Key(e)] = std::move(*r);
      }
      if (!caught_up) {
        std::lock_guard lock(mutex_);
        watching_ = nullptr;
        continue;
      }
      failures = 0;
      resynchronize(std::move(state), top);
      while (!stopped_ && !resync_) {
        kvEntry* e = nullptr;
        const auto s = kvWatcher_Next(&e, watcher.get(), 500);
        if (s == NATS_TIMEOUT) continue;
        if (s != NATS_OK || e == nullptr) break;
        EntryPtr entry(e);
        apply(e);
      }
      std::lock_guard lock(mutex_);
      watching_ = nullptr;
    }
  }

  /// Makes the cache the state read by a new watcher: the first load, or the exact difference.
  void resynchronize(std::map<std::string, Record> state, std::uint64_t top) {
    std::lock_guard lock(mutex_);
    const auto index = top + 1;               // the cache's index: an empty bucket (revision 0) is index 1
    if (!loaded_ || index < cache.index()) {  // first load, or a bucket that was recreated
      std::vector<ServiceInstance> instances;
      for (const auto& [key, r] : state) instances.push_back(r.instance);
      cache.load_replicated(instances, index);
    } else {
      std::vector<RegistryEvent> events;
      for (const auto& [key, before] : records_) {
        const auto it = state.find(key);
        if (auto e = change(&before, it == state.end() ? nullptr : &it->second, index)) events.push_back(std::move(*e));
      }
      for (const auto& [key, after] : state) {
        if (records_.count(key) == 0) {
          if (auto e = change(nullptr, &after, index)) events.push_back(std::move(*e));
        }
      }
      if (!events.empty() && index > cache.index()) cache.apply_replicated(index, events);
    }
    records_ = std::move(state);
    loaded_ = true;
    seen_ = std::max(seen_, top);
    wake_locked();
  }

  /// One change from the watcher.
  void apply(kvEntry* e) {
    const auto rev = kvEntry_Revision(e);
    std::string key = kvEntry_Key(e);
    std::lock_guard lock(mutex_);
    seen_ = std::max(seen_, rev);
    auto it = records_.find(key);
    const Record* before = it == records_.end() ? nullptr : &it->second;
    std::optional<Record> after;
    if (kvEntry_Operation(e) == kvOp_Put) after = decode(e);
    auto event = change(before, after ? &*after : nullptr, rev + 1);
    if (after) {
      records_[key] = std::move(*after);
    } else if (it != records_.end()) {
      records_.erase(it);
    }
    if (event && rev + 1 > cache.index()) cache.apply_replicated(rev + 1, {*event});
    wake_locked();
  }

  void wake_locked() {
    if (!loaded_) return;
    while (!waiters_.empty() && waiters_.begin()->first <= seen_) {
      waiters_.begin()->second->set(true);
      waiters_.erase(waiters_.begin());
    }
  }

  /// Every `sweep`: expires TTL instances past their ttl and removes those down past the grace.
  static Awaitable<void> sweep_loop(std::shared_ptr<NatsState> self) {
    while (!self->stopped_) {
      self->timer_.expires_after(self->options_.sweep);
      boost::system::error_code ec;
      co_await self->timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (self->stopped_) break;
      std::vector<std::pair<std::string, Record>> due;
      const auto now_ms =
          std::chrono::duration_cast<std::chrono::milliseconds>(self->time_.system_now().time_since_epoch()).count();
      {
        std::lock_guard lock(self->mutex_);
        for (const auto& [key, r] : self->records_) {
          if (r.instance.persistent()) continue;
          const bool expire = r.expired_at_ms == 0 && now_ms - r.written_ms > r.instance.ttl.count();
          const bool remove = r.expired_at_ms > 0 && now_ms - r.expired_at_ms > self->options_.grace.count();
          if (expire || remove) due.emplace_back(key, r);
        }
      }
      for (auto& [key, r] : due) {
        std::function<Result<std::optional<std::uint64_t>>()> job;
        if (r.expired_at_ms > 0) {
          job = [self, key = key, rev = r.revision] { return self->remove(key, rev); };
        } else {
          Record down = r;
          down.before = r.instance.status;
          down.instance.status = InstanceStatus::down;
          down.expired_at_ms = now_ms;
          job = [self, key = key, down, rev = r.revision] { return self->write(key, down, rev); };
        }
        auto done = co_await self->blocking<Result<std::optional<std::uint64_t>>>(std::move(job));
        if (!done)
          logs::debug("registry", "event=nats_registry_sweep_failed key={} error=\"{}\"", key, done.error().message);
      }
    }
  }

  NatsRegistryOptions options_;
  const TimeSource& time_;
  asio::any_io_executor executor_;
  asio::steady_timer timer_{executor_};
  asio::thread_pool pool_{2};
  natsConnection* connection_ = nullptr;
  jsCtx* js_ = nullptr;
  kvStore* kv_ = nullptr;
  std::thread watcher_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> resync_{false};
  std::mutex mutex_;
  std::condition_variable stop_wait_;      // the watcher thread's backoff, ended by stop()
  bool loaded_ = false;                    // guarded by mutex_
  kvWatcher* watching_ = nullptr;          // guarded by mutex_
  std::uint64_t seen_ = 0;                 // guarded by mutex_
  std::map<std::string, Record> records_;  // by key; guarded by mutex_
  std::multimap<std::uint64_t, std::shared_ptr<Completion<bool>>> waiters_;  // guarded by mutex_
};

using Written = Result<std::optional<std::uint64_t>>;

class NatsRegistry final : public Registry {
 public:
  explicit NatsRegistry(std::shared_ptr<NatsState> state) : state_(std::move(state)) {}
  ~NatsRegistry() override { state_->stop(); }

  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance in) override {
    in.normalize();
    if (auto r = validate(in); !r) co_return r.error();
    if (const bool ok = co_await state_->ready(); !ok) co_return not_ready();
    const auto key = key_of(in.service, in.id);
    auto current = co_await read(key);
    if (!current) co_return current.error();
    if (!*current && state_->cache.instance_count(in.service) >= state_->max_instances()) {
      co_return make_error(
          ErrorCode::limit_exceeded,
          "service '" + in.service + "' has the maximum of " + std::to_string(state_->max_instances()) + " instances",
          "id");
    }
    Record record;
    record.instance = in;
    record.instance.registered_at =
        *current ? (*current)->instance.registered_at
                 : std::chrono::time_point_cast<std::chrono::milliseconds>(state_->time().system_now());
    auto self = state_;
    std::function<Written()> job = [self, key, record] { return self->write(key, record, 0); };
    auto rev = co_await state_->blocking<Written>(std::move(job));
    if (!rev) co_return rev.error();
    if (const bool ok = co_await state_->seen(**rev); !ok) co_return not_ready();
    co_return co_await state_->cache.get(in.service, in.id);
  }

  Awaitable<Result<void>> deregister(std::string service, std::string id) override {
    if (const bool ok = co_await state_->ready(); !ok) co_return not_ready();
    const auto key = key_of(service, id);
    for (int attempt = 0; attempt < 10; ++attempt) {
      auto current = co_await read(key);
      if (!current) co_return current.error();
      if (!*current) co_return not_found(service, id);
      auto self = state_;
      std::function<Written()> job = [self, key, rev = (*current)->revision] { return self->remove(key, rev); };
      auto rev = co_await state_->blocking<Written>(std::move(job));
      if (!rev) co_return rev.error();
      if (!*rev) continue;  // written meanwhile: read it again
      if (const bool ok = co_await state_->seen(**rev); !ok) co_return not_ready();
      co_return Result<void>{};
    }
    co_return busy(service, id);
  }

  Awaitable<Result<void>> renew(std::string service, std::string id) override {
    co_return co_await update(std::move(service), std::move(id), [](Record& r) {
      if (r.expired_at_ms > 0) r.instance.status = r.before;  // an expired instance comes back
      r.expired_at_ms = 0;
    });
  }

  Awaitable<Result<void>> set_status(std::string service, std::string id, InstanceStatus status) override {
    auto change = [status](Record& r) {
      r.instance.status = status;
      r.expired_at_ms = 0;
    };
    co_return co_await update(std::move(service), std::move(id), std::move(change));
  }

  // Reads come from the cache once it has caught up with the bucket as it is now (a read barrier:
  // one stream-info request), so a write any client completed before the read is in the answer.
  Awaitable<Result<ServiceInstance>> get(std::string service, std::string id) override {
    if (auto caught_up = co_await catch_up(); !caught_up) co_return caught_up.error();
    co_return co_await state_->cache.get(std::move(service), std::move(id));
  }
  Awaitable<Result<std::vector<ServiceInstance>>> list(std::string service, InstanceFilter filter) override {
    if (auto caught_up = co_await catch_up(); !caught_up) co_return caught_up.error();
    co_return co_await state_->cache.list(std::move(service), std::move(filter));
  }
  Awaitable<Result<std::vector<ServiceSummary>>> list_services() override {
    if (auto caught_up = co_await catch_up(); !caught_up) co_return caught_up.error();
    co_return co_await state_->cache.list_services();
  }
  /// A watch from index 0 (a snapshot) catches up first; a watch from an index waits for changes.
  Awaitable<Result<WatchResult>> watch(WatchRequest request) override {
    if (request.after_index == 0) {
      if (auto caught_up = co_await catch_up(); !caught_up) co_return caught_up.error();
    } else if (const bool ok = co_await state_->ready(); !ok) {
      co_return not_ready();
    }
    co_return co_await state_->cache.watch(std::move(request));
  }

 private:
  static Error not_ready() {
    return make_error(ErrorCode::unavailable, "nats: the registry bucket could not be read (is nats-server up?)");
  }
  static Error not_found(const std::string& service, const std::string& id) {
    return make_error(ErrorCode::not_found, "no instance '" + id + "' of service '" + service + "'", "id");
  }
  static Error busy(const std::string& service, const std::string& id) {
    return make_error(ErrorCode::unavailable, "nats: instance '" + id + "' of '" + service + "' kept changing");
  }

  Awaitable<Result<void>> catch_up() {
    auto self = state_;
    std::function<Result<std::uint64_t>()> job = [self] { return self->last_revision(); };
    auto last = co_await state_->blocking<Result<std::uint64_t>>(std::move(job));
    if (!last) co_return last.error();
    if (const bool ok = co_await state_->seen(*last); !ok) co_return not_ready();
    co_return Result<void>{};
  }

  Awaitable<Result<std::optional<Record>>> read(std::string key) {
    auto self = state_;
    std::function<Result<std::optional<Record>>()> job = [self, key] { return self->read(key); };
    co_return co_await state_->blocking<Result<std::optional<Record>>>(std::move(job));
  }

  /// Read, change, compare-and-set; again when another write came first.
  Awaitable<Result<void>> update(std::string service, std::string id, std::function<void(Record&)> edit) {
    if (auto r = validate_service_name(service); !r) co_return r.error();
    if (const bool ok = co_await state_->ready(); !ok) co_return not_ready();
    const auto key = key_of(service, id);
    for (int attempt = 0; attempt < 10; ++attempt) {
      auto current = co_await read(key);
      if (!current) co_return current.error();
      if (!*current) co_return not_found(service, id);
      Record next = **current;
      edit(next);
      auto self = state_;
      std::function<Written()> job = [self, key, next, rev = (*current)->revision] {
        return self->write(key, next, rev);
      };
      auto rev = co_await state_->blocking<Written>(std::move(job));
      if (!rev) co_return rev.error();
      if (!*rev) continue;
      if (const bool ok = co_await state_->seen(**rev); !ok) co_return not_ready();
      co_return Result<void>{};
    }
    co_return busy(service, id);
  }

  std::shared_ptr<NatsState> state_;
};

}  // namespace

RegistryFactory nats_registry_factory() {
  return [](const net::BackendUrl& url, const RegistryDeps& deps) -> Result<std::unique_ptr<Registry>> {
    if (auto ok = net::check_url_options(
            url, "nats://",
            {"bucket", "replicas", "sweep", "grace", "timeout", "max_instances", "user", "password_env",
             "password_file", "token_env", "token_file", "tls", "ca_file", "cert_file", "key_file"});
        !ok) {
      return ok.error();
    }
    if (url.hosts.empty()) return make_error(ErrorCode::invalid_argument, "nats:// needs a host:port", "registry");
    NatsRegistryOptions o;
    auto tls = net::backend_url_tls(url);
    if (!tls) return tls.error();
    o.tls = tls->enabled;
    o.ca_file = tls->ca_file;
    o.cert_file = tls->cert_file;
    o.key_file = tls->key_file;
    for (const auto& h : url.hosts) {
      o.servers.push_back(std::string(o.tls ? "tls" : "nats") + "://" + h.host + ":" + std::to_string(h.port));
    }
    if (auto it = url.query.find("bucket"); it != url.query.end()) {
      const auto& b = it->second;
      if (b.empty() || b.size() > 64 ||
          b.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") !=
              std::string::npos) {
        return make_error(ErrorCode::invalid_argument, "bucket must be 1-64 of [A-Za-z0-9_-]", "bucket");
      }
      o.bucket = b;
    }
    auto replicas = net::backend_url_count(url, "replicas", 1, 5);
    if (!replicas) return replicas.error();
    o.replicas = static_cast<int>(*replicas);
    auto max = net::backend_url_count(url, "max_instances", o.max_instances);
    if (!max) return max.error();
    o.max_instances = *max;
    for (auto [name, field] :
         {std::pair{"sweep", &o.sweep}, std::pair{"grace", &o.grace}, std::pair{"timeout", &o.timeout}}) {
      auto d = net::backend_url_duration(url, name, *field);
      if (!d) return d.error();
      if (d->count() <= 0)
        return make_error(ErrorCode::invalid_argument, std::string(name) + " must be positive", name);
      *field = *d;
    }
    if (auto it = url.query.find("user"); it != url.query.end()) {
      auto password = net::backend_url_secret(url);
      if (!password) return password.error();
      o.user = it->second;
      o.password = *password;
    } else {
      auto token = net::backend_url_token(url, "NATS_TOKEN");
      if (!token) return token.error();
      o.token = *token;
    }
    auto state = std::make_shared<NatsState>(deps, std::move(o));
    if (auto connected = state->connect(); !connected) return connected.error();
    state->start();
    return std::unique_ptr<Registry>(std::make_unique<NatsRegistry>(std::move(state)));
  };
}

void register_nats_plugins(RegistryPlugins::Builder& builder) { builder.add("nats", 4222, nats_registry_factory()); }

}  // namespace svckit
