#include "svckit/etcd/etcd_client.hpp"

#include <array>

#include "svckit/core/instance_json.hpp"

namespace svckit::etcd {

using nlohmann::json;
namespace bh = boost::beast::http;

namespace {
constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

bool is_auth_failure(const Error& e) {
  return e.message.find("invalid auth token") != std::string::npos ||
         e.message.find("user name is empty") != std::string::npos;
}
}  // namespace

std::string base64_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const auto n = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                   static_cast<unsigned char>(in[i + 2]);
    for (int shift : {18, 12, 6, 0}) out += kAlphabet[(n >> shift) & 63];
  }
  if (i < in.size()) {
    const bool two = i + 1 < in.size();
    const auto n = (static_cast<unsigned char>(in[i]) << 16) | (two ? static_cast<unsigned char>(in[i + 1]) << 8 : 0);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += two ? kAlphabet[(n >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

Result<std::string> base64_decode(std::string_view in) {
  std::array<int, 256> value{};
  value.fill(-1);
  for (std::size_t k = 0; k < kAlphabet.size(); ++k)
    value[static_cast<unsigned char>(kAlphabet[k])] = static_cast<int>(k);
  std::string out;
  int bits = 0;
  int buffer = 0;
  for (const char c : in) {
    if (c == '=') break;
    const int v = value[static_cast<unsigned char>(c)];
    if (v < 0) return make_error(ErrorCode::protocol, "etcd: invalid base64");
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((buffer >> bits) & 0xFF);
    }
  }
  return out;
}

Result<EtcdOptions> etcd_options_from_url(const net::BackendUrl& url) {
  if (url.hosts.empty()) return make_error(ErrorCode::invalid_argument, "etcd:// needs at least one host:port", "url");
  EtcdOptions options;
  options.endpoints = url.hosts;
  auto tls = net::backend_url_tls(url);
  if (!tls) return tls.error();
  for (auto& e : options.endpoints) e.tls = tls->enabled;
  options.tls = *tls;
  auto timeout = net::backend_url_duration(url, "timeout", options.timeout);
  if (!timeout) return timeout.error();
  options.timeout = *timeout;
  if (auto user = url.query.find("user"); user != url.query.end()) options.user = user->second;
  auto password = net::backend_url_secret(url);
  if (!password) return password.error();
  options.password = *password;
  if (!options.user.empty() && options.password.empty()) {
    return make_error(ErrorCode::invalid_argument, "user needs password_env or password_file", "user");
  }
  return options;
}

std::int64_t json_int(const nlohmann::json& j, const char* key) {
  if (!j.is_object() || !j.contains(key)) return 0;
  const auto& v = j[key];
  if (v.is_number_integer()) return v.get<std::int64_t>();
  if (v.is_string()) return std::strtoll(v.get<std::string>().c_str(), nullptr, 10);
  return 0;
}

std::string prefix_end(std::string prefix) {
  prefix.back() = static_cast<char>(prefix.back() + 1);  // prefixes here end in '/', never 0xFF
  return prefix;
}

Error error_from_etcd(int http_status, const std::string& body) {
  const auto parsed = parse_json_or_discarded(body);
  std::string message = "etcd answered HTTP " + std::to_string(http_status);
  int code = -1;
  if (parsed.is_object()) {
    if (parsed.contains("message") && parsed["message"].is_string()) message = parsed["message"].get<std::string>();
    if (parsed.contains("error") && parsed["error"].is_string()) message = parsed["error"].get<std::string>();
    if (parsed.contains("code") && parsed["code"].is_number_integer()) code = parsed["code"].get<int>();
  }
  switch (code) {
    case 3:   // InvalidArgument
    case 9:   // FailedPrecondition
    case 11:  // OutOfRange (compacted revision)
      return make_error(ErrorCode::invalid_argument, message);
    case 5:  // NotFound
      return make_error(ErrorCode::not_found, message);
    case 14:  // Unavailable
    case 4:   // DeadlineExceeded
      return make_error(ErrorCode::unavailable, message);
    case 16:  // Unauthenticated
    case 7:   // PermissionDenied
      return make_error(ErrorCode::unavailable, "etcd refused the credentials: " + message);
    default:
      return make_error(http_status >= 500 ? ErrorCode::unavailable : ErrorCode::internal, message);
  }
}

EtcdClient::EtcdClient(const boost::asio::any_io_executor& executor, EtcdOptions options)
    : http_(executor, http::client_options_for(options.tls)), options_(std::move(options)) {}

http::Request EtcdClient::request(const std::string& path, const std::string& body) {
  http::Request req{http::Verb::post, path, 11};
  req.set(bh::field::content_type, "application/json");
  {
    std::lock_guard lock(token_mutex_);
    if (!token_.empty()) req.set(bh::field::authorization, token_);
  }
  req.body() = body;
  req.prepare_payload();
  return req;
}

Awaitable<Result<void>> EtcdClient::authenticate(const net::HostPort& endpoint) {
  const auto body = json{{"name", options_.user}, {"password", options_.password}}.dump();
  http::Request req{http::Verb::post, "/v3/auth/authenticate", 11};
  req.set(bh::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  auto answer = co_await http_.send(endpoint, std::move(req), options_.timeout);
  if (!answer) co_return answer.error();
  if (answer->result_int() != 200) co_return error_from_etcd(static_cast<int>(answer->result_int()), answer->body());
  const auto parsed = parse_json_or_discarded(answer->body());
  if (!parsed.is_object() || !parsed.contains("token")) {
    co_return make_error(ErrorCode::protocol, "etcd: authenticate answered without a token");
  }
  std::lock_guard lock(token_mutex_);
  token_ = parsed["token"].get<std::string>();
  co_return Result<void>{};
}

Awaitable<Result<http::Response>> EtcdClient::send(const std::string& path, const std::string& body,
                                                   std::chrono::milliseconds timeout,
                                                   std::shared_ptr<CancelToken> cancel, http::Streaming* streaming) {
  Error last = make_error(ErrorCode::unavailable, "no etcd endpoint configured");
  const std::size_t first = preferred_.load();
  const std::size_t n = options_.endpoints.size();
  for (std::size_t i = 0; i < n; ++i) {
    const auto& endpoint = options_.endpoints[(first + i) % n];
    for (int auth_round = 0; auth_round < 2; ++auth_round) {
      bool need_token = false;
      {
        std::lock_guard lock(token_mutex_);
        need_token = !options_.user.empty() && token_.empty();
      }
      if (need_token) {
        auto authed = co_await authenticate(endpoint);
        if (!authed) {
          last = authed.error();
          break;
        }
      }
      Result<http::Response> answer = make_error(ErrorCode::internal, "not sent");
      if (streaming != nullptr) {
        answer = co_await http_.send_streaming(endpoint, request(path, body), timeout, cancel, *streaming);
      } else {
        answer = co_await http_.send(endpoint, request(path, body), timeout, cancel);
      }
      if (!answer) {
        last = answer.error();
        if (last.code != ErrorCode::unavailable) co_return last;
        break;  // this endpoint is down: the next one
      }
      if (answer->result_int() != 200) {
        last = error_from_etcd(static_cast<int>(answer->result_int()), answer->body());
        if (!options_.user.empty() && is_auth_failure(last) && auth_round == 0) {
          std::lock_guard lock(token_mutex_);
          token_.clear();  // expired token: authenticate again, once
          continue;
        }
        if (answer->result_int() >= 500 && last.code == ErrorCode::unavailable) break;  // no leader here: next
        co_return last;
      }
      preferred_ = (first + i) % n;
      co_return answer;
    }
  }
  co_return last;
}

Awaitable<Result<json>> EtcdClient::call(const std::string& path, const json& body) {
  auto answer = co_await send(path, body.dump(), options_.timeout, nullptr, nullptr);
  if (!answer) co_return answer.error();
  auto parsed = parse_json_or_discarded(answer->body());
  if (parsed.is_discarded()) co_return make_error(ErrorCode::protocol, "etcd answered with invalid JSON");
  co_return parsed;
}

Awaitable<Result<void>> EtcdClient::stream(const std::string& path, const json& body, std::chrono::milliseconds timeout,
                                           std::shared_ptr<CancelToken> cancel, MessageSink on_message) {
  auto pending = std::make_shared<std::string>();
  auto stopped_by_sink = std::make_shared<std::optional<Error>>();
  http::Streaming streaming;
  streaming.on_body = [pending, stopped_by_sink, on_message](std::string_view chunk) -> Awaitable<Result<void>> {
    pending->append(chunk);
    for (auto end = pending->find('\n'); end != std::string::npos; end = pending->find('\n')) {
      const std::string line = pending->substr(0, end);
      pending->erase(0, end + 1);
      if (line.find_first_not_of(" \r\t") == std::string::npos) continue;
      auto message = parse_json_or_discarded(line);
      if (message.is_discarded()) co_return make_error(ErrorCode::protocol, "etcd streamed invalid JSON");
      auto handled = co_await on_message(std::move(message));
      if (!handled) {
        *stopped_by_sink = handled.error();
        co_return handled.error();
      }
    }
    co_return Result<void>{};
  };
  auto answer = co_await send(path, body.dump(), timeout, std::move(cancel), &streaming);
  if (stopped_by_sink->has_value()) co_return **stopped_by_sink;
  if (!answer) co_return answer.error();
  co_return Result<void>{};
}

}  // namespace svckit::etcd
