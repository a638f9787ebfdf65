#include "failover_http.hpp"

namespace svckit {

Error answer_error(const http::Response& response, const std::string& what) {
  auto e = http::error_from_response(response);
  e.message = what + ": " + e.message;
  const auto& body = response.body();
  if (!body.empty() && body.front() != '{') e.message += " " + body.substr(0, 300);
  return e;
}

FailoverHttp::FailoverHttp(const boost::asio::any_io_executor& executor, std::vector<net::HostPort> servers,
                           const net::TlsFiles& tls, std::chrono::milliseconds timeout)
    : http_(std::make_shared<http::HttpClient>(executor, http::client_options_for(tls))),
      servers_(std::move(servers)),
      timeout_(timeout) {
  for (auto& s : servers_) s.tls = tls.enabled;
}

Awaitable<Result<http::Response>> FailoverHttp::send(http::Request request, const std::string& what,
                                                     std::shared_ptr<CancelToken> cancel) {
  Error last = make_error(ErrorCode::unavailable, what + ": no server configured");
  const auto count = servers_.size();
  const std::size_t first = preferred_.load();
  for (std::size_t n = 0; n < count; ++n) {
    const auto i = (first + n) % count;
    auto res = co_await http_->send(servers_[i], request, timeout_, cancel);
    if (!res) {
      if (cancel && cancel->cancelled()) co_return res.error();
      last = res.error();
      continue;
    }
    if (res->result_int() >= 500) {
      last = make_error(ErrorCode::unavailable,
                        what + ": HTTP " + std::to_string(res->result_int()) + " " + res->body().substr(0, 200));
      continue;
    }
    preferred_.store(i);
    co_return std::move(*res);
  }
  co_return last;
}

}  // namespace svckit
