// redis: sends PING (after AUTH when params.password is set) and expects +PONG. Plain RESP over
// the socket: one round trip, no client library state to keep.
#include <utility>  // before Asio 1.74 awaitable.hpp, which uses std::exchange without it

#include <boost/asio/read_until.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "health/checkers/checkers.hpp"
#include "health/checkers/socket_check.hpp"

namespace svckit::health_detail {
namespace {

std::string bulk(std::string_view s) { return "$" + std::to_string(s.size()) + "\r\n" + std::string(s) + "\r\n"; }

class RedisChecker final : public HealthChecker {
 public:
  asio::awaitable<CheckResult> check(const CheckTarget& target, const HealthCheckSpec& spec) override {
    auto conn = std::make_shared<DeadlineSocket>(co_await asio::this_coro::executor);
    conn->arm(spec.timeout);
    auto error = co_await conn->connect(target);
    if (!error.empty()) co_return conn->failure(error);

    std::string out;
    const auto password = spec.params.find("password");
    const bool auth = password != spec.params.end();
    if (auth) out += "*2\r\n" + bulk("AUTH") + bulk(password->second);
    out += "*1\r\n" + bulk("PING");
    boost::system::error_code ec;
    co_await asio::async_write(conn->socket(), asio::buffer(out), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return conn->failure("write: " + ec.message());

    std::string in;
    for (const char* expected : {auth ? "+OK" : nullptr, "+PONG"}) {
      if (expected == nullptr) continue;
      const auto n = co_await asio::async_read_until(conn->socket(), asio::dynamic_buffer(in, 4096), "\r\n",
                                                     asio::redirect_error(asio::use_awaitable, ec));
      if (ec) co_return conn->failure("read: " + ec.message());
      const std::string line = in.substr(0, n - 2);
      in.erase(0, n);
      if (line != expected) co_return conn->failure("redis answered '" + line + "'");
    }
    co_return conn->success("PONG");
  }
};

}  // namespace

std::shared_ptr<HealthChecker> make_redis_checker() { return std::make_shared<RedisChecker>(); }

}  // namespace svckit::health_detail
