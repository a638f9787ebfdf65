// eureka://host:port[,host:port][/eureka]?poll=2s : the registry in a Eureka server (Netflix Eureka,
// Spring Cloud's Eureka server, or svckitd's Eureka API) over Eureka's REST API, as Eureka's own
// clients speak it: POST /apps/{APP} registers, PUT /apps/{APP}/{id} renews, DELETE cancels,
// PUT /apps/{APP}/{id}/status?value= sets a status override (DELETE removes it), GET /apps,
// /apps/{APP}, /apps/{APP}/{id} read. The path is the server's base (default /eureka; Netflix's own
// server uses /eureka/v2). `?user=` with `?password_env=`/`?password_file=`: HTTP basic auth (a
// Spring server behind Spring Security).
//
// Eureka has no blocking query: watches read the registry every `poll` (PolledMirror) — the full
// registry once, then Eureka's delta (/apps/delta) with the apps__hashcode reconcile Eureka's
// clients use, falling back to a full read when the hash disagrees or the last full read is older
// than a minute. Mapping and exactness: svckit/registry/eureka_json.hpp, docs/registry-eureka.md.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <map>
#include <mutex>

#include "registry/polled/failover_http.hpp"
#include "registry/polled/polled_mirror.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/etcd/etcd_client.hpp"
#include "svckit/registry/eureka_json.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace svckit {
namespace {

namespace bh = http::beast_http;
using nlohmann::json;
using namespace std::chrono_literals;

struct EurekaOptions {
  std::vector<net::HostPort> servers;
  std::string base = "/eureka";
  std::string authorization;  // "Basic ..." or empty
  std::chrono::milliseconds timeout{5'000};
  std::chrono::milliseconds poll{2'000};
  net::TlsFiles tls;
};

/// An answer's list that Eureka may write as one object when it holds one item (XStream's JSON).
std::vector<const json*> items_of(const json& node) {
  std::vector<const json*> out;
  if (node.is_array()) {
    for (const auto& item : node) out.push_back(&item);
  } else if (node.is_object()) {
    out.push_back(&node);
  }
  return out;
}

class EurekaRegistry final : public Registry {
 public:
  EurekaRegistry(const RegistryDeps& deps, EurekaOptions options)
      : options_(std::move(options)),
        http_(deps.executor, options_.servers, options_.tls, options_.timeout),
        time_(deps.time),
        mirror_(deps.time, options_.poll, [this](std::string scope) { return fetch(std::move(scope)); }) {}

  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance in) override {
    in.normalize();
    if (auto r = validate(in); !r) co_return r.error();
    auto body = json{{"instance", eureka::instance_json(in)}}.dump();
    auto res = co_await call(http::Verb::post, app_path(in.service), std::move(body));
    if (!res) co_return res.error();
    // Read it back: the registration time is the server's.
    auto stored = co_await get(in.service, in.id);
    if (!stored) co_return stored.error();
    co_return std::move(*stored);
  }

  Awaitable<Result<void>> deregister(std::string service, std::string id) override {
    if (auto r = validate_service_name(service); !r) co_return r.error();
    auto res = co_await call(http::Verb::delete_, instance_path(service, id), "");
    if (!res) co_return not_found_or(res.error(), service, id);
    co_return Result<void>{};
  }

  Awaitable<Result<void>> renew(std::string service, std::string id) override {
    if (auto r = validate_service_name(service); !r) co_return r.error();
    auto res = co_await call(http::Verb::put, instance_path(service, id), "");
    if (!res) co_return not_found_or(res.error(), service, id);
    co_return Result<void>{};
  }

  Awaitable<Result<void>> set_status(std::string service, std::string id, InstanceStatus status) override {
    auto current = co_await get(service, id);
    if (!current) co_return current.error();
    if (current->status == status) co_return Result<void>{};
    const auto path = instance_path(service, id) + "/status";
    if (status == InstanceStatus::down) {
      // Eureka's DOWN is also svckit's unhealthy: register again with the exact status in metadata.
      current->status = status;
      auto body = json{{"instance", eureka::instance_json(*current)}}.dump();
      auto res = co_await call(http::Verb::post, app_path(service), std::move(body));
      if (!res) co_return res.error();
    } else if (current->status == InstanceStatus::maintenance && status == InstanceStatus::healthy) {
      auto res = co_await call(http::Verb::delete_, path + "?value=UP", "");  // removes the override
      if (!res) co_return not_found_or(res.error(), service, id);
    } else {
      auto res = co_await call(http::Verb::put, path + "?value=" + std::string(eureka::status_name(status)), "");
      if (!res) co_return not_found_or(res.error(), service, id);
    }
    co_return Result<void>{};
  }

  Awaitable<Result<ServiceInstance>> get(std::string service, std::string id) override {
    if (auto r = validate_service_name(service); !r) co_return r.error();
    auto res = co_await call(http::Verb::get, instance_path(service, id), "");
    if (!res) co_return not_found_or(res.error(), service, id);
    const auto parsed = parse_json_or_discarded(res->body());
    if (!parsed.is_object() || !parsed.contains("instance")) {
      co_return make_error(ErrorCode::protocol, "eureka: an instance answer without \"instance\"");
    }
    auto in = eureka::instance_from_answer(parsed["instance"]);
    if (!in) co_return make_error(ErrorCode::protocol, "eureka: " + in.error().message);
    co_return std::move(*in);
  }

  Awaitable<Result<std::vector<ServiceInstance>>> list(std::string service, InstanceFilter filter) override {
    if (auto r = validate_service_name(service); !r) co_return r.error();
    auto all = co_await read_app(service);
    if (!all) co_return all.error();
    std::vector<ServiceInstance> out;
    for (auto& in : *all) {
      if (filter.matches(in)) out.push_back(std::move(in));
    }
    co_return out;
  }

  Awaitable<Result<std::vector<ServiceSummary>>> list_services() override {
    auto all = co_await read_apps("/apps");
    if (!all) co_return all.error();
    co_return summarize(all->instances);
  }

  Awaitable<Result<WatchResult>> watch(WatchRequest request) override { return mirror_.watch(std::move(request)); }

 private:
  struct Apps {
    std::vector<ServiceInstance> instances;  // DELETED ones too, for a delta
    std::vector<std::string> actions;        // actionType per instance
    std::string hashcode;
  };

  std::string app_path(const std::string& service) const { return "/apps/" + eureka::app_name(service); }
  std::string instance_path(const std::string& service, const std::string& id) const {
    return app_path(service) + "/" + net::url_encode(id);
  }
  static Error not_found_or(Error e, const std::string& service, const std::string& id) {
    if (e.code != ErrorCode::not_found) return e;
    return make_error(ErrorCode::not_found, "no instance '" + id + "' of service '" + service + "'", "id");
  }

  Awaitable<Result<http::Response>> call(http::Verb verb, const std::string& path, std::string body) {
    http::Request req{verb, options_.base + path, 11};
    req.set(bh::field::accept, "application/json");
    if (!options_.authorization.empty()) req.set(bh::field::authorization, options_.authorization);
    if (!body.empty()) req.set(bh::field::content_type, "application/json");
    req.body() = std::move(body);
    req.prepare_payload();
    auto res = co_await http_.send(std::move(req), "eureka " + path);
    if (!res) co_return res.error();
    if (res->result_int() >= 300) co_return answer_error(*res, "eureka " + path);
    co_return std::move(*res);
  }

  /// GET /apps or /apps/delta: every instance with its actionType, and the reconcile hash.
  Awaitable<Result<Apps>> read_apps(const std::string& path) {
    auto res = co_await call(http::Verb::get, path, "");
    if (!res) co_return res.error();
    const auto parsed = parse_json_or_discarded(res->body());
    if (!parsed.is_object() || !parsed.contains("applications") || !parsed["applications"].is_object()) {
      co_return make_error(ErrorCode::protocol, "eureka: " + path + " answered without \"applications\"");
    }
    const auto& apps = parsed["applications"];
    Apps out;
    if (apps.contains("apps__hashcode") && apps["apps__hashcode"].is_string()) out.hashcode = apps["apps__hashcode"];
    const auto application = apps.contains("application") ? apps["application"] : json();
    for (const auto* app : items_of(application)) {
      const auto list = app->contains("instance") ? (*app)["instance"] : json();
      for (const auto* item : items_of(list)) {
        auto in = eureka::instance_from_answer(*item);
        if (!in) continue;  // an instance svckit cannot use (no enabled port, a bad name) is not one for it
        out.actions.push_back(item->value("actionType", std::string("ADDED")));
        out.instances.push_back(std::move(*in));
      }
    }
    co_return out;
  }

  /// One app's instances, sorted by id; an app the server does not know has none.
  Awaitable<Result<std::vector<ServiceInstance>>> read_app(const std::string& service) {
    auto res = co_await call(http::Verb::get, app_path(service), "");
    if (!res) {
      if (res.error().code == ErrorCode::not_found) co_return std::vector<ServiceInstance>{};
      co_return res.error();
    }
    const auto parsed = parse_json_or_discarded(res->body());
    if (!parsed.is_object() || !parsed.contains("application")) {
      co_return make_error(ErrorCode::protocol, "eureka: an app answer without \"application\"");
    }
    const auto list = parsed["application"].contains("instance") ? parsed["application"]["instance"] : json();
    std::vector<ServiceInstance> out;
    for (const auto* item : items_of(list)) {
      auto in = eureka::instance_from_answer(*item);
      if (in && in->service == service) out.push_back(std::move(*in));
    }
    std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
    co_return out;
  }

  /// The mirror's read: one app, or the whole registry — by delta when a full copy is recent.
  Awaitable<Result<std::vector<ServiceInstance>>> fetch(std::string scope) {
    if (!scope.empty()) co_return co_await read_app(scope);
    std::map<std::pair<std::string, std::string>, ServiceInstance> copy;
    bool use_delta = false;
    {
      std::lock_guard lock(mutex_);
      use_delta = full_at_ && time_.steady_now() - *full_at_ < 60s;
      if (use_delta) copy = known_;
    }
    if (use_delta) {
      auto delta = co_await read_apps("/apps/delta");
      if (!delta) co_return delta.error();
      for (std::size_t i = 0; i < delta->instances.size(); ++i) {
        auto& in = delta->instances[i];
        const auto key = std::make_pair(in.service, in.id);
        if (delta->actions[i] == "DELETED") {
          copy.erase(key);
        } else {
          copy[key] = std::move(in);
        }
      }
      std::vector<ServiceInstance> merged;
      for (auto& [key, in] : copy) merged.push_back(in);
      if (delta->hashcode.empty() || eureka::apps_hashcode(merged) == delta->hashcode) {
        std::lock_guard lock(mutex_);
        known_ = std::move(copy);
        co_return merged;
      }
      // The copy drifted (a change older than the server's delta window): read everything.
    }
    auto full = co_await read_apps("/apps");
    if (!full) co_return full.error();
    std::lock_guard lock(mutex_);
    known_.clear();
    for (const auto& in : full->instances) known_[{in.service, in.id}] = in;
    full_at_ = time_.steady_now();
    co_return std::move(full->instances);
  }

  EurekaOptions options_;
  FailoverHttp http_;
  const TimeSource& time_;
  std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, ServiceInstance> known_;  // the registry as last read; guarded
  std::optional<std::chrono::steady_clock::time_point> full_at_;          // guarded by mutex_
  PolledMirror mirror_;
};

}  // namespace

RegistryFactory eureka_registry_factory() {
  return [](const net::BackendUrl& url, const RegistryDeps& deps) -> Result<std::unique_ptr<Registry>> {
    if (auto ok = net::check_url_options(
            url, "eureka://",
            {"tls", "timeout", "poll", "user", "password_env", "password_file", "ca_file", "cert_file", "key_file"});
        !ok) {
      return ok.error();
    }
    if (url.hosts.empty()) {
      return make_error(ErrorCode::invalid_argument, "eureka:// needs at least one host:port", "registry");
    }
    EurekaOptions options;
    options.servers = url.hosts;
    if (!url.path.empty() && url.path != "/") {
      options.base = url.path;
      while (options.base.size() > 1 && options.base.back() == '/') options.base.pop_back();
    }
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
    if (auto it = url.query.find("user"); it != url.query.end()) {
      auto password = net::backend_url_secret(url);
      if (!password) return password.error();
      options.authorization = "Basic " + etcd::base64_encode(it->second + ":" + *password);
    }
    return std::unique_ptr<Registry>(std::make_unique<EurekaRegistry>(deps, std::move(options)));
  };
}

}  // namespace svckit
