// GET /v1/gateway/services/{service}: how svckitd's gateway balances one service right now — its
// instances with their outlier-detection state (ejected, why, for how much longer, the failure
// streaks) and circuit breakers, as Envoy's admin /clusters page shows a cluster's hosts.
#include <nlohmann/json.hpp>

#include "daemon/svckitd.hpp"

namespace svckit::daemon {

namespace {

nlohmann::json outlier_json(const OutlierHostView& o) {
  nlohmann::json j{{"ejected", o.ejected},
                   {"ejections", o.ejection_count},
                   {"consecutive_5xx", o.consecutive_5xx},
                   {"consecutive_gateway_failures", o.consecutive_gateway_failures},
                   {"consecutive_local_failures", o.consecutive_local_failures}};
  if (o.ejection_count > 0) j["reason"] = std::string(to_string(o.reason));
  if (o.ejected) j["remaining_ms"] = o.remaining.count();
  return j;
}

nlohmann::json balancing_json(const ServiceBalancingView& v) {
  nlohmann::json instances = nlohmann::json::array();
  for (const auto& in : v.instances) {
    nlohmann::json j{{"id", in.id},
                     {"address", in.address},
                     {"status", std::string(to_string(in.status))},
                     {"weight", in.weight},
                     {"breaker", std::string(to_string(in.breaker))}};
    if (in.outlier) j["outlier"] = outlier_json(*in.outlier);
    instances.push_back(std::move(j));
  }
  const auto& b = v.balancer;
  return {{"service", v.service},
          {"active", true},
          {"breaker", std::string(to_string(v.service_breaker))},
          {"balancer",
           {{"hosts", b.hosts},
            {"routable", b.routable},
            {"healthy", b.healthy},
            {"candidates", b.candidates},
            {"slow_start", b.slow_start},
            {"panic", b.panic},
            {"spilled_over", v.spilled_over}}},
          {"instances", std::move(instances)}};
}

}  // namespace

http::Awaitable<http::Response> Svckitd::get_gateway_service(http::RouteContext& ctx) {
  const auto& service = ctx.params.at("service");
  if (auto ok = validate_service_name(service); !ok) co_return http::error_response(ok.error());
  // The gateway off, or no request for the service yet: nothing balanced, nothing to show (a 200,
  // not a 404: the dashboard asks on every service page, and the service does exist).
  const auto view = gateway_ ? gateway_->balancing(service) : std::nullopt;
  if (!view) {
    nlohmann::json body{{"service", service},
                        {"gateway", gateway_ != nullptr},
                        {"active", false},
                        {"instances", nlohmann::json::array()}};
    co_return http::json_response(http::Status::ok, body);
  }
  auto body = balancing_json(*view);
  body["gateway"] = true;
  co_return http::json_response(http::Status::ok, body);
}

}  // namespace svckit::daemon
