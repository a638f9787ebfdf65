// svckitd:// : the Registry interface over svckitd's HTTP API, with pooled keep-alive connections,
// long-poll watches and fail-over across the listed daemons.
#include <atomic>
#include <nlohmann/json.hpp>

#include "svckit/core/duration.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/http/client.hpp"
#include "svckit/net/url_token.hpp"
#include "svckit/registry/plugin_registry.hpp"
#include "svckit/registry/registry_decode.hpp"
#include "svckit/registry/registry_json.hpp"

namespace svckit {
namespace {

using nlohmann::json;
namespace bh = boost::beast::http;

class SvckitdRegistry final : public Registry {
 public:
  SvckitdRegistry(const RegistryDeps& deps, std::vector<net::HostPort> endpoints, std::chrono::milliseconds timeout,
                  std::string token, const net::TlsFiles& tls)
      : client_(deps.executor, http::client_options_for(tls)),
        endpoints_(std::move(endpoints)),
        timeout_(timeout),
        token_(std::move(token)) {}

  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance instance) override {
    auto r = co_await call(http::Verb::post, "/v1/instances", to_json(instance).dump(), timeout_);
    if (!r) co_return r.error();
    co_return instance_from_json(*r);
  }

  Awaitable<Result<void>> deregister(std::string service, std::string id) override {
    auto r = co_await call(http::Verb::delete_, instance_path(service, id), "", timeout_);
    if (!r) co_return r.error();
    co_return Result<void>{};
  }

  Awaitable<Result<void>> renew(std::string service, std::string id) override {
    auto r = co_await call(http::Verb::put, instance_path(service, id) + "/heartbeat", "", timeout_);
    if (!r) co_return r.error();
    co_return Result<void>{};
  }

  Awaitable<Result<void>> set_status(std::string service, std::string id, InstanceStatus status) override {
    const auto body = json{{"status", std::string(to_string(status))}}.dump();
    auto r = co_await call(http::Verb::put, instance_path(service, id) + "/status", body, timeout_);
    if (!r) co_return r.error();
    co_return Result<void>{};
  }

  Awaitable<Result<ServiceInstance>> get(std::string service, std::string id) override {
    auto r = co_await call(http::Verb::get, instance_path(service, id), "", timeout_);
    if (!r) co_return r.error();
    co_return instance_from_json(*r);
  }

  Awaitable<Result<std::vector<ServiceInstance>>> list(std::string service, InstanceFilter filter) override {
    auto target = "/v1/services/" + net::url_encode(service) + "/instances";
    const auto query = filter_to_query(filter);
    if (!query.empty()) target += "?" + query;
    auto r = co_await call_text(http::Verb::get, target, "", timeout_);
    if (!r) co_return r.error();
    co_return decode_instances(*r, "instances");
  }

  Awaitable<Result<std::vector<ServiceSummary>>> list_services() override {
    auto r = co_await call(http::Verb::get, "/v1/services", "", timeout_);
    if (!r) co_return r.error();
    if (!r->contains("services") || !(*r)["services"].is_array()) {
      co_return make_error(ErrorCode::protocol, "svckitd answered without a services array", "services");
    }
    std::vector<ServiceSummary> out;
    for (const auto& item : (*r)["services"]) {
      auto s = summary_from_json(item);
      if (!s) co_return s.error();
      out.push_back(std::move(*s));
    }
    co_return out;
  }

  Awaitable<Result<WatchResult>> watch(WatchRequest request) override {
    std::string target = "/v1/watch?index=" + std::to_string(request.after_index) +
                         "&wait=" + std::to_string(request.wait.count()) + "ms";
    if (!request.service.empty()) target += "&service=" + net::url_encode(request.service);
    // The server answers at `wait`; allow for transfer time on top.
    auto r = co_await call_text(http::Verb::get, target, "", request.wait + timeout_, request.cancel);
    if (!r) co_return r.error();
    co_return decode_watch_result(*r);
  }

 private:
  static std::string instance_path(const std::string& service, const std::string& id) {
    return "/v1/services/" + net::url_encode(service) + "/instances/" + net::url_encode(id);
  }

  /// Sends to the preferred daemon; on connection failure, or a 503 (a cluster node cut off from
  /// its store, or one shutting down: every operation here may be repeated), tries the others once
  /// each and remembers the one that answered.
  Awaitable<Result<json>> call(http::Verb method, std::string target, std::string body,
                               std::chrono::milliseconds timeout, std::shared_ptr<CancelToken> cancel = nullptr) {
    auto text = co_await call_text(method, std::move(target), std::move(body), timeout, std::move(cancel));
    if (!text) co_return text.error();
    auto parsed = parse_json_or_discarded(*text);
    if (parsed.is_discarded()) co_return make_error(ErrorCode::protocol, "svckitd answered with invalid JSON");
    co_return parsed;
  }

  /// As call(), the answer's body as it came (decoded by the caller).
  Awaitable<Result<std::string>> call_text(http::Verb method, std::string target, std::string body,
                                           std::chrono::milliseconds timeout,
                                           std::shared_ptr<CancelToken> cancel = nullptr) {
    Error last = make_error(ErrorCode::unavailable, "no svckitd endpoints configured");
    const std::size_t first = preferred_.load();
    for (std::size_t i = 0; i < endpoints_.size(); ++i) {
      const std::size_t k = (first + i) % endpoints_.size();
      http::Request req{method, target, 11};
      if (!token_.empty()) req.set(bh::field::authorization, "Bearer " + token_);
      if (!body.empty()) {
        req.set(bh::field::content_type, "application/json");
        req.body() = body;
      }
      auto res = co_await client_.send(endpoints_[k], std::move(req), timeout, cancel);
      if (!res) {
        last = res.error();
        if (last.code != ErrorCode::unavailable) co_return last;
        continue;  // connection-level failure: fail over
      }
      if (res->result_int() == 503 && i + 1 < endpoints_.size()) {
        last = http::error_from_response(*res);
        continue;  // this node cannot serve it now: another may
      }
      preferred_ = k;
      if (res->result_int() >= 400) co_return http::error_from_response(*res);
      co_return std::move(res->body());
    }
    co_return last;
  }

  http::HttpClient client_;
  std::vector<net::HostPort> endpoints_;
  std::chrono::milliseconds timeout_;
  std::string token_;  // ACL token (svckitd's acl.enabled); empty: none sent. Never logged.
  std::atomic<std::size_t> preferred_{0};
};

}  // namespace

RegistryFactory svckitd_registry_factory() {
  return [](const net::BackendUrl& url, const RegistryDeps& deps) -> Result<std::unique_ptr<Registry>> {
    if (auto ok = net::check_url_options(url, "svckitd://", {"timeout", "tls", "ca_file", "cert_file", "key_file"},
                                         net::kTokenOptions);
        !ok) {
      return ok.error();
    }
    if (url.hosts.empty()) {
      return make_error(ErrorCode::invalid_argument, "svckitd:// needs at least one host:port", "registry");
    }
    std::chrono::milliseconds timeout{5000};
    if (auto it = url.query.find("timeout"); it != url.query.end()) {
      auto d = parse_duration(it->second, "timeout");
      if (!d) return d.error();
      timeout = *d;
    }
    auto token = net::backend_url_token(url, "SVCKIT_TOKEN");
    if (!token) return token.error();
    // svckitd with tls.cert_file: ?tls=true, and ?ca_file= for a private CA (?cert_file= +
    // ?key_file= when it asks for client certificates).
    auto tls = net::backend_url_tls(url);
    if (!tls) return tls.error();
    auto endpoints = url.hosts;
    for (auto& e : endpoints) e.tls = tls->enabled;
    return std::unique_ptr<Registry>(
        std::make_unique<SvckitdRegistry>(deps, std::move(endpoints), timeout, std::move(*token), *tls));
  };
}

}  // namespace svckit
