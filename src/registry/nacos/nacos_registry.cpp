// nacos://host:8848[,host:8848]?namespace=&group= : the registry in a Nacos server (or in svckitd's
// Nacos-compatible API) over Nacos's Open API v1, as Nacos's own clients speak it: POST
// /nacos/v1/ns/instance registers, PUT updates (the status: healthy, enabled), DELETE deregisters,
// PUT /instance/beat is the heartbeat of an ephemeral (TTL) instance, GET /instance/list and
// /service/list read. Every call names the URL's namespace and group (default: public and
// DEFAULT_GROUP). `?user=` with `?password_env=`/`?password_file=` logs in
// (POST /nacos/v1/auth/login) and sends the access token it gets, logging in again before the
// token's tokenTtl runs out or when the server refuses it; `?token_env=`/`?token_file=` sends a
// token as is.
//
// Nacos names an instance by its address (ip, port, cluster); svckit by an id. The id travels in
// metadata (svckit/registry/nacos_json.hpp), so deregister, renew and set_status first find the
// instance's address in the service's list — except for the instances this client registered or
// read, whose addresses it remembers: their heartbeat is one PUT, carrying the whole instance, so
// a server that lost it (restarted) registers it again, as Nacos's beats do.
//
// Nacos v1 has no blocking query (its clients poll /instance/list, or get UDP pushes): watches
// read the watched service (or every service) every `poll` (PolledMirror).
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <map>
#include <mutex>

#include "registry/polled/failover_http.hpp"
#include "registry/polled/polled_mirror.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/net/url_token.hpp"
#include "svckit/registry/nacos_json.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace svckit {
namespace {

namespace bh = http::beast_http;
using nlohmann::json;
using namespace std::chrono_literals;

struct NacosOptions {
  std::vector<net::HostPort> servers;
  std::string group;       // empty: DEFAULT_GROUP
  std::string namespace_;  // empty: public
  std::string user;        // with password: log in for a token
  std::string password;
  std::string token;  // a token sent as is
  std::chrono::milliseconds timeout{5'000};
  std::chrono::milliseconds poll{2'000};
  net::TlsFiles tls;
};

std::string query_of(const nacos::Params& params) {
  std::string out;
  for (const auto& [key, value] : params) out += (out.empty() ? "?" : "&") + key + "=" + net::url_encode(value);
  return out;
}

/// Where an instance is, as Nacos names it.
struct Address {
  std::string ip;
  std::string port;
  std::string cluster;
  bool ephemeral = true;
  ServiceInstance instance;  // as last written or read, for the beat
};

class NacosRegistry final : public Registry {
 public:
  NacosRegistry(const RegistryDeps& deps, NacosOptions options)
      : options_(std::move(options)),
        http_(deps.executor, options_.servers, options_.tls, options_.timeout),
        time_(deps.time),
        mirror_(deps.time, options_.poll, [this](std::string scope) { return fetch(std::move(scope)); }) {}

  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance in) override {
    in.normalize();
    if (auto r = validate(in); !r) co_return r.error();
    auto params = nacos::registration_params(in, scope_for(in.service));
    auto res = co_await call(http::Verb::post, "/nacos/v1/ns/instance", std::move(params));
    if (!res) co_return res.error();
    {
      std::lock_guard lock(mutex_);
      auto& known = addresses_[{in.service, in.id}];
      known.ip = in.host;
      known.port = std::to_string(in.port);
      known.cluster = in.zone.empty() ? std::string(nacos::kDefaultCluster) : in.zone;
      known.ephemeral = !in.persistent();
      known.instance.service.clear();  // an address only: read it back below
    }
    auto stored = co_await lookup(in.service, in.id);  // the server's record (its registration time)
    if (!stored) co_return stored.error();
    co_return std::move(stored->instance);
  }

  Awaitable<Result<void>> deregister(std::string service, std::string id) override {
    auto found = co_await lookup(service, id);
    if (!found) co_return found.error();
    auto params = address_params(service, *found);
    auto res = co_await call(http::Verb::delete_, "/nacos/v1/ns/instance", std::move(params));
    if (!res) co_return not_found_or(res.error(), service, id);
    std::lock_guard lock(mutex_);
    addresses_.erase({service, id});
    co_return Result<void>{};
  }

  Awaitable<Result<void>> renew(std::string service, std::string id) override {
    std::optional<Address> known;
    {
      std::lock_guard lock(mutex_);
      if (auto it = addresses_.find({service, id}); it != addresses_.end() && !it->second.instance.service.empty()) {
        known = it->second;
      }
    }
    if (!known) {
      auto found = co_await lookup(service, id);
      if (!found) co_return found.error();
      known = std::move(*found);
    }
    if (!known->ephemeral) co_return Result<void>{};  // persistent: nothing runs out
    auto params = address_params(service, *known);
    auto beat = nacos::host_json(known->instance, scope_for(service));
    beat["cluster"] = known->cluster;
    beat["serviceName"] = scope_for(service).grouped_name();
    beat["scheduled"] = false;
    params.emplace("beat", beat.dump());
    auto res = co_await call(http::Verb::put, "/nacos/v1/ns/instance/beat", std::move(params));
    if (!res) co_return not_found_or(res.error(), service, id);
    co_return Result<void>{};
  }

  Awaitable<Result<void>> set_status(std::string service, std::string id, InstanceStatus status) override {
    auto found = co_await lookup(service, id);
    if (!found) co_return found.error();
    if (found->instance.status == status) co_return Result<void>{};
    found->instance.status = status;
    auto params = nacos::registration_params(found->instance, scope_for(service));
    auto res = co_await call(http::Verb::put, "/nacos/v1/ns/instance", std::move(params));
    if (!res) co_return not_found_or(res.error(), service, id);
    co_return Result<void>{};
  }

  Awaitable<Result<ServiceInstance>> get(std::string service, std::string id) override {
    auto found = co_await lookup(service, id);
    if (!found) co_return found.error();
    co_return std::move(found->instance);
  }

  Awaitable<Result<std::vector<ServiceInstance>>> list(std::string service, InstanceFilter filter) override {
    auto all = co_await read_service(service);
    if (!all) co_return all.error();
    std::vector<ServiceInstance> out;
    for (auto& a : *all) {
      if (filter.matches(a.instance)) out.push_back(std::move(a.instance));
    }
    co_return out;
  }

  Awaitable<Result<std::vector<ServiceSummary>>> list_services() override {
    auto all = co_await read_all();
    if (!all) co_return all.error();
    co_return summarize(*all);
  }

  Awaitable<Result<WatchResult>> watch(WatchRequest request) override { return mirror_.watch(std::move(request)); }

 private:
  nacos::Scope scope_for(const std::string& service) const {
    nacos::Scope s;
    s.service = service;
    s.group = options_.group;
    s.namespace_ = options_.namespace_;
    return s;
  }
  nacos::Params address_params(const std::string& service, const Address& a) const {
    nacos::Params p;
    p.emplace("serviceName", service);
    if (!options_.group.empty()) p.emplace("groupName", options_.group);
    if (!options_.namespace_.empty()) p.emplace("namespaceId", options_.namespace_);
    p.emplace("ip", a.ip);
    p.emplace("port", a.port);
    p.emplace("clusterName", a.cluster);
    p.emplace("ephemeral", a.ephemeral ? "true" : "false");
    return p;
  }
  static Error not_found_or(Error e, const std::string& service, const std::string& id) {
    if (e.code != ErrorCode::not_found) return e;
    return make_error(ErrorCode::not_found, "no instance '" + id + "' of service '" + service + "'", "id");
  }

  /// The access token to send: the configured one, or one from a login (again when it runs out).
  Awaitable<Result<std::string>> access_token(bool renew_login) {
    if (options_.user.empty()) co_return options_.token;
    {
      std::lock_guard lock(mutex_);
      if (!renew_login && !token_.empty() && time_.steady_now() < token_until_) co_return token_;
    }
    http::Request req{http::Verb::post, "/nacos/v1/auth/login", 11};
    req.set(bh::field::content_type, "application/x-www-form-urlencoded");
    req.body() = "username=" + net::url_encode(options_.user) + "&password=" + net::url_encode(options_.password);
    req.prepare_payload();
    auto res = co_await http_.send(std::move(req), "nacos login");
    if (!res) co_return res.error();
    if (res->result_int() >= 300) co_return answer_error(*res, "nacos login as '" + options_.user + "'");
    const auto parsed = parse_json_or_discarded(res->body());
    if (!parsed.is_object() || !parsed.contains("accessToken") || !parsed["accessToken"].is_string()) {
      co_return make_error(ErrorCode::protocol, "nacos login: no accessToken in the answer");
    }
    const long long ttl = parsed.value("tokenTtl", 18'000LL);
    std::lock_guard lock(mutex_);
    token_ = parsed["accessToken"].get<std::string>();
    token_until_ = time_.steady_now() + std::chrono::seconds(std::max(1LL, ttl * 9 / 10));
    co_return token_;
  }

  Awaitable<Result<http::Response>> call(http::Verb verb, std::string path, nacos::Params params) {
    for (int attempt = 0; attempt < 2; ++attempt) {
      auto token = co_await access_token(attempt > 0);
      if (!token) co_return token.error();
      auto with_token = params;
      if (!token->empty()) with_token.emplace("accessToken", *token);
      http::Request req{verb, path + query_of(with_token), 11};
      req.prepare_payload();
      auto res = co_await http_.send(std::move(req), "nacos " + path);
      if (!res) co_return res.error();
      // A refused token after a login: the server may have restarted (its tokens with it).
      if (res->result_int() == 403 && !options_.user.empty() && attempt == 0) continue;
      if (res->result_int() >= 300) co_return answer_error(*res, "nacos " + path);
      co_return std::move(*res);
    }
    co_return make_error(ErrorCode::permission_denied, "nacos " + path + ": refused after a new login");
  }

  /// One service's instances with their addresses, sorted by id (an unknown service has none).
  Awaitable<Result<std::vector<Address>>> read_service(const std::string& service) {
    if (auto r = validate_service_name(service); !r) co_return r.error();
    nacos::Params params;
    params.emplace("serviceName", service);
    if (!options_.group.empty()) params.emplace("groupName", options_.group);
    if (!options_.namespace_.empty()) params.emplace("namespaceId", options_.namespace_);
    params.emplace("healthyOnly", "false");
    auto res = co_await call(http::Verb::get, "/nacos/v1/ns/instance/list", std::move(params));
    if (!res) {
      if (res.error().code == ErrorCode::not_found) co_return std::vector<Address>{};
      co_return res.error();
    }
    const auto parsed = parse_json_or_discarded(res->body());
    if (!parsed.is_object()) co_return make_error(ErrorCode::protocol, "nacos: the list answer is not an object");
    const auto hosts = parsed.contains("hosts") ? parsed["hosts"] : json::array();
    std::vector<Address> out;
    const auto scope = scope_for(service);
    for (const auto& host : hosts) {
      auto in = nacos::instance_from_host(host, scope);
      if (!in) continue;  // a host svckit cannot use (a bad port) is not an instance for it
      Address a;
      a.ip = host.value("ip", std::string());
      a.port = std::to_string(in->port);
      a.cluster = host.value("clusterName", std::string(nacos::kDefaultCluster));
      a.ephemeral = !in->persistent();
      a.instance = std::move(*in);
      out.push_back(std::move(a));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.instance.id < b.instance.id; });
    co_return out;
  }

  /// One instance at a known address (GET /nacos/v1/ns/instance): nullopt when the server holds
  /// another instance there, or none.
  Awaitable<Result<std::optional<Address>>> read_one(const std::string& service, Address at) {
    auto params = address_params(service, at);
    params.erase("ephemeral");
    params.emplace("cluster", at.cluster);
    auto res = co_await call(http::Verb::get, "/nacos/v1/ns/instance", std::move(params));
    if (!res) {
      if (res.error().code == ErrorCode::not_found) co_return std::optional<Address>{};
      co_return res.error();
    }
    const auto parsed = parse_json_or_discarded(res->body());
    auto in = nacos::instance_from_host(parsed, scope_for(service));
    if (!in) co_return std::optional<Address>{};
    at.ephemeral = !in->persistent();
    at.instance = std::move(*in);
    co_return std::optional<Address>(std::move(at));
  }

  /// The instance `id` of `service` and its address; remembered for later heartbeats. An address
  /// this client knows is read alone; otherwise the service's list is searched.
  Awaitable<Result<Address>> lookup(const std::string& service, const std::string& id) {
    std::optional<Address> known;
    {
      std::lock_guard lock(mutex_);
      if (auto it = addresses_.find({service, id}); it != addresses_.end()) known = it->second;
    }
    if (known) {
      auto one = co_await read_one(service, *known);
      if (!one) co_return one.error();
      if (*one && (*one)->instance.id == id) {
        co_return remember(service, id, std::move(**one));
      }
    }
    auto all = co_await read_service(service);
    if (!all) co_return all.error();
    for (auto& a : *all) {
      if (a.instance.id == id) co_return remember(service, id, std::move(a));
    }
    {
      std::lock_guard lock(mutex_);
      addresses_.erase({service, id});
    }
    co_return make_error(ErrorCode::not_found, "no instance '" + id + "' of service '" + service + "'", "id");
  }

  Address remember(const std::string& service, const std::string& id, Address a) {
    std::lock_guard lock(mutex_);
    auto& known = addresses_[{service, id}];
    // A Nacos server does not say when an instance registered: the first time this client saw it.
    if (a.instance.registered_at == SystemTime{}) {
      a.instance.registered_at = known.instance.registered_at != SystemTime{}
                                     ? known.instance.registered_at
                                     : std::chrono::time_point_cast<std::chrono::milliseconds>(time_.system_now());
    }
    known = a;
    return a;
  }

  /// Every service's instances: the service list, page by page, then each service's list.
  Awaitable<Result<std::vector<ServiceInstance>>> read_all() {
    std::vector<std::string> names;
    constexpr int kPage = 500;
    for (int page = 1; page < 10'000; ++page) {
      nacos::Params params;
      params.emplace("pageNo", std::to_string(page));
      params.emplace("pageSize", std::to_string(kPage));
      if (!options_.group.empty()) params.emplace("groupName", options_.group);
      if (!options_.namespace_.empty()) params.emplace("namespaceId", options_.namespace_);
      auto res = co_await call(http::Verb::get, "/nacos/v1/ns/service/list", std::move(params));
      if (!res) co_return res.error();
      const auto parsed = parse_json_or_discarded(res->body());
      if (!parsed.is_object() || !parsed.contains("doms") || !parsed["doms"].is_array()) {
        co_return make_error(ErrorCode::protocol, "nacos: the service list answer has no \"doms\"");
      }
      for (const auto& d : parsed["doms"]) {
        if (d.is_string()) names.push_back(d.get<std::string>());
      }
      if (parsed["doms"].size() < static_cast<std::size_t>(kPage)) break;
    }
    std::vector<ServiceInstance> out;
    for (const auto& name : names) {
      if (!validate_service_name(name)) continue;  // a Nacos service svckit cannot name
      auto instances = co_await read_service(name);
      if (!instances) co_return instances.error();
      for (auto& a : *instances) out.push_back(std::move(a.instance));
    }
    co_return out;
  }

  Awaitable<Result<std::vector<ServiceInstance>>> fetch(std::string scope) {
    if (scope.empty()) co_return co_await read_all();
    auto instances = co_await read_service(scope);
    if (!instances) co_return instances.error();
    std::vector<ServiceInstance> out;
    for (auto& a : *instances) out.push_back(std::move(a.instance));
    co_return out;
  }

  NacosOptions options_;
  FailoverHttp http_;
  const TimeSource& time_;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, Address> addresses_;  // guarded by mutex_
  std::string token_;                                                 // guarded by mutex_
  std::chrono::steady_clock::time_point token_until_{};               // guarded by mutex_
  PolledMirror mirror_;
};

}  // namespace

RegistryFactory nacos_registry_factory() {
  return [](const net::BackendUrl& url, const RegistryDeps& deps) -> Result<std::unique_ptr<Registry>> {
    if (auto ok =
            net::check_url_options(url, "nacos://",
                                   {"tls", "timeout", "poll", "namespace", "group", "user", "password_env",
                                    "password_file", "token_env", "token_file", "ca_file", "cert_file", "key_file"});
        !ok) {
      return ok.error();
    }
    if (url.hosts.empty()) {
      return make_error(ErrorCode::invalid_argument, "nacos:// needs at least one host:port", "registry");
    }
    NacosOptions options;
    options.servers = url.hosts;
    auto tls = net::backend_url_tls(url);
    if (!tls) return tls.error();
    options.tls = *tls;
    auto timeout = net::backend_url_duration(url, "timeout", options.timeout);
    if (!timeout) return timeout.error();
    options.timeout = *timeout;
    auto poll = net::backend_url_duration(url, "poll", options.poll);
    if (!poll) return poll.error();
    if (poll->count() < 10) return make_error(ErrorCode::invalid_argument, "poll must be at least 10ms", "poll");
    options.poll = *poll;
    // The group and namespace, checked as a Nacos request's would be.
    nacos::Params probe{{"serviceName", "probe"}};
    if (auto it = url.query.find("group"); it != url.query.end()) probe.emplace("groupName", it->second);
    if (auto it = url.query.find("namespace"); it != url.query.end()) probe.emplace("namespaceId", it->second);
    auto scope = nacos::scope_of(probe);
    if (!scope) {
      auto e = scope.error();
      e.field = e.field == "groupName" ? "group" : "namespace";
      return e;
    }
    options.group = scope->group;
    options.namespace_ = scope->namespace_;
    if (auto it = url.query.find("user"); it != url.query.end()) {
      auto password = net::backend_url_secret(url);
      if (!password) return password.error();
      options.user = it->second;
      options.password = *password;
    } else {
      auto token = net::backend_url_token(url, "NACOS_ACCESS_TOKEN");
      if (!token) return token.error();
      options.token = *token;
    }
    return std::unique_ptr<Registry>(std::make_unique<NacosRegistry>(deps, std::move(options)));
  };
}

}  // namespace svckit
