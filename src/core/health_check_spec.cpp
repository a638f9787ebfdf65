#include "svckit/core/health_check_spec.hpp"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "svckit/core/duration.hpp"

namespace svckit {
namespace {

using nlohmann::json;

Error field_error(const std::string& field, const std::string& why) {
  return make_error(ErrorCode::invalid_argument, field + " " + why, field);
}

std::string format_range(const StatusRange& r) {
  return r.low == r.high ? std::to_string(r.low) : std::to_string(r.low) + "-" + std::to_string(r.high);
}

/// 200, "204" or "200-299".
Result<StatusRange> parse_range(const json& v, const std::string& field) {
  if (v.is_number_integer()) {
    const auto n = v.get<std::int64_t>();
    if (n < 100 || n > 599) return field_error(field, "must be an HTTP status in 100..599");
    return StatusRange{static_cast<int>(n), static_cast<int>(n)};
  }
  if (!v.is_string()) return field_error(field, "must be a status like 200 or a range like \"200-299\"");
  const auto text = v.get<std::string>();
  StatusRange r;
  std::size_t used = 0;
  try {
    r.low = std::stoi(text, &used);
    r.high = r.low;
    if (used < text.size()) {
      if (text[used] != '-') throw std::invalid_argument("range");
      std::size_t more = 0;
      r.high = std::stoi(text.substr(used + 1), &more);
      if (used + 1 + more != text.size()) throw std::invalid_argument("range");
    }
  } catch (const std::exception&) {
    return field_error(field, "must be a status like 200 or a range like \"200-299\", got '" + text + "'");
  }
  if (r.low < 100 || r.high > 599 || r.low > r.high) return field_error(field, "must lie in 100..599, low <= high");
  return r;
}

Result<std::chrono::milliseconds> get_duration(const json& v, const std::string& field) {
  if (!v.is_string()) return field_error(field, "must be a duration string like \"5s\" or \"250ms\"");
  return parse_duration(v.get<std::string>(), field);
}

Result<std::string> get_string(const json& v, const std::string& field) {
  if (!v.is_string()) return field_error(field, "must be a string");
  return v.get<std::string>();
}

}  // namespace

HealthCheckSpec::HealthCheckSpec() { expected_statuses.push_back(StatusRange{}); }

bool HealthCheckSpec::status_expected(int status) const {
  for (const auto& r : expected_statuses) {
    if (status >= r.low && status <= r.high) return true;
  }
  return false;
}

Result<void> validate(const HealthCheckSpec& s, const std::string& prefix) {
  const auto bad = [&](const char* field, const std::string& why) { return field_error(prefix + "." + field, why); };
  if (s.type.empty() || s.type.size() > 32 ||
      s.type.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos) {
    return bad("type", "must be 1..32 characters of a-z, 0-9, '_' or '-'");
  }
  if (s.type == "http" && (s.path.empty() || s.path.front() != '/' || s.path.size() > 1024 ||
                           s.path.find_first_of(" \r\n") != std::string::npos)) {
    return bad("path", "must start with '/' and hold no spaces or line breaks (at most 1024 characters)");
  }
  if (s.type == "http" && s.expected_statuses.empty()) return bad("expected_statuses", "must not be empty");
  for (const auto& r : s.expected_statuses) {
    if (r.low < 100 || r.high > 599 || r.low > r.high) return bad("expected_statuses", "ranges must lie in 100..599");
  }
  if (s.host_header.find_first_of("\r\n") != std::string::npos) return bad("host_header", "must not hold line breaks");
  if (!s.target.empty()) {
    const auto colon = s.target.rfind(':');
    int port = 0;
    try {
      port = colon == std::string::npos ? 0 : std::stoi(s.target.substr(colon + 1));
    } catch (const std::exception&) {
      port = 0;
    }
    if (colon == 0 || port < 1 || port > 65535) return bad("target", "must be host:port");
  }
  if (s.interval < HealthCheckLimits::kMinInterval) return bad("interval", "must be at least 10ms");
  if (s.timeout.count() <= 0 || s.timeout > s.interval) return bad("timeout", "must be > 0 and <= interval");
  if (s.jitter.count() < 0 || s.jitter > s.interval) return bad("jitter", "must be in 0..interval");
  if (s.no_traffic_interval.count() != 0 && s.no_traffic_interval < s.interval) {
    return bad("no_traffic_interval", "must be 0 (same as interval) or >= interval");
  }
  if (s.healthy_threshold < 1 || s.healthy_threshold > HealthCheckLimits::kMaxThreshold) {
    return bad("healthy_threshold", "must be in 1..100");
  }
  if (s.unhealthy_threshold < 1 || s.unhealthy_threshold > HealthCheckLimits::kMaxThreshold) {
    return bad("unhealthy_threshold", "must be in 1..100");
  }
  return {};
}

json to_json(const HealthCheckSpec& s) {
  json statuses = json::array();
  for (const auto& r : s.expected_statuses) statuses.push_back(format_range(r));
  return json{{"type", s.type},
              {"path", s.path},
              {"expected_statuses", std::move(statuses)},
              {"body_contains", s.body_contains},
              {"host_header", s.host_header},
              {"target", s.target},
              {"params", s.params},
              {"interval", format_duration(s.interval)},
              {"timeout", format_duration(s.timeout)},
              {"jitter", format_duration(s.jitter)},
              {"no_traffic_interval", format_duration(s.no_traffic_interval)},
              {"healthy_threshold", s.healthy_threshold},
              {"unhealthy_threshold", s.unhealthy_threshold}};
}

Result<HealthCheckSpec> health_check_from_json(const json& j, const std::string& prefix) {
  if (!j.is_object()) return field_error(prefix, "must be a JSON object");
  HealthCheckSpec s;
  bool timeout_given = false;
  for (const auto& [key, v] : j.items()) {
    const std::string field = prefix + "." + key;
    if (key == "type" || key == "path" || key == "body_contains" || key == "host_header" || key == "target") {
      auto text = get_string(v, field);
      if (!text) return text.error();
      (key == "type"            ? s.type
       : key == "path"          ? s.path
       : key == "body_contains" ? s.body_contains
       : key == "host_header"   ? s.host_header
                                : s.target) = std::move(*text);
    } else if (key == "expected_statuses") {
      if (!v.is_array()) return field_error(field, "must be an array of statuses or ranges");
      s.expected_statuses.clear();
      for (std::size_t i = 0; i < v.size(); ++i) {
        auto r = parse_range(v[i], field + "[" + std::to_string(i) + "]");
        if (!r) return r.error();
        s.expected_statuses.push_back(*r);
      }
    } else if (key == "params") {
      if (!v.is_object()) return field_error(field, "must be an object of strings");
      for (const auto& [pk, pv] : v.items()) {
        auto text = get_string(pv, field + "." + pk);
        if (!text) return text.error();
        s.params[pk] = std::move(*text);
      }
    } else if (key == "interval" || key == "timeout" || key == "jitter" || key == "no_traffic_interval") {
      auto d = get_duration(v, field);
      if (!d) return d.error();
      (key == "interval"  ? s.interval
       : key == "timeout" ? s.timeout
       : key == "jitter"  ? s.jitter
                          : s.no_traffic_interval) = *d;
      timeout_given = timeout_given || key == "timeout";
    } else if (key == "healthy_threshold" || key == "unhealthy_threshold") {
      if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > 100) {
        return field_error(field, "must be an integer in 1..100");
      }
      (key == "healthy_threshold" ? s.healthy_threshold : s.unhealthy_threshold) = v.get<int>();
    } else {
      return field_error(field, "is not a known field");
    }
  }
  // The default timeout (2 s) never outlasts a shorter interval: "interval": "1s" alone is valid.
  if (!timeout_given) s.timeout = std::min(s.timeout, s.interval);
  return s;
}

}  // namespace svckit
