#include <charconv>

#include "health/checkers/checkers.hpp"
#include "svckit/health/health_checker.hpp"

namespace svckit {

CheckTarget CheckTarget::of(const ServiceInstance& instance, const HealthCheckSpec& spec) {
  CheckTarget t;
  t.scheme = instance.scheme;
  t.host = instance.host;
  t.port = instance.port;
  if (!spec.target.empty()) {  // validated as host:port
    const auto colon = spec.target.rfind(':');
    t.host = spec.target.substr(0, colon);
    if (t.host.size() > 2 && t.host.front() == '[' && t.host.back() == ']')
      t.host = t.host.substr(1, t.host.size() - 2);
    const auto port = std::string_view(spec.target).substr(colon + 1);
    int value = 0;  // 0 (never connectable) when not validated and not a number
    std::from_chars(port.data(), port.data() + port.size(), value);
    t.port = value;
  }
  return t;
}

namespace {
class CustomChecker final : public HealthChecker {
 public:
  explicit CustomChecker(CustomCheck check)  // NOLINT(performance-unnecessary-value-param): moved
      : check_(std::move(check)) {}
  boost::asio::awaitable<CheckResult> check(const CheckTarget& target, const HealthCheckSpec& spec) override {
    return check_(target, spec);
  }

 private:
  CustomCheck check_;
};
}  // namespace

std::shared_ptr<HealthChecker> make_custom_checker(CustomCheck check) {
  return std::make_shared<CustomChecker>(std::move(check));
}

HealthCheckers::Builder& HealthCheckers::Builder::add(std::string type, std::shared_ptr<HealthChecker> checker) {
  checkers_[std::move(type)] = std::move(checker);
  return *this;
}

HealthCheckers HealthCheckers::Builder::build() && {
  HealthCheckers out;
  out.checkers_ = std::move(checkers_);
  return out;
}

std::shared_ptr<HealthChecker> HealthCheckers::find(std::string_view type) const {
  auto it = checkers_.find(type);
  return it == checkers_.end() ? nullptr : it->second;
}

std::vector<std::string> HealthCheckers::types() const {
  std::vector<std::string> out;
  for (const auto& [type, checker] : checkers_) out.push_back(type);
  return out;
}

void register_core_health_checkers(HealthCheckers::Builder& builder) {
  builder.add("http", health_detail::make_http_checker()).add("tcp", health_detail::make_tcp_checker());
}

}  // namespace svckit
