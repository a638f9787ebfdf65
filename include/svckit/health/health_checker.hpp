// HealthChecker plug-ins: one way of checking an instance (http, tcp, redis, postgres, or an
// application's own), chosen by the check's `type` through a frozen HealthCheckers registry.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp, which uses std::exchange without it

#include <boost/asio/awaitable.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "svckit/core/health_check_spec.hpp"
#include "svckit/core/service_instance.hpp"
#include "svckit/health/check_tracker.hpp"

namespace svckit {

/// Where to check: the instance's address, or the spec's `target` when set.
struct CheckTarget {
  std::string host;
  int port = 0;
  std::string scheme = "http";
  /// The instance's address with the spec's target override applied.
  static CheckTarget of(const ServiceInstance& instance, const HealthCheckSpec& spec);
};

/// Thread-safety: check() may run concurrently for many targets (implementations keep no state
/// between calls). It must return by about spec.timeout: a check that times out is a failure
/// whose message says so. Errors are results (ok = false), never exceptions.
class HealthChecker {
 public:
  virtual ~HealthChecker() = default;
  virtual boost::asio::awaitable<CheckResult> check(const CheckTarget& target, const HealthCheckSpec& spec) = 0;
};

/// An application's own check, e.g. "is the queue consumer alive".
using CustomCheck = std::function<boost::asio::awaitable<CheckResult>(const CheckTarget&, const HealthCheckSpec&)>;
std::shared_ptr<HealthChecker> make_custom_checker(CustomCheck check);

/// Checkers by type name, built once then frozen; find() is thread-safe.
class HealthCheckers {
 public:
  class Builder {
   public:
    Builder& add(std::string type, std::shared_ptr<HealthChecker> checker);
    HealthCheckers build() &&;

   private:
    friend class HealthCheckers;
    std::map<std::string, std::shared_ptr<HealthChecker>, std::less<>> checkers_;
  };
  /// null when unknown.
  std::shared_ptr<HealthChecker> find(std::string_view type) const;
  std::vector<std::string> types() const;

 private:
  std::map<std::string, std::shared_ptr<HealthChecker>, std::less<>> checkers_;
};

/// http (GET path; expected statuses, body substring, Host header), tcp (connect), redis (PING,
/// AUTH with params.password), postgres (SELECT 1 through libpq; params dbname, user, password).
/// Part of svckit::svckit (it needs the redis and postgres components).
void register_builtin_health_checkers(HealthCheckers::Builder& builder);
/// http and tcp only: svckit::core, no third-party client library.
void register_core_health_checkers(HealthCheckers::Builder& builder);

}  // namespace svckit
