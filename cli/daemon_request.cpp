#include "cli/daemon_request.hpp"

#include "svckit/core/instance_json.hpp"
#include "svckit/http/client.hpp"
#include "svckit/net/backend_url.hpp"
#include "svckit/net/url_token.hpp"

namespace svckit::cli {

namespace {

/// The first node's answer below 300 (nodes that cannot be reached are skipped).
http::Awaitable<Result<http::Response>> daemon_call(std::string registry, http::Verb verb, std::string target,
                                                    std::string body, std::string command,
                                                    boost::asio::any_io_executor executor) {
  auto url = net::parse_backend_url(registry, 8500);
  if (!url) co_return url.error();
  if (url->scheme != "svckitd" || url->hosts.empty()) {
    co_return make_error(ErrorCode::invalid_argument,
                         command + " talks to svckitd: use --registry svckitd://host:port[,host:port]", "registry");
  }
  auto tls = net::backend_url_tls(*url);
  if (!tls) co_return tls.error();
  auto token = net::backend_url_token(*url, "SVCKIT_TOKEN");
  if (!token) co_return token.error();
  http::HttpClient client(executor, http::client_options_for(*tls));
  Error last = make_error(ErrorCode::unavailable, "no svckitd host given");
  for (auto endpoint : url->hosts) {
    http::Request request{verb, target, 11};
    if (!token->empty()) request.set(http::beast_http::field::authorization, "Bearer " + *token);
    if (!body.empty()) {
      request.set(http::beast_http::field::content_type, "application/json");
      request.body() = body;
    }
    endpoint.tls = tls->enabled;
    auto answer = co_await client.send(endpoint, std::move(request), std::chrono::seconds(10));
    if (!answer) {
      last = answer.error();
      if (last.code == ErrorCode::unavailable || last.code == ErrorCode::timeout) continue;  // the next node
      co_return last;
    }
    if (answer->result_int() >= 300) co_return http::error_from_response(*answer);
    co_return std::move(*answer);
  }
  co_return last;
}

}  // namespace

http::Awaitable<Result<nlohmann::json>> daemon_request(std::string registry, http::Verb verb, std::string target,
                                                       std::string body, std::string command,
                                                       boost::asio::any_io_executor executor) {
  auto answer = co_await daemon_call(std::move(registry), verb, std::move(target), std::move(body), std::move(command),
                                     std::move(executor));
  if (!answer) co_return answer.error();
  if (answer->body().empty()) co_return nlohmann::json();
  auto parsed = parse_json(answer->body());
  if (!parsed) co_return make_error(ErrorCode::protocol, "svckitd answered with invalid JSON");
  co_return std::move(*parsed);
}

http::Awaitable<Result<std::string>> daemon_text(std::string registry, std::string target, std::string command,
                                                 boost::asio::any_io_executor executor) {
  std::string no_body;
  auto answer = co_await daemon_call(std::move(registry), http::Verb::get, std::move(target), std::move(no_body),
                                     std::move(command), std::move(executor));
  if (!answer) co_return answer.error();
  co_return std::move(answer->body());
}

}  // namespace svckit::cli
