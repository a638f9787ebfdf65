// http: GET spec.path on a fresh connection (so a hung process cannot hide behind a pooled one);
// healthy when the status is in expected_statuses and, if set, the body contains body_contains.
#include <utility>  // before Asio 1.74 awaitable.hpp, which uses std::exchange without it

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

#include "health/checkers/checkers.hpp"
#include "health/checkers/socket_check.hpp"

namespace svckit::health_detail {
namespace {

namespace bhttp = boost::beast::http;
constexpr std::size_t kMaxBody = std::size_t{64} * 1024;

class HttpChecker final : public HealthChecker {
 public:
  asio::awaitable<CheckResult> check(const CheckTarget& target, const HealthCheckSpec& spec) override {
    auto conn = std::make_shared<DeadlineSocket>(co_await asio::this_coro::executor);
    conn->arm(spec.timeout);
    if (target.scheme != "http")
      co_return conn->failure("scheme " + target.scheme + " is not supported: use a tcp check");
    auto error = co_await conn->connect(target);
    if (!error.empty()) co_return conn->failure(error);

    bhttp::request<bhttp::empty_body> request{bhttp::verb::get, spec.path, 11};
    request.set(bhttp::field::host,
                spec.host_header.empty() ? target.host + ":" + std::to_string(target.port) : spec.host_header);
    request.set(bhttp::field::user_agent, "svckit-health/1");
    request.set(bhttp::field::connection, "close");
    boost::system::error_code ec;
    co_await bhttp::async_write(conn->socket(), request, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return conn->failure("write: " + ec.message());

    boost::beast::flat_buffer buffer;
    bhttp::response_parser<bhttp::string_body> parser;
    parser.body_limit(kMaxBody);
    if (spec.body_contains.empty()) {  // NOLINT(bugprone-branch-clone): header only vs whole message
      co_await bhttp::async_read_header(conn->socket(), buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    } else {
      co_await bhttp::async_read(conn->socket(), buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec == bhttp::error::body_limit) co_return conn->failure("response body over 64 KiB");
    if (ec) co_return conn->failure("read: " + ec.message());
    const int status = static_cast<int>(parser.get().result_int());
    if (!spec.status_expected(status)) co_return conn->failure("HTTP " + std::to_string(status) + " not expected");
    if (!spec.body_contains.empty() && parser.get().body().find(spec.body_contains) == std::string::npos) {
      co_return conn->failure("HTTP " + std::to_string(status) + ": body lacks \"" + spec.body_contains + "\"");
    }
    co_return conn->success("HTTP " + std::to_string(status));
  }
};

}  // namespace

std::shared_ptr<HealthChecker> make_http_checker() { return std::make_shared<HttpChecker>(); }

}  // namespace svckit::health_detail
