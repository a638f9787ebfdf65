// tcp: healthy when a TCP connection opens within the timeout.
#include "health/checkers/checkers.hpp"
#include "health/checkers/socket_check.hpp"

namespace svckit::health_detail {
namespace {

class TcpChecker final : public HealthChecker {
 public:
  asio::awaitable<CheckResult> check(const CheckTarget& target, const HealthCheckSpec& spec) override {
    auto conn = std::make_shared<DeadlineSocket>(co_await asio::this_coro::executor);
    conn->arm(spec.timeout);
    auto error = co_await conn->connect(target);
    if (!error.empty()) co_return conn->failure(error);
    co_return conn->success("connected");
  }
};

}  // namespace

std::shared_ptr<HealthChecker> make_tcp_checker() { return std::make_shared<TcpChecker>(); }

}  // namespace svckit::health_detail
