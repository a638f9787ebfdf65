// consul://host:port[,host:port] : the registry in Consul (or in svckitd's Consul-compatible API)
// over Consul's HTTP API on our own HttpClient. Writes go to the agent endpoints; reads to
// /v1/health/service/:name; watches are blocking queries (?index=&wait=) whose answers are states,
// which this client turns into events by comparing each answer with the previous one it gave for
// the same scope. Consul's index rules apply: an index that goes backwards (or a state this client
// no longer holds) answers with a reset.
//
// Guarantee difference from memory/svckitd/redis/etcd (docs/registry-consul.md): changes between
// two answers are coalesced — a watcher sees every *difference*, in order, exactly once, but an
// instance registered and removed between two answers is not seen, and the events of one answer
// share its index.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <set>

#include "svckit/core/instance_json.hpp"
#include "svckit/http/client.hpp"
#include "svckit/net/backend_url.hpp"
#include "svckit/net/url_token.hpp"
#include "svckit/registry/consul_json.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace svckit {
namespace {

namespace bh = http::beast_http;
using nlohmann::json;

struct ConsulOptions {
  std::vector<net::HostPort> endpoints;
  std::string token;  // X-Consul-Token (ACL)
  std::string datacenter;
  std::chrono::milliseconds timeout{5'000};
  std::chrono::milliseconds deregister_after{30'000};  // DeregisterCriticalServiceAfter of the TTL check
  net::TlsFiles tls;
};

using Key = std::pair<std::string, std::string>;  // service, id
using State = std::map<Key, ServiceInstance>;

/// One instance as read, with the ID of its TTL check ("" when it has none).
struct Entry {
  ServiceInstance instance;
  std::string ttl_check;
};

struct Answer {
  std::uint64_t index = 0;
  std::vector<Entry> entries;
};

std::uint64_t consul_index(const http::Response& res) {
  const auto it = res.find("X-Consul-Index");
  if (it == res.end()) return 0;
  return std::strtoull(std::string(it->value()).c_str(), nullptr, 10);
}

Error error_from(const http::Response& res, const std::string& what) {
  const auto code = res.result_int();
  const auto body = res.body().substr(0, 300);
  if (code == 404) return make_error(ErrorCode::not_found, what + ": " + body);
  if (code == 400) return make_error(ErrorCode::invalid_argument, what + ": " + body);
  if (code == 401)
    return make_error(ErrorCode::unauthenticated, what + ": no ACL token, or one the server does not know");
  if (code == 403) return make_error(ErrorCode::permission_denied, what + ": the ACL token does not allow this");
  return make_error(ErrorCode::unavailable, what + ": HTTP " + std::to_string(code) + " " + body);
}

class ConsulRegistry final : public Registry {
 public:
  ConsulRegistry(const RegistryDeps& deps, ConsulOptions options)
      : http_(std::make_shared<http::HttpClient>(deps.executor, http::client_options_for(options.tls))),
        options_(std::move(options)),
        time_(deps.time) {}

  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance in) override {
    in.normalize();
    if (auto r = validate(in); !r) co_return r.error();
    // The registration time: kept when this client registered the ID before (a re-registration,
    // which then changes nothing a reader sees); otherwise now, as Consul, which has no such time,
    // takes a registration from a new process for a new one. No read before the write: a
    // registration is one write and one read back.
    in.registered_at = SystemTime{};
    {
      std::lock_guard lock(mutex_);
      if (auto it = registered_.find({in.service, in.id}); it != registered_.end()) {
        in.registered_at = it->second.registered_at;
      }
    }
    if (in.registered_at == SystemTime{}) {
      in.registered_at = std::chrono::time_point_cast<std::chrono::milliseconds>(time_.system_now());
    }
    {
      std::lock_guard lock(mutex_);
      registered_[{in.service, in.id}] = in;
    }
    auto body = consul::registration_for(in, options_.deregister_after).dump();
    auto res = co_await call(http::Verb::put, "/v1/agent/service/register", std::move(body));
    if (!res) co_return res.error();
    // Read it back: the registration time is the store's (svckitd keeps its own, from the ID's
    // first registration).
    auto stored = co_await agent_lookup(in.service, in.id);
    if (stored && *stored && (*stored)->registered_at != SystemTime{}) {
      in.registered_at = (*stored)->registered_at;
      std::lock_guard lock(mutex_);
      if (auto it = registered_.find({in.service, in.id}); it != registered_.end()) {
        it->second.registered_at = in.registered_at;
      }
    }
    in.last_heartbeat = time_.system_now();
    co_return in;
  }

  Awaitable<Result<void>> deregister(std::string service, std::string id) override {
    auto current = co_await agent_lookup(service, id);
    if (!current) co_return current.error();
    if (!*current) co_return not_found(service, id);
    auto res = co_await call(http::Verb::put, "/v1/agent/service/deregister/" + net::url_encode(id), "");
    if (!res) co_return res.error();
    std::lock_guard lock(mutex_);
    registered_.erase({service, id});
    co_return Result<void>{};
  }

  Awaitable<Result<void>> renew(std::string service, std::string id) override {
    std::optional<ServiceInstance> mine;
    {
      std::lock_guard lock(mutex_);
      if (auto it = registered_.find({service, id}); it != registered_.end()) mine = it->second;
    }
    if (mine) {
      // This client's own instance: the TTL check's ID follows from how it registered it (TTL
      // check first), so a heartbeat is one call, whatever the size of the service.
      if (mine->ttl.count() == 0) {
        auto current = co_await agent_lookup(service, id);
        if (!current) co_return current.error();
        if (!*current) co_return not_found(service, id);
        co_return Result<void>{};
      }
      const auto check = mine->checks.empty() ? "service:" + id : "service:" + id + ":1";
      auto r = co_await update_ttl_check(check, keep_on_renew(mine->status));
      if (!r && r.error().code == ErrorCode::not_found) co_return not_found(service, id);
      co_return r;
    }
    auto current = co_await find(service, id);
    if (!current) co_return current.error();
    if (current->ttl_check.empty()) co_return Result<void>{};  // persistent: nothing runs out
    co_return co_await update_ttl_check(current->ttl_check, keep_on_renew(current->instance.status));
  }

  Awaitable<Result<void>> set_status(std::string service, std::string id, InstanceStatus status) override {
    auto current = co_await find(service, id);
    if (!current) co_return current.error();
    const auto before = current->instance.status;
    {
      std::lock_guard lock(mutex_);
      if (auto it = registered_.find({service, id}); it != registered_.end()) it->second.status = status;
    }
    if (before == status) co_return Result<void>{};
    const auto path_id = net::url_encode(id);
    if (status == InstanceStatus::maintenance || before == InstanceStatus::maintenance) {
      const std::string enable = status == InstanceStatus::maintenance ? "true" : "false";
      auto res = co_await call(http::Verb::put,
                               "/v1/agent/service/maintenance/" + path_id + "?enable=" + enable + "&reason=svckit", "");
      if (!res) co_return res.error();
      if (status == InstanceStatus::maintenance) co_return Result<void>{};
    }
    if (!current->ttl_check.empty()) co_return co_await update_ttl_check(current->ttl_check, status);
    // No TTL check to carry it: register again with the status (Meta svckit-status); this
    // client's own registration (with its checks) when it made it, else the record as read.
    ServiceInstance in = current->instance;
    {
      std::lock_guard lock(mutex_);
      if (auto it = registered_.find({service, id}); it != registered_.end()) in = it->second;
    }
    in.status = status;
    in.registered_at = current->instance.registered_at;
    auto res = co_await call(http::Verb::put, "/v1/agent/service/register",
                             consul::registration_for(in, options_.deregister_after).dump());
    if (!res) co_return res.error();
    co_return Result<void>{};
  }

  Awaitable<Result<ServiceInstance>> get(std::string service, std::string id) override {
    auto current = co_await find(service, id);
    if (!current) co_return current.error();
    co_return std::move(current->instance);
  }

  Awaitable<Result<std::vector<ServiceInstance>>> list(std::string service, InstanceFilter filter) override {
    auto answer = co_await read_service(service, 0, std::chrono::milliseconds(0), nullptr);
    if (!answer) co_return answer.error();
    std::vector<ServiceInstance> out;
    for (auto& e : answer->entries) {
      if (filter.matches(e.instance)) out.push_back(std::move(e.instance));
    }
    co_return out;
  }

  Awaitable<Result<std::vector<ServiceSummary>>> list_services() override {
    auto all = co_await read_all(0, std::chrono::milliseconds(0), nullptr);
    if (!all) co_return all.error();
    std::vector<ServiceInstance> instances;
    for (auto& [key, in] : all->second) instances.push_back(std::move(in));
    co_return summarize(instances);
  }

  Awaitable<Result<WatchResult>> watch(WatchRequest request) override;

 private:
  Awaitable<Result<http::Response>> call(http::Verb verb, const std::string& target, std::string body,
                                         std::chrono::milliseconds wait = std::chrono::milliseconds(0),
                                         std::shared_ptr<CancelToken> cancel = nullptr);
  Awaitable<Result<void>> update_ttl_check(const std::string& check_id, InstanceStatus status);
  /// The service's instances (sorted by id) and the answer's index; a blocking query when index > 0.
  Awaitable<Result<Answer>> read_service(const std::string& service, std::uint64_t index,
                                         std::chrono::milliseconds wait, std::shared_ptr<CancelToken> cancel);
  /// Every service's instances, blocking on the catalog's index when index > 0.
  Awaitable<Result<std::pair<std::uint64_t, State>>> read_all(std::uint64_t index, std::chrono::milliseconds wait,
                                                              std::shared_ptr<CancelToken> cancel);
  Awaitable<Result<Entry>> find(const std::string& service, const std::string& id);
  /// GET /v1/agent/service/:id: the agent's record of one ID (empty when it has none, or when the
  /// ID belongs to another service). No health: use find() for the status.
  Awaitable<Result<std::optional<ServiceInstance>>> agent_lookup(const std::string& service, const std::string& id);
  static Error not_found(const std::string& service, const std::string& id) {
    return make_error(ErrorCode::not_found, "no instance '" + id + "' of service '" + service + "'", "id");
  }
  /// A heartbeat keeps the status: a pass for healthy, for an expired one (which comes back) and
  /// under maintenance (which the maintenance check carries, not the TTL check); a fail naming
  /// the status otherwise.
  static InstanceStatus keep_on_renew(InstanceStatus s) {
    return s == InstanceStatus::down || s == InstanceStatus::maintenance ? InstanceStatus::healthy : s;
  }
  /// One service's state, or every service's when `scope` is empty.
  Awaitable<Result<std::pair<std::uint64_t, State>>> read_scope(const std::string& scope, std::uint64_t index,
                                                                std::chrono::milliseconds wait,
                                                                std::shared_ptr<CancelToken> cancel);
  std::string with_dc(std::string target) const {
    if (options_.datacenter.empty()) return target;
    return target + (target.find('?') == std::string::npos ? "?" : "&") + "dc=" + net::url_encode(options_.datacenter);
  }

  std::shared_ptr<http::HttpClient> http_;
  ConsulOptions options_;
  const TimeSource& time_;
  std::atomic<std::size_t> preferred_{0};
  std::mutex mutex_;
  std::map<Key, ServiceInstance> registered_;  // what this client registered (with its checks)
  /// scope -> the last states answered (newest last): several watchers of one scope, each at its
  /// own index, each find their base.
  /// States are shared, never copied: an answer is the whole service.
  std::map<std::string, std::deque<std::pair<std::uint64_t, std::shared_ptr<const State>>>> answered_;
  static constexpr std::size_t kStatesPerScope = 4;
};

Awaitable<Result<http::Response>> ConsulRegistry::call(http::Verb verb, const std::string& target, std::string body,
                                                       std::chrono::milliseconds wait,
                                                       std::shared_ptr<CancelToken> cancel) {
  Error last = make_error(ErrorCode::unavailable, "consul: no endpoint configured");
  const auto count = options_.endpoints.size();
  const std::size_t first = preferred_.load();
  for (std::size_t n = 0; n < count; ++n) {
    const auto i = (first + n) % count;
    http::Request req{verb, with_dc(target), 11};
    if (!options_.token.empty()) req.set("X-Consul-Token", options_.token);
    if (!body.empty()) req.set(bh::field::content_type, "application/json");
    req.body() = body;
    req.prepare_payload();
    // A blocking query may take its wait plus Consul's jitter (wait/16) before it answers.
    const auto timeout = options_.timeout + wait + wait / 16;
    auto res = co_await http_->send(options_.endpoints[i], std::move(req), timeout, cancel);
    if (!res) {
      if (cancel && cancel->cancelled()) co_return res.error();
      last = res.error();
      continue;  // the next agent
    }
    if (res->result_int() >= 500) {
      last = error_from(*res, "consul " + target);
      continue;
    }
    preferred_.store(i);
    if (res->result_int() >= 300) co_return error_from(*res, "consul " + target);
    co_return std::move(*res);
  }
  co_return last;
}

Awaitable<Result<void>> ConsulRegistry::update_ttl_check(const std::string& check_id, InstanceStatus status) {
  const std::string verb = status == InstanceStatus::healthy ? "pass" : "fail";
  const std::string note = std::string(consul::kStatusOutputPrefix) + std::string(to_string(status));
  auto res =
      co_await call(http::Verb::put,
                    "/v1/agent/check/" + verb + "/" + net::url_encode(check_id) + "?note=" + net::url_encode(note), "");
  if (!res) co_return res.error();
  co_return Result<void>{};
}

Awaitable<Result<Answer>> ConsulRegistry::read_service(const std::string& service, std::uint64_t index,
                                                       std::chrono::milliseconds wait,
                                                       std::shared_ptr<CancelToken> cancel) {
  std::string target = "/v1/health/service/" + net::url_encode(service);
  if (index > 0) target += "?index=" + std::to_string(index) + "&wait=" + consul::go_duration(wait);
  auto res = co_await call(http::Verb::get, target, "", index > 0 ? wait : std::chrono::milliseconds(0), cancel);
  if (!res) co_return res.error();
  auto entries = consul::decode_health_entries(res->body());
  if (!entries) co_return entries.error();
  Answer out;
  out.index = consul_index(*res);
  for (auto& item : *entries) {
    if (!item.instance) continue;  // an entry svckit cannot use (e.g. port 0) is not an instance for it
    out.entries.push_back(Entry{std::move(*item.instance), std::move(item.ttl_check)});
  }
  std::sort(out.entries.begin(), out.entries.end(),
            [](const Entry& a, const Entry& b) { return a.instance.id < b.instance.id; });
  co_return out;
}

Awaitable<Result<std::pair<std::uint64_t, State>>> ConsulRegistry::read_all(std::uint64_t index,
                                                                            std::chrono::milliseconds wait,
                                                                            std::shared_ptr<CancelToken> cancel) {
  std::string target = "/v1/catalog/services";
  if (index > 0) target += "?index=" + std::to_string(index) + "&wait=" + consul::go_duration(wait);
  auto res = co_await call(http::Verb::get, target, "", index > 0 ? wait : std::chrono::milliseconds(0), cancel);
  if (!res) co_return res.error();
  const auto parsed = parse_json_or_discarded(res->body());
  if (!parsed.is_object()) co_return make_error(ErrorCode::protocol, "consul: catalog answer is not an object");
  std::pair<std::uint64_t, State> out{consul_index(*res), {}};
  for (const auto& [service, tags] : parsed.items()) {
    if (service == "consul") continue;  // Consul's own servers
    auto answer = co_await read_service(service, 0, std::chrono::milliseconds(0), cancel);
    if (!answer) co_return answer.error();
    for (auto& e : answer->entries) out.second[{e.instance.service, e.instance.id}] = std::move(e.instance);
  }
  co_return out;
}

Awaitable<Result<Entry>> ConsulRegistry::find(const std::string& service, const std::string& id) {
  if (auto r = validate_service_name(service); !r) co_return r.error();
  auto answer = co_await read_service(service, 0, std::chrono::milliseconds(0), nullptr);
  if (!answer) co_return answer.error();
  for (auto& e : answer->entries) {
    if (e.instance.id == id) co_return std::move(e);
  }
  co_return make_error(ErrorCode::not_found, "no instance '" + id + "' of service '" + service + "'", "id");
}

Awaitable<Result<std::optional<ServiceInstance>>> ConsulRegistry::agent_lookup(const std::string& service,
                                                                               const std::string& id) {
  if (auto r = validate_service_name(service); !r) co_return r.error();
  auto res = co_await call(http::Verb::get, "/v1/agent/service/" + net::url_encode(id), "");
  if (!res) {
    if (res.error().code == ErrorCode::not_found) co_return std::optional<ServiceInstance>{};
    co_return res.error();
  }
  const auto parsed = parse_json_or_discarded(res->body());
  if (!parsed.is_object()) co_return make_error(ErrorCode::protocol, "consul: agent service answer is not an object");
  json entry = json::object();
  entry["Service"] = parsed;
  auto in = consul::instance_from_health_entry(entry);
  if (!in || in->service != service) co_return std::optional<ServiceInstance>{};
  co_return std::optional<ServiceInstance>(std::move(*in));
}

/// a == b but for the heartbeat time (the answers carry none; a copy only when they differ).
bool same_but_heartbeat(const ServiceInstance& a, const ServiceInstance& b) {
  if (a.last_heartbeat == b.last_heartbeat) return a == b;
  auto copy = b;
  copy.last_heartbeat = a.last_heartbeat;
  return a == copy;
}

/// The events that turn `before` into `after`, each with `index`. Instances that did not change
/// are compared in place, never copied: a watch answer is the whole service every time.
std::vector<RegistryEvent> differences(const State& before, const State& after, std::uint64_t index) {
  std::vector<RegistryEvent> out;
  auto event = [&](EventType type, const ServiceInstance& in) -> RegistryEvent& {
    auto& e = out.emplace_back();
    e.index = index;
    e.type = type;
    e.instance = in;
    return e;
  };
  for (const auto& [key, in] : after) {
    auto it = before.find(key);
    if (it == before.end()) {
      event(EventType::registered, in);
    } else if (it->second.status != in.status) {
      const bool expired = in.ttl.count() > 0 && in.status == InstanceStatus::down;
      event(expired ? EventType::expired : EventType::status_changed, in).previous_status = it->second.status;
    } else if (!same_but_heartbeat(it->second, in)) {
      event(EventType::updated, in);
    }
  }
  for (const auto& [key, in] : before) {
    if (after.count(key) == 0) event(EventType::deregistered, in);
  }
  return out;
}

Awaitable<Result<std::pair<std::uint64_t, State>>> ConsulRegistry::read_scope(const std::string& scope,
                                                                              std::uint64_t index,
                                                                              std::chrono::milliseconds wait,
                                                                              std::shared_ptr<CancelToken> cancel) {
  if (scope.empty()) co_return co_await read_all(index, wait, std::move(cancel));
  auto answer = co_await read_service(scope, index, wait, std::move(cancel));
  if (!answer) co_return answer.error();
  std::pair<std::uint64_t, State> out{answer->index, {}};
  for (auto& e : answer->entries) out.second[{e.instance.service, e.instance.id}] = std::move(e.instance);
  co_return out;
}

Awaitable<Result<WatchResult>> ConsulRegistry::watch(WatchRequest request) {
  using Shared = std::pair<std::uint64_t, std::shared_ptr<const State>>;
  const auto& scope = request.service;
  auto remember = [&](const Shared& state) {
    std::lock_guard lock(mutex_);
    auto& states = answered_[scope];
    std::erase_if(states, [&](const auto& s) { return s.first == state.first; });
    states.push_back(state);
    if (states.size() > kStatesPerScope) states.pop_front();
  };
  auto share = [](std::pair<std::uint64_t, State>&& read) {
    return Shared{read.first, std::make_shared<const State>(std::move(read.second))};
  };
  auto reset = [&](const Shared& state) {
    WatchResult out;
    out.index = state.first;
    out.reset = true;
    out.snapshot.reserve(state.second->size());
    for (const auto& [key, in] : *state.second) out.snapshot.push_back(in);
    remember(state);
    return out;
  };

  std::optional<Shared> base;
  {
    std::lock_guard lock(mutex_);
    if (auto it = answered_.find(scope); it != answered_.end()) {
      for (const auto& state : it->second) {
        if (state.first == request.after_index) base = state;
      }
    }
  }
  if (request.after_index == 0 || !base) {
    auto now = co_await read_scope(scope, 0, std::chrono::milliseconds(0), request.cancel);
    if (!now) co_return now.error();
    auto shared = share(std::move(*now));
    // No state of our own at that index: usable as the base only if nothing changed since.
    if (request.after_index == 0 || shared.first != request.after_index) co_return reset(shared);
    base = std::move(shared);
    remember(*base);
  }
  const auto deadline = std::chrono::steady_clock::now() + request.wait;
  std::uint64_t index = request.after_index;
  while (true) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || (request.cancel && request.cancel->cancelled())) {
      WatchResult idle;
      idle.index = index;
      co_return idle;
    }
    auto read = co_await read_scope(scope, index, left, request.cancel);
    if (!read) co_return read.error();
    auto next = share(std::move(*read));
    if (next.first < request.after_index) co_return reset(next);  // Consul: index went backwards
    auto events = differences(*base->second, *next.second, next.first);
    if (!events.empty()) {
      WatchResult out;
      out.index = next.first;
      out.events = std::move(events);
      remember(next);
      co_return out;
    }
    index = std::max(index, next.first);
    base->first = index;
    remember(*base);
  }
}

}  // namespace

RegistryFactory consul_registry_factory() {
  return [](const net::BackendUrl& url, const RegistryDeps& deps) -> Result<std::unique_ptr<Registry>> {
    if (auto ok = net::check_url_options(
            url, "consul://",
            {"tls", "timeout", "grace", "dc", "token_env", "token_file", "ca_file", "cert_file", "key_file"});
        !ok) {
      return ok.error();
    }
    if (url.hosts.empty()) {
      return make_error(ErrorCode::invalid_argument, "consul:// needs at least one host:port", "registry");
    }
    ConsulOptions options;
    options.endpoints = url.hosts;
    auto tls = net::backend_url_tls(url);
    if (!tls) return tls.error();
    for (auto& e : options.endpoints) e.tls = tls->enabled;
    options.tls = *tls;
    auto timeout = net::backend_url_duration(url, "timeout", options.timeout);
    if (!timeout) return timeout.error();
    options.timeout = *timeout;
    auto grace = net::backend_url_duration(url, "grace", options.deregister_after);
    if (!grace) return grace.error();
    options.deregister_after = *grace;
    if (auto it = url.query.find("dc"); it != url.query.end()) options.datacenter = it->second;
    // The ACL token, like every secret, from the environment or a file (never in the URL);
    // CONSUL_HTTP_TOKEN / CONSUL_HTTP_TOKEN_FILE as Consul's own tools read them.
    auto token = net::backend_url_token(url, "CONSUL_HTTP_TOKEN");
    if (!token) return token.error();
    options.token = *token;
    return std::unique_ptr<Registry>(std::make_unique<ConsulRegistry>(deps, std::move(options)));
  };
}

}  // namespace svckit
