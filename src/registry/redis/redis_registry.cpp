// redis://host:port/db : the registry in Redis. See redis_scripts.hpp for the data layout; each
// change is one Lua script (atomic: instance, index and event stream move together). Watches read
// the event stream from the caller's index (XREAD BLOCK on a connection of their own), so a
// watcher that was away catches up on every change it missed or, when the stream was trimmed or
// the server lost its data, gets a reset with a fresh snapshot.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "registry/redis/redis_scripts.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"
#include "svckit/redis/redis_client.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace svckit {
namespace {

namespace asio = boost::asio;
using redis::RedisClient;
using redis::RedisScript;
using redis::Reply;

struct RedisRegistryOptions {
  std::string prefix = "{svckit}";
  std::chrono::milliseconds sweep_interval{1000};
  std::chrono::milliseconds expiry_grace{30'000};
  std::size_t max_instances_per_service = 10'000;
  std::size_t event_history = 8192;
};

SystemTime from_ms(long long ms) { return SystemTime(std::chrono::milliseconds(ms)); }

/// The instance JSON kept in Redis: everything but status and times (those live in the state string).
std::string stable_json(ServiceInstance in) {
  in.status = InstanceStatus::healthy;
  in.registered_at = {};
  in.last_heartbeat = {};
  return to_json(in).dump();
}

/// Rebuilds an instance from its JSON and "status registered_ms heartbeat_ms ttl_ms expired_ms before".
Result<ServiceInstance> decode(const std::string& json, const std::string& state) {
  auto parsed = parse_json(json);
  if (!parsed) return parsed.error();
  auto in = instance_from_json(*parsed);
  if (!in) return in.error();
  char status[32] = {};
  long long registered = 0;
  long long heartbeat = 0;
  if (std::sscanf(state.c_str(), "%31s %lld %lld", status, &registered, &heartbeat) != 3) {
    return make_error(ErrorCode::protocol, "redis registry: bad state '" + state + "'");
  }
  auto st = parse_instance_status(status);
  if (!st) return make_error(ErrorCode::protocol, "redis registry: bad status '" + std::string(status) + "'");
  in->status = *st;
  in->registered_at = from_ms(registered);
  in->last_heartbeat = from_ms(heartbeat);
  return in;
}

class RedisRegistry final : public Registry {
 public:
  RedisRegistry(const RegistryDeps& deps, redis::RedisOptions redis_options, RedisRegistryOptions options)
      : state_(std::make_shared<State>(deps.executor, std::move(redis_options), std::move(options))) {
    asio::co_spawn(deps.executor, sweep_loop(state_), asio::detached);
  }
  ~RedisRegistry() override {
    state_->stopped = true;
    asio::post(state_->timer.get_executor(), [s = state_] { s->timer.cancel(); });
  }

  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance in) override {
    in.normalize();
    if (auto valid = validate(in); !valid) co_return valid.error();
    auto s = state_;
    auto reply = co_await s->redis.eval(
        s->register_script, s->instance_keys(in.service),
        redis::command_args(in.service, in.id, stable_json(in), to_string(in.status), std::to_string(in.ttl.count()),
                            std::to_string(s->options.max_instances_per_service), s->history()));
    if (!reply) co_return reply.error();
    if (reply->elements.size() != 2) co_return make_error(ErrorCode::protocol, "redis registry: bad register reply");
    in.registered_at = from_ms(reply->elements[0].integer);
    in.last_heartbeat = from_ms(reply->elements[1].integer);
    co_return in;
  }

  Awaitable<Result<void>> deregister(std::string service, std::string id) override {
    auto s = state_;
    co_return done(co_await s->redis.eval(s->deregister_script, s->instance_keys(service),
                                          redis::command_args(service, id, s->history())));
  }

  Awaitable<Result<void>> renew(std::string service, std::string id) override {
    auto s = state_;
    co_return done(co_await s->redis.eval(s->renew_script, s->instance_keys(service),
                                          redis::command_args(service, id, s->history())));
  }

  Awaitable<Result<void>> set_status(std::string service, std::string id, InstanceStatus status) override {
    auto s = state_;
    co_return done(co_await s->redis.eval(s->status_script, s->instance_keys(service),
                                          redis::command_args(service, id, to_string(status), s->history())));
  }

  Awaitable<Result<ServiceInstance>> get(std::string service, std::string id) override {
    auto s = state_;
    auto json = co_await s->redis.command(redis::command_args("HGET", s->key("json:" + service), id));
    if (!json) co_return json.error();
    auto state = co_await s->redis.command(redis::command_args("HGET", s->key("state:" + service), id));
    if (!state) co_return state.error();
    if (json->is_nil() || state->is_nil()) {
      co_return make_error(ErrorCode::not_found, "no instance '" + id + "' of service '" + service + "'", "id");
    }
    co_return decode(json->text, state->text);
  }

  Awaitable<Result<std::vector<ServiceInstance>>> list(std::string service, InstanceFilter filter) override {
    auto snapshot = co_await read_snapshot(service);
    if (!snapshot) co_return snapshot.error();
    std::vector<ServiceInstance> out;
    for (auto& in : snapshot->instances) {
      if (filter.matches(in)) out.push_back(std::move(in));
    }
    co_return out;
  }

  Awaitable<Result<std::vector<ServiceSummary>>> list_services() override {
    auto snapshot = co_await read_snapshot("");
    if (!snapshot) co_return snapshot.error();
    co_return summarize(snapshot->instances);
  }

  Awaitable<Result<WatchResult>> watch(WatchRequest request) override;

 private:
  struct State {
    State(const asio::any_io_executor& ex, redis::RedisOptions redis_options, RedisRegistryOptions opts)
        : redis(ex, std::move(redis_options)), options(std::move(opts)), timer(ex) {}

    std::string key(const std::string& name) const { return options.prefix + ":" + name; }
    std::string history() const { return std::to_string(options.event_history); }
    std::vector<std::string> instance_keys(const std::string& service) const {
      return {key("json:" + service), key("state:" + service), key("services"), key("ttl"), key("gone"), key("index"),
              key("events")};
    }

    RedisClient redis;
    RedisRegistryOptions options;
    asio::steady_timer timer;
    std::atomic<bool> stopped{false};
    const std::string common = redis_registry::kCommon;
    const RedisScript register_script{common + redis_registry::kRegister};
    const RedisScript deregister_script{common + redis_registry::kDeregister};
    const RedisScript renew_script{common + redis_registry::kRenew};
    const RedisScript status_script{common + redis_registry::kSetStatus};
    const RedisScript sweep_script{common + redis_registry::kSweep};
    const RedisScript snapshot_script{redis_registry::kSnapshot};
    const RedisScript bounds_script{redis_registry::kLogBounds};
  };

  struct Snapshot {
    std::uint64_t index = 1;
    std::uint64_t first_logged = 0;  // index of the oldest event still in the stream; 0 = none
    std::vector<ServiceInstance> instances;
  };

  static Result<void> done(const Result<Reply>& reply) {
    if (!reply) return reply.error();
    return {};
  }

  static std::uint64_t stream_index(const std::string& id) { return std::strtoull(id.c_str(), nullptr, 10); }

  Awaitable<Result<Snapshot>> read_snapshot(const std::string& service) {
    auto s = state_;
    auto reply = co_await s->redis.eval(s->snapshot_script,
                                        redis::command_args(s->key("services"), s->key("index"), s->key("events")),
                                        redis::command_args(s->options.prefix, service));
    if (!reply) co_return reply.error();
    if (reply->elements.size() != 3) co_return make_error(ErrorCode::protocol, "redis registry: bad snapshot reply");
    Snapshot out;
    out.index = static_cast<std::uint64_t>(reply->elements[0].integer);
    out.first_logged = stream_index(reply->elements[1].text);
    const auto& rows = reply->elements[2].elements;
    for (std::size_t i = 0; i + 3 < rows.size(); i += 4) {
      auto in = decode(rows[i + 2].text, rows[i + 3].text);
      if (!in) co_return in.error();
      out.instances.push_back(std::move(*in));
    }
    std::sort(out.instances.begin(), out.instances.end(),
              [](const auto& a, const auto& b) { return std::tie(a.service, a.id) < std::tie(b.service, b.id); });
    co_return out;
  }

  Awaitable<Result<WatchResult>> reset(const std::string& service) {
    auto snapshot = co_await read_snapshot(service);
    if (!snapshot) co_return snapshot.error();
    WatchResult out;
    out.reset = true;
    out.index = snapshot->index;
    out.snapshot = std::move(snapshot->instances);
    co_return out;
  }

  static Result<RegistryEvent> event_from_entry(const Reply& entry) {
    if (entry.elements.size() != 2) return make_error(ErrorCode::protocol, "redis registry: bad stream entry");
    std::map<std::string, std::string> fields;
    const auto& kv = entry.elements[1].elements;
    for (std::size_t i = 0; i + 1 < kv.size(); i += 2) fields[kv[i].text] = kv[i + 1].text;
    auto type = parse_event_type(fields["t"]);
    if (!type) return make_error(ErrorCode::protocol, "redis registry: bad event type '" + fields["t"] + "'");
    auto in = decode(fields["j"], fields["st"]);
    if (!in) return in.error();
    RegistryEvent event;
    event.index = stream_index(entry.elements[0].text);
    event.type = *type;
    event.instance = std::move(*in);
    if (!fields["p"].empty()) event.previous_status = parse_instance_status(fields["p"]);
    return event;
  }

  static Awaitable<void> sweep_loop(std::shared_ptr<State> s) {
    while (!s->stopped) {
      s->timer.expires_after(s->options.sweep_interval);
      boost::system::error_code ec;
      co_await s->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (s->stopped) break;
      auto swept = co_await s->redis.eval(
          s->sweep_script,
          redis::command_args(s->key("services"), s->key("ttl"), s->key("gone"), s->key("index"), s->key("events")),
          redis::command_args(s->options.prefix, std::to_string(s->options.expiry_grace.count()), "1000",
                              s->history()));
      if (!swept && !s->stopped)
        logs::debug("registry", "event=redis_registry_sweep_failed error={}", swept.error().message);
    }
  }

  std::shared_ptr<State> state_;
};

Awaitable<Result<WatchResult>> RedisRegistry::watch(WatchRequest request) {
  auto s = state_;
  if (request.after_index == 0) co_return co_await reset(request.service);
  const auto deadline = std::chrono::steady_clock::now() + request.wait;
  std::uint64_t after = request.after_index;
  for (;;) {
    // Can the log still answer from `after`? Not if the index went backwards (data lost) or the
    // stream was trimmed past it.
    auto bounds = co_await s->redis.eval(s->bounds_script, redis::command_args(s->key("index"), s->key("events")),
                                         redis::command_args());
    if (!bounds) co_return bounds.error();
    if (bounds->elements.size() != 2) co_return make_error(ErrorCode::protocol, "redis registry: bad bounds reply");
    const auto index = static_cast<std::uint64_t>(bounds->elements[0].integer);
    const auto first = stream_index(bounds->elements[1].text);
    if (index < after || (index > after && (first == 0 || first > after + 1))) {
      co_return co_await reset(request.service);
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    auto read = left.count() > 0 ? redis::command_args("XREAD", "COUNT", "1000", "BLOCK", std::to_string(left.count()),
                                                       "STREAMS", s->key("events"), std::to_string(after) + "-0")
                                 : redis::command_args("XREAD", "COUNT", "1000", "STREAMS", s->key("events"),
                                                       std::to_string(after) + "-0");
    Result<Reply> reply = make_error(ErrorCode::internal, "not read");
    if (left.count() > 0) {
      reply = co_await s->redis.blocking_command(std::move(read), left, request.cancel);
    } else {
      reply = co_await s->redis.command(std::move(read));
    }
    if (!reply) co_return reply.error();
    WatchResult out;
    out.index = after;
    if (!reply->is_nil() && !reply->elements.empty() && reply->elements[0].elements.size() == 2) {
      for (const auto& entry : reply->elements[0].elements[1].elements) {
        auto event = event_from_entry(entry);
        if (!event) co_return event.error();
        out.index = event->index;
        if (request.service.empty() || event->instance.service == request.service) {
          out.events.push_back(std::move(*event));
        }
      }
    }
    // Events of other services move the index on but do not end the wait.
    if (!out.events.empty() || std::chrono::steady_clock::now() >= deadline ||
        (request.cancel && request.cancel->cancelled())) {
      co_return out;
    }
    after = out.index;
  }
}

}  // namespace

RegistryFactory redis_registry_factory() {
  return [](const net::BackendUrl& url, const RegistryDeps& deps) -> Result<std::unique_ptr<Registry>> {
    if (auto ok = net::check_url_options(url, "redis://", net::kConnectionOptions,
                                         {"prefix", "sweep", "grace", "max_instances", "history"});
        !ok) {
      return ok.error();
    }
    auto redis_options = redis::redis_options_from_url(url);
    if (!redis_options) return redis_options.error();
    RedisRegistryOptions options;
    if (auto it = url.query.find("prefix"); it != url.query.end()) {
      if (it->second.empty() || it->second.find_first_of("{}") != std::string::npos) {
        return make_error(ErrorCode::invalid_argument, "prefix must be non-empty, without braces", "prefix");
      }
      options.prefix = "{" + it->second + "}";
    }
    auto sweep = net::backend_url_duration(url, "sweep", options.sweep_interval);
    if (!sweep) return sweep.error();
    auto grace = net::backend_url_duration(url, "grace", options.expiry_grace);
    if (!grace) return grace.error();
    auto max_instances = net::backend_url_count(url, "max_instances", options.max_instances_per_service);
    if (!max_instances) return max_instances.error();
    auto history = net::backend_url_count(url, "history", options.event_history);
    if (!history) return history.error();
    options.sweep_interval = *sweep;
    options.expiry_grace = *grace;
    options.max_instances_per_service = *max_instances;
    options.event_history = *history;
    return std::unique_ptr<Registry>(std::make_unique<RedisRegistry>(deps, std::move(*redis_options), options));
  };
}

void register_redis_plugins(RegistryPlugins::Builder& builder) {
  builder.add("redis", 6379, redis_registry_factory());
  builder.add("rediss", 6379, redis_registry_factory());
}

}  // namespace svckit
