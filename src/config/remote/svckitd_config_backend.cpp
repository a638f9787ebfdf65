// svckitd://host:8500[,host2:8500] — svckitd's config store (GET /v1/config): the document with
// its version; changes arrive by long polls (?index=<version>&wait=) that svckitd answers when a
// newer version exists. The embedded default remote source: no other server needed.
#include "config/remote/remote_backends.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/http/client.hpp"
#include "svckit/net/url_token.hpp"

namespace svckit::config::detail {

namespace {

class SvckitdConfigBackend final : public RemoteConfigBackend {
 public:
  SvckitdConfigBackend(const boost::asio::any_io_executor& executor, std::vector<net::HostPort> hosts,
                       std::string token)
      : http_(std::make_shared<http::HttpClient>(executor)), hosts_(std::move(hosts)), token_(std::move(token)) {}

  std::string name() const override {
    return "svckitd://" + hosts_.front().host + ":" + std::to_string(hosts_.front().port);
  }

  Awaitable<Result<RemoteContent>> read() override {
    const std::string target = "/v1/config";
    auto response = co_await get(target, std::chrono::seconds(10), nullptr);
    if (!response) co_return response.error();
    if (response->result_int() != 200) {
      co_return make_error(ErrorCode::unavailable, name() + " answered " + std::to_string(response->result_int()));
    }
    auto tree = parse_json_or_discarded(response->body());
    if (!tree.is_object()) co_return make_error(ErrorCode::protocol, name() + ": the config is not a JSON object");
    co_return RemoteContent{std::move(tree), std::string(response->base()["X-Svckit-Config-Version"])};
  }

  Awaitable<Result<bool>> wait_change(const std::string& version, std::chrono::milliseconds timeout,
                                      std::shared_ptr<CancelToken> cancel) override {
    const auto target =
        "/v1/config?index=" + net::url_encode(version) + "&wait=" + std::to_string(timeout.count()) + "ms";
    const auto deadline = timeout + std::chrono::seconds(5);
    auto response = co_await get(target, deadline, std::move(cancel));
    if (!response) co_return response.error();
    if (response->result_int() == 200) co_return true;
    if (response->result_int() == 304) co_return false;
    co_return make_error(ErrorCode::unavailable, name() + " answered " + std::to_string(response->result_int()));
  }

 private:
  /// Tries each host in turn; the first answer wins.
  Awaitable<Result<http::Response>> get(const std::string& target, std::chrono::milliseconds timeout,
                                        std::shared_ptr<CancelToken> cancel) {
    auto client = http_;
    Result<http::Response> last = make_error(ErrorCode::unavailable, "no host");
    for (const auto& host : hosts_) {
      http::Request request{http::Verb::get, target, 11};
      if (!token_.empty()) request.set(boost::beast::http::field::authorization, "Bearer " + token_);
      last = co_await client->send(host, std::move(request), timeout, cancel);
      if (last || last.error().code == ErrorCode::cancelled) co_return last;
    }
    co_return last;
  }

  std::shared_ptr<http::HttpClient> http_;
  std::vector<net::HostPort> hosts_;
  std::string token_;  // ACL token; empty: none sent
};

}  // namespace

Result<std::unique_ptr<RemoteConfigBackend>> svckitd_config_backend(const net::BackendUrl& url,
                                                                    const boost::asio::any_io_executor& executor) {
  if (url.hosts.empty()) return make_error(ErrorCode::invalid_argument, "svckitd:// needs a host:port", "url");
  auto token = net::backend_url_token(url, "SVCKIT_TOKEN");
  if (!token) return token.error();
  return std::unique_ptr<RemoteConfigBackend>(
      std::make_unique<SvckitdConfigBackend>(executor, url.hosts, std::move(*token)));
}

}  // namespace svckit::config::detail
