// The value types of service_client.hpp: error kinds, ServiceCallError, ServiceConfig validation.
#include <algorithm>
#include <cctype>
#include <string_view>
#include "svckit/client/service_client.hpp"

namespace svckit {

std::string_view to_string(CallErrorKind kind) noexcept {
  switch (kind) {
    case CallErrorKind::timeout:
      return "timeout";
    case CallErrorKind::connect:
      return "connect";
    case CallErrorKind::no_instances:
      return "no_instances";
    case CallErrorKind::circuit_open:
      return "circuit_open";
    case CallErrorKind::http_status:
      return "http_status";
    case CallErrorKind::budget_exhausted:
      return "budget_exhausted";
    case CallErrorKind::bulkhead_full:
      return "bulkhead_full";
    case CallErrorKind::rate_limited:
      return "rate_limited";
    case CallErrorKind::cancelled:
      return "cancelled";
    case CallErrorKind::invalid_argument:
      return "invalid_argument";
  }
  return "unknown";
}

ServiceCallError::ServiceCallError(CallErrorKind k, const std::string& message, std::string svc, std::string inst,
                                   int st, int att)
    : std::runtime_error(message),
      kind(k),
      service(std::move(svc)),
      instance(std::move(inst)),
      status(st),
      attempts(att) {}

Result<void> validate(const ServiceConfig& c, const std::string& prefix) {
  const auto named = [&](Error e, const std::string& section) {
    e.field = prefix + section + e.field;
    e.message = e.field + ": " + e.message;
    return e;
  };
  const auto bad = [&](const std::string& field, const std::string& why) {
    return make_error(ErrorCode::invalid_argument, prefix + field + " " + why, prefix + field);
  };
  if (c.timeout.count() <= 0) return bad("timeout", "must be > 0");
  // Header names are RFC 9110 tokens; values carry no CR, LF or NUL (no header injection).
  const auto token = [](const std::string& name) {
    return !name.empty() && std::all_of(name.begin(), name.end(), [](unsigned char ch) {
      return std::isalnum(ch) != 0 ||
             std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(ch)) != std::string_view::npos;
    });
  };
  const auto clean = [](const std::string& value) {
    return value.find_first_of(std::string("\r\n\0", 3)) == std::string::npos;
  };
  for (const auto& [name, value] : c.headers) {
    if (!token(name)) return bad("headers." + name, "is not a valid header name");
    if (!clean(value)) return bad("headers." + name, "must not contain CR, LF or NUL");
  }
  if (!token(c.api_key_header)) return bad("api_key_header", "is not a valid header name");
  if (!clean(c.api_key)) return bad("api_key", "must not contain CR, LF or NUL");
  if (c.per_try_timeout.count() <= 0) return bad("per_try_timeout", "must be > 0");
  if (c.retry.max_attempts < 1 || c.retry.max_attempts > 10) return bad("retry.max_attempts", "must be in 1..10");
  if (auto r = validate(c.retry.backoff); !r) return named(r.error(), "retry.backoff.");
  if (auto r = validate(c.service_breaker); !r) return named(r.error(), "service_breaker.");
  if (auto r = validate(c.instance_breaker); !r) return named(r.error(), "instance_breaker.");
  if (!(c.retry_budget_max_tokens >= 1 && c.retry_budget_max_tokens <= 1000)) {
    return bad("retry_budget_max_tokens", "must be in 1..1000");
  }
  if (!(c.retry_budget_percent > 0 && c.retry_budget_percent <= 100)) {
    return bad("retry_budget_percent", "must be a percentage in (0, 100]");
  }
  if (c.retry_budget_min_concurrency > 100'000) return bad("retry_budget_min_concurrency", "must be at most 100000");
  if (!(c.retry_budget_token_ratio > 0 && c.retry_budget_token_ratio <= 1)) {
    return bad("retry_budget_token_ratio", "must be in (0, 1]");
  }
  if (c.balancing.outlier) {
    if (auto r = validate(*c.balancing.outlier); !r) return named(r.error(), "balancing.outlier.");
  }
  if (c.hedging.enabled && c.hedging.delay.count() <= 0) return bad("hedging.delay", "must be > 0");
  if (!(c.rate_limit_per_second >= 0)) return bad("rate_limit_per_second", "must be >= 0");
  if (!(c.rate_limit_burst >= 0)) return bad("rate_limit_burst", "must be >= 0");
  if (!(c.faults.delay_percent >= 0 && c.faults.delay_percent <= 100))
    return bad("faults.delay_percent", "must be in 0..100");
  if (!(c.faults.abort_percent >= 0 && c.faults.abort_percent <= 100))
    return bad("faults.abort_percent", "must be in 0..100");
  if (c.faults.abort_status < 100 || c.faults.abort_status > 599)
    return bad("faults.abort_status", "must be in 100..599");
  for (std::size_t i = 0; i < c.static_urls.size(); ++i) {
    auto url = net::parse_backend_url(c.static_urls[i], 80);
    if (!url || (url->scheme != "http" && url->scheme != "https") || url->hosts.empty()) {
      return bad("static_urls[" + std::to_string(i) + "]", "must be http(s)://host:port");
    }
  }
  return {};
}

}  // namespace svckit
