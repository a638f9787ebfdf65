// nacos://host:8848[,host2:8848]?dataId=app.yaml[&group=DEFAULT_GROUP&tenant=&format=yaml] — one
// config of a Nacos server (or of svckitd's Nacos-compatible config API), through Nacos's Open API
// v1: GET /nacos/v1/cs/configs reads the content, and the MD5 long-polling listener
// (POST /nacos/v1/cs/configs/listener) tells when it changed. The content is a document in
// `format` (json, yaml, toml, or properties: key=value lines, dotted keys nested), by default
// guessed from the dataId's extension. A config not published yet reads as an empty document.
// `?token_env=` / `?token_file=`: sent as Nacos's accessToken (with svckitd: an ACL token secret).
#include "config/remote/remote_backends.hpp"
#include "svckit/core/structured_text.hpp"
#include "svckit/http/client.hpp"
#include "svckit/net/url_token.hpp"
#include "svckit/registry/nacos_json.hpp"

namespace svckit::config::detail {

namespace {

namespace bh = boost::beast::http;

/// Java properties, simply: `key=value` or `key: value` lines, `#`/`!` comments; dotted keys nest.
Result<nlohmann::json> parse_properties(const std::string& text, const std::string& source) {
  nlohmann::json tree = nlohmann::json::object();
  std::size_t start = 0;
  int line_number = 0;
  while (start <= text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    ++line_number;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) line.pop_back();
    const auto first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#' || line[first] == '!') {
      if (end == text.size()) break;
      continue;
    }
    line.erase(0, first);
    const auto sep = line.find_first_of("=:");
    if (sep == std::string::npos || sep == 0) {
      return make_error(ErrorCode::invalid_argument,
                        source + ": line " + std::to_string(line_number) + " is not key=value", "content");
    }
    auto key = line.substr(0, sep);
    while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
    auto value = line.substr(sep + 1);
    value.erase(0, value.find_first_not_of(" \t"));
    nlohmann::json* node = &tree;
    std::size_t part_start = 0;
    while (true) {
      const auto dot = key.find('.', part_start);
      const auto part = key.substr(part_start, dot == std::string::npos ? std::string::npos : dot - part_start);
      if (part.empty()) {
        return make_error(ErrorCode::invalid_argument,
                          source + ": line " + std::to_string(line_number) + ": an empty key part", "content");
      }
      if (dot == std::string::npos) {
        if (!node->is_object()) break;
        (*node)[part] = value;
        break;
      }
      auto& child = (*node)[part];
      if (child.is_null()) child = nlohmann::json::object();
      if (!child.is_object()) {
        return make_error(ErrorCode::invalid_argument,
                          source + ": line " + std::to_string(line_number) + ": '" + part + "' holds a value",
                          "content");
      }
      node = &child;
      part_start = dot + 1;
    }
    if (end == text.size()) break;
  }
  return tree;
}

class NacosConfigBackend final : public RemoteConfigBackend {
 public:
  NacosConfigBackend(const boost::asio::any_io_executor& executor, std::vector<net::HostPort> hosts,
                     std::string data_id, std::string group, std::string tenant, std::string format, std::string token)
      : http_(std::make_shared<http::HttpClient>(executor)),
        hosts_(std::move(hosts)),
        data_id_(std::move(data_id)),
        group_(std::move(group)),
        tenant_(std::move(tenant)),
        format_(std::move(format)),
        token_(std::move(token)) {}

  std::string name() const override {
    return "nacos://" + hosts_.front().host + ":" + std::to_string(hosts_.front().port) + "/" + group_ + "/" + data_id_;
  }

  Awaitable<Result<RemoteContent>> read() override {
    auto target = "/nacos/v1/cs/configs?dataId=" + net::url_encode(data_id_) + "&group=" + net::url_encode(group_);
    if (!tenant_.empty()) target += "&tenant=" + net::url_encode(tenant_);
    auto response = co_await send(http::Verb::get, target, {}, {}, std::chrono::seconds(10), nullptr);
    if (!response) co_return response.error();
    if (response->result_int() == 404) co_return RemoteContent{nlohmann::json::object(), ""};  // not published yet
    if (response->result_int() != 200) {
      co_return make_error(ErrorCode::unavailable, name() + " answered " + std::to_string(response->result_int()));
    }
    const auto& text = response->body();
    Result<nlohmann::json> tree =
        format_ == "properties" ? parse_properties(text, name()) : parse_structured(text, format_, name());
    if (!tree) co_return tree.error();
    if (tree->is_null()) *tree = nlohmann::json::object();
    if (!tree->is_object())
      co_return make_error(ErrorCode::invalid_argument, name() + ": not a document of keys", "content");
    co_return RemoteContent{std::move(*tree), nacos::content_md5(text)};
  }

  Awaitable<Result<bool>> wait_change(const std::string& version, std::chrono::milliseconds timeout,
                                      std::shared_ptr<CancelToken> cancel) override {
    std::string entry = data_id_ + '\x02' + group_ + '\x02' + version;
    if (!tenant_.empty()) entry += '\x02' + tenant_;
    entry += '\x01';
    const auto body = "Listening-Configs=" + net::url_encode(entry);
    const auto deadline = timeout + std::chrono::seconds(5);
    auto response = co_await send(http::Verb::post, "/nacos/v1/cs/configs/listener", body,
                                  std::to_string(timeout.count()), deadline, std::move(cancel));
    if (!response) co_return response.error();
    if (response->result_int() != 200) {
      co_return make_error(ErrorCode::unavailable, name() + " answered " + std::to_string(response->result_int()));
    }
    co_return !response->body().empty();
  }

 private:
  /// Tries each host in turn; the first answer wins.
  Awaitable<Result<http::Response>> send(http::Verb verb, std::string target, std::string body,
                                         std::string long_poll_ms, std::chrono::milliseconds timeout,
                                         std::shared_ptr<CancelToken> cancel) {
    if (!token_.empty())
      target += (target.find('?') == std::string::npos ? "?" : "&") + ("accessToken=" + net::url_encode(token_));
    auto client = http_;
    Result<http::Response> last = make_error(ErrorCode::unavailable, "no host");
    for (const auto& host : hosts_) {
      http::Request request{verb, target, 11};
      if (!body.empty()) {
        request.set(bh::field::content_type, "application/x-www-form-urlencoded");
        request.body() = body;
      }
      if (!long_poll_ms.empty()) request.set("Long-Pulling-Timeout", long_poll_ms);
      request.prepare_payload();
      last = co_await client->send(host, std::move(request), timeout, cancel);
      if (last || last.error().code == ErrorCode::cancelled) co_return last;
    }
    co_return last;
  }

  std::shared_ptr<http::HttpClient> http_;
  std::vector<net::HostPort> hosts_;
  std::string data_id_;
  std::string group_;
  std::string tenant_;
  std::string format_;
  std::string token_;
};

}  // namespace

Result<std::unique_ptr<RemoteConfigBackend>> nacos_config_backend(const net::BackendUrl& url,
                                                                  const boost::asio::any_io_executor& executor) {
  if (url.hosts.empty()) return make_error(ErrorCode::invalid_argument, "nacos:// needs a host:port", "url");
  std::string data_id;
  std::string group = "DEFAULT_GROUP";
  std::string tenant;
  std::string format;
  for (const auto& [key, value] : url.query) {
    if (key == "dataId") data_id = value;
    if (key == "group") group = value;
    if (key == "tenant") tenant = value;
    if (key == "format") format = value;
  }
  if (data_id.empty()) return make_error(ErrorCode::invalid_argument, "nacos:// needs ?dataId=", "dataId");
  if (format.empty()) {
    const auto dot = data_id.rfind('.');
    const auto ext = dot == std::string::npos ? std::string() : data_id.substr(dot + 1);
    format = ext == "yml" ? "yaml" : ext;
  }
  if (format != "json" && format != "yaml" && format != "toml" && format != "properties") {
    return make_error(ErrorCode::invalid_argument,
                      "format must be json, yaml, toml or properties (or a dataId ending in one of them)", "format");
  }
  auto token = net::backend_url_token(url, "SVCKIT_TOKEN");
  if (!token) return token.error();
  return std::unique_ptr<RemoteConfigBackend>(
      std::make_unique<NacosConfigBackend>(executor, url.hosts, std::move(data_id), std::move(group), std::move(tenant),
                                           std::move(format), std::move(*token)));
}

}  // namespace svckit::config::detail
