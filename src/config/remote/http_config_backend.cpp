// http://host:port/path/app.json?interval=5s (https://…) — a document polled with If-None-Match;
// 304 keeps the content. JSON, YAML or TOML by Content-Type or by the path's extension.
#include "config/remote/remote_backends.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/core/structured_text.hpp"
#include "svckit/http/client.hpp"

namespace svckit::config::detail {

namespace {

std::string format_of(const std::string& content_type, const std::string& path) {
  if (content_type.find("json") != std::string::npos) return "json";
  if (content_type.find("yaml") != std::string::npos) return "yaml";
  if (content_type.find("toml") != std::string::npos) return "toml";
  return structured_format_of(path);
}

class HttpConfigBackend final : public RemoteConfigBackend {
 public:
  HttpConfigBackend(const boost::asio::any_io_executor& executor, net::HostPort endpoint, std::string target,
                    std::chrono::milliseconds interval)
      : http_(std::make_shared<http::HttpClient>(executor)),
        endpoint_(std::move(endpoint)),
        target_(std::move(target)),
        interval_(interval) {}

  std::string name() const override {
    return std::string(endpoint_.tls ? "https://" : "http://") + endpoint_.host + ":" + std::to_string(endpoint_.port) +
           target_;
  }

  Awaitable<Result<RemoteContent>> read() override {
    auto client = http_;
    http::Request request{http::Verb::get, target_, 11};
    RemoteContent last;
    {
      std::lock_guard lock(mutex_);
      last = last_;
    }
    if (!last.version.empty()) request.set("If-None-Match", last.version);
    auto response = co_await client->send(endpoint_, std::move(request), std::chrono::seconds(10));
    if (!response) co_return response.error();
    if (response->result_int() == 304 && !last.version.empty()) co_return last;
    if (response->result_int() != 200) {
      co_return make_error(ErrorCode::unavailable, name() + " answered " + std::to_string(response->result_int()));
    }
    const std::string content_type(response->base()["Content-Type"]);
    auto parsed = parse_structured(response->body(), format_of(content_type, target_), name());
    if (!parsed) co_return parsed.error();
    if (parsed->is_null()) *parsed = nlohmann::json::object();
    if (!parsed->is_object()) co_return make_error(ErrorCode::invalid_argument, name() + ": must be a mapping");
    std::string etag(response->base()["ETag"]);
    if (etag.empty()) etag = "\"h" + std::to_string(std::hash<std::string>{}(response->body())) + "\"";
    RemoteContent content{std::move(*parsed), etag};
    std::lock_guard lock(mutex_);
    last_ = content;
    co_return content;
  }

  /// Polling: the interval (or `timeout` if shorter) passes, then "maybe changed".
  Awaitable<Result<bool>> wait_change(const std::string&, std::chrono::milliseconds timeout,
                                      std::shared_ptr<CancelToken> cancel) override {
    AsioSleeper sleeper;  // a steady_timer that another thread's cancel() may end
    const auto pause = std::chrono::duration_cast<std::chrono::nanoseconds>(std::min(interval_, timeout));
    const bool slept = co_await sleeper.sleep_for(pause, cancel.get());
    if (!slept) co_return make_error(ErrorCode::cancelled, name() + ": cancelled");
    co_return true;
  }

 private:
  std::shared_ptr<http::HttpClient> http_;
  net::HostPort endpoint_;
  std::string target_;
  std::chrono::milliseconds interval_;
  std::mutex mutex_;
  RemoteContent last_;  // guarded by mutex_
};

}  // namespace

Result<std::unique_ptr<RemoteConfigBackend>> http_config_backend(const net::BackendUrl& url,
                                                                 const boost::asio::any_io_executor& executor) {
  if (url.hosts.size() != 1) return make_error(ErrorCode::invalid_argument, "an http URL names one host", "url");
  auto interval = net::backend_url_duration(url, "interval", std::chrono::seconds(5));
  if (!interval) return interval.error();
  auto endpoint = url.hosts.front();
  endpoint.tls = url.scheme == "https";
  const auto target = url.path.empty() ? std::string("/") : url.path;
  return std::unique_ptr<RemoteConfigBackend>(
      std::make_unique<HttpConfigBackend>(executor, std::move(endpoint), target, *interval));
}

}  // namespace svckit::config::detail
