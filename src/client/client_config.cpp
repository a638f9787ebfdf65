#include "svckit/client/client_config.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "svckit/core/duration.hpp"

namespace svckit {
namespace {

Error bad(const std::string& where, const std::string& why) {
  return make_error(ErrorCode::invalid_argument, where + ": " + why, where);
}

Result<long long> to_int(const std::string& v, const std::string& where, long long lo, long long hi) {
  long long n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (v.empty() || ec != std::errc{} || end != v.data() + v.size() || n < lo || n > hi) {
    return bad(where, "must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" + v + "'");
  }
  return n;
}

Result<double> to_double(const std::string& v, const std::string& where) {
  try {
    std::size_t used = 0;
    const double d = std::stod(v, &used);
    if (used == v.size()) return d;
  } catch (const std::exception&) {
  }
  return bad(where, "must be a number, got '" + v + "'");
}

/// "30" (seconds, as Python services usually write it) or a duration ("30s", "500ms").
Result<std::chrono::milliseconds> to_duration(const std::string& v, const std::string& where) {
  if (!v.empty() &&
      std::all_of(v.begin(), v.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    auto secs = to_int(v, where, 0, 86'400);
    if (!secs) return secs.error();
    return std::chrono::milliseconds(*secs * 1000);
  }
  auto d = parse_duration(v, where);
  if (!d) return bad(where, d.error().message);
  return d;
}

Result<bool> to_bool(const std::string& v, const std::string& where) {
  if (v == "true" || v == "1" || v == "yes") return true;
  if (v == "false" || v == "0" || v == "no") return false;
  return bad(where, "must be true or false, got '" + v + "'");
}

std::vector<std::string> split(const std::string& v) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= v.size()) {
    const auto comma = v.find(',', start);
    auto item = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

/// One setting onto one service's config.
Result<void> apply(ServiceConfig& c, const std::string& key, const std::string& v, const std::string& where) {
  auto& cb = c.service_breaker;
  if (key == "timeout" || key == "per_try_timeout" || key == "retry.base" || key == "retry.cap" ||
      key == "circuit_breaker.slow_call" || key == "circuit_breaker.open_wait") {
    auto d = to_duration(v, where);
    if (!d) return d.error();
    (key == "timeout"                     ? c.timeout
     : key == "per_try_timeout"           ? c.per_try_timeout
     : key == "retry.base"                ? c.retry.backoff.base
     : key == "retry.cap"                 ? c.retry.backoff.cap
     : key == "circuit_breaker.slow_call" ? cb.slow_call_duration_threshold
                                          : cb.wait_duration_in_open_state) = *d;
  } else if (key == "retry.max_attempts") {
    auto n = to_int(v, where, 1, 10);
    if (!n) return n.error();
    c.retry.max_attempts = static_cast<int>(*n);
  } else if (key == "retry.backoff") {
    auto kind = parse_backoff_kind(v);
    if (!kind) return bad(where, "must be fixed, linear, exponential, full_jitter or decorrelated_jitter");
    c.retry.backoff.kind = *kind;
  } else if (key == "retry.statuses") {
    c.retry.retry_on_statuses.clear();
    for (const auto& s : split(v)) {
      auto n = to_int(s, where, 100, 599);
      if (!n) return n.error();
      c.retry.retry_on_statuses.insert(static_cast<int>(*n));
    }
  } else if (key == "retry.non_idempotent" || key == "outlier_detection") {
    auto b = to_bool(v, where);
    if (!b) return b.error();
    if (key == "retry.non_idempotent") {
      c.retry.retry_non_idempotent = *b;
    } else if (*b) {
      if (!c.balancing.outlier) c.balancing.outlier = OutlierOptions{};
    } else {
      c.balancing.outlier.reset();
    }
  } else if (key == "circuit_breaker.window") {
    if (v != "count_based" && v != "time_based") return bad(where, "must be count_based or time_based");
    cb.window =
        v == "count_based" ? CircuitBreakerOptions::Window::count_based : CircuitBreakerOptions::Window::time_based;
  } else if (key == "circuit_breaker.size" || key == "circuit_breaker.minimum_calls" ||
             key == "circuit_breaker.half_open_calls" || key == "max_concurrent_calls") {
    auto n = to_int(v, where, key == "max_concurrent_calls" ? 0 : 1, 1'000'000);
    if (!n) return n.error();
    (key == "circuit_breaker.size"              ? cb.sliding_window_size
     : key == "circuit_breaker.minimum_calls"   ? cb.minimum_number_of_calls
     : key == "circuit_breaker.half_open_calls" ? cb.permitted_number_of_calls_in_half_open_state
                                                : c.max_concurrent_calls) = static_cast<std::uint32_t>(*n);
  } else if (key == "circuit_breaker.failure_rate" || key == "circuit_breaker.slow_rate") {
    auto d = to_double(v, where);
    if (!d) return d.error();
    (key == "circuit_breaker.failure_rate" ? cb.failure_rate_threshold : cb.slow_call_rate_threshold) = *d;
  } else if (key == "adaptive_concurrency") {
    if (v == "off")
      c.adaptive_concurrency = ServiceConfig::AdaptiveConcurrency::off;
    else if (v == "aimd")
      c.adaptive_concurrency = ServiceConfig::AdaptiveConcurrency::aimd;
    else if (v == "gradient2")
      c.adaptive_concurrency = ServiceConfig::AdaptiveConcurrency::gradient2;
    else
      return bad(where, "must be off, aimd or gradient2");
  } else if (key == "retry_budget.mode") {
    if (v != "token_bucket" && v != "concurrency") return bad(where, "must be token_bucket or concurrency");
    c.retry_budget_mode = v == "token_bucket" ? ServiceConfig::RetryBudgetMode::token_bucket
                                              : ServiceConfig::RetryBudgetMode::concurrency;
  } else if (key == "retry_budget.max_tokens" || key == "retry_budget.token_ratio" || key == "retry_budget.percent") {
    auto d = to_double(v, where);
    if (!d) return d.error();
    (key == "retry_budget.max_tokens"    ? c.retry_budget_max_tokens
     : key == "retry_budget.token_ratio" ? c.retry_budget_token_ratio
                                         : c.retry_budget_percent) = *d;
  } else if (key == "retry_budget.min_concurrency") {
    auto n = to_int(v, where, 0, 100'000);
    if (!n) return n.error();
    c.retry_budget_min_concurrency = static_cast<std::uint32_t>(*n);
  } else if (key == "hedging.enabled") {
    auto b = to_bool(v, where);
    if (!b) return b.error();
    c.hedging.enabled = *b;
  } else if (key == "hedging.delay") {
    auto d = to_duration(v, where);
    if (!d) return d.error();
    c.hedging.delay = *d;
  } else if (key == "policy") {
    c.balancing.policy = v;
  } else if (key == "urls") {
    c.static_urls = split(v);
  } else if (key.rfind("headers.", 0) == 0 && key.size() > 8) {
    c.headers.emplace_back(key.substr(8), v);
  } else if (key == "api_key") {
    c.api_key = v;
  } else if (key == "api_key_header") {
    c.api_key_header = v;
  } else {
    return bad(where, "is not a known setting");
  }
  return {};
}

void flatten(const YAML::Node& node, const std::string& prefix, std::vector<std::pair<std::string, std::string>>& out) {
  if (node.IsMap()) {  // NOLINT(bugprone-branch-clone): map, sequence and scalar differ
    for (const auto& kv : node)
      flatten(kv.second, prefix.empty() ? kv.first.as<std::string>() : prefix + "." + kv.first.as<std::string>(), out);
  } else if (node.IsSequence()) {
    std::string joined;
    for (const auto& item : node) joined += (joined.empty() ? "" : ",") + item.as<std::string>();
    out.emplace_back(prefix, joined);
  } else {
    out.emplace_back(prefix, node.IsNull() ? "" : node.as<std::string>());
  }
}

/// "MODEL_SERVICE" -> "model-service".
std::string service_name_from_env(std::string prefix) {
  for (auto& ch : prefix) ch = ch == '_' ? '-' : static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return prefix;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() > suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

Result<void> ClientConfigLoader::add_yaml(const std::string& yaml_text, const std::string& source) {
  std::vector<std::pair<std::string, std::string>> flat;
  try {
    const YAML::Node root = YAML::Load(yaml_text);
    if (root.IsNull()) return {};
    if (!root.IsMap()) return bad(source, "must be a YAML map");
    flatten(root, "", flat);
  } catch (const YAML::Exception& e) {
    return bad(source, "YAML error at line " + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  std::vector<Setting> added;
  std::string gateway = gateway_url_;
  for (const auto& [key, value] : flat) {
    const std::string where = source + ": " + key;
    if (key == "gateway_url") {
      gateway = value;
    } else if (key.rfind("defaults.", 0) == 0) {
      added.push_back({"", key.substr(9), value, where});
    } else if (key.rfind("services.", 0) == 0 && key.find('.', 9) != std::string::npos) {
      const auto dot = key.find('.', 9);
      const auto service = key.substr(9, dot - 9);
      if (auto r = validate_service_name(service, where); !r) return r.error();
      added.push_back({service, key.substr(dot + 1), value, where});
    } else {
      return bad(where, "is not a known setting (gateway_url, defaults.*, services.<name>.*)");
    }
  }
  ServiceConfig probe;  // check every value now, so a bad file changes nothing
  for (const auto& s : added) {
    if (auto r = apply(probe, s.key, s.value, s.source); !r) return r;
  }
  settings_.insert(settings_.end(), added.begin(), added.end());
  gateway_url_ = gateway;
  return {};
}

Result<void> ClientConfigLoader::add_env(const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<Setting> added;
  std::vector<Setting> base_urls;  // <SERVICE>_BASE_URL: added after, unless <SERVICE>_URL is set
  std::string gateway = gateway_url_;
  for (const auto& [name, value] : env) {
    const std::string where = "environment " + name;
    if (name == "GATEWAY_URL") {
      gateway = value;
    } else if (name == "DEFAULT_TIMEOUT") {
      added.push_back({"", "timeout", value, where});
    } else if (name == "DEFAULT_RETRY_TIMES") {
      auto n = to_int(value, where, 0, 9);
      if (!n) return n.error();
      added.push_back({"", "retry.max_attempts", std::to_string(*n + 1), where});
    } else if (name == "DEFAULT_RETRY_DELAY") {
      added.push_back({"", "retry.base", value, where});
    } else if (name == "CB_FAILURE_THRESHOLD") {  // N failures in a row: a window of N, all failed
      auto n = to_int(value, where, 1, 10'000);
      if (!n) return n.error();
      added.push_back({"", "circuit_breaker.window", "count_based", where});
      added.push_back({"", "circuit_breaker.size", std::to_string(*n), where});
      added.push_back({"", "circuit_breaker.minimum_calls", std::to_string(*n), where});
      added.push_back({"", "circuit_breaker.failure_rate", "100", where});
    } else if (name == "CB_RECOVERY_TIMEOUT") {
      added.push_back({"", "circuit_breaker.open_wait", value, where});
    } else if (ends_with(name, "_URL") && (value.rfind("http://", 0) == 0 || value.rfind("https://", 0) == 0)) {
      // <SERVICE>_BASE_URL (JAVA_SERVICE_BASE_URL -> java-service) or <SERVICE>_URL; when a
      // service has both, <SERVICE>_URL wins whatever the environment's order.
      const bool base = ends_with(name, "_BASE_URL");
      const auto service = service_name_from_env(name.substr(0, name.size() - (base ? 9 : 4)));
      if (auto r = validate_service_name(service, where); !r) return r.error();
      (base ? base_urls : added).push_back({service, "urls", value, where});
    }
  }
  for (auto& setting : base_urls) {
    const bool overridden = std::any_of(
        added.begin(), added.end(), [&](const Setting& s) { return s.service == setting.service && s.key == "urls"; });
    if (!overridden) added.push_back(std::move(setting));
  }
  // <SERVICE>_TIMEOUT: for a service configured somewhere (a URL, YAML) a bad value is an error.
  // Otherwise it applies to the service of that name when it is discovered (JAVA_SERVICE_TIMEOUT=30
  // with java-service found through the registry) — but plenty of unrelated variables end in
  // _TIMEOUT (PIP_DEFAULT_TIMEOUT=180, TMOUT-like settings in other units): one whose value is
  // not a valid timeout is not ours and is left alone, never an error.
  std::set<std::string> known;
  for (const auto& setting : settings_) known.insert(setting.service);
  for (const auto& setting : added) known.insert(setting.service);
  // <SERVICE>_API_KEY: only for a service configured somewhere (plenty of processes hold
  // OPENAI_API_KEY-like secrets meant for others: never send one to a service merely discovered).
  for (const auto& [name, value] : env) {
    if (!ends_with(name, "_API_KEY")) continue;
    const auto service = service_name_from_env(name.substr(0, name.size() - 8));
    if (known.count(service) == 0 || service.empty()) continue;
    added.push_back({service, "api_key", value, "environment " + name});
  }
  for (const auto& [name, value] : env) {
    if (!ends_with(name, "_TIMEOUT") || name == "DEFAULT_TIMEOUT" || name == "CB_RECOVERY_TIMEOUT") continue;
    const auto service = service_name_from_env(name.substr(0, name.size() - 8));
    Setting setting{service, "timeout", value, "environment " + name};
    if (known.count(service) == 0) {
      ServiceConfig probe;
      const bool ours = validate_service_name(service, name) && apply(probe, setting.key, value, setting.source) &&
                        validate(probe, "services." + service + ".");
      if (!ours) continue;
    }
    added.push_back(std::move(setting));
  }
  ServiceConfig probe;
  for (const auto& s : added) {
    if (auto r = apply(probe, s.key, s.value, s.source); !r) return r;
  }
  settings_.insert(settings_.end(), added.begin(), added.end());
  gateway_url_ = gateway;
  return {};
}

Result<ServiceClientOptions> ClientConfigLoader::build() const {
  ServiceClientOptions options;
  options.gateway_url = gateway_url_;
  for (const auto& s : settings_) {
    if (!s.service.empty()) continue;
    if (auto r = apply(options.defaults, s.key, s.value, s.source); !r) return r.error();
  }
  for (const auto& s : settings_) {
    if (s.service.empty()) continue;
    auto [it, inserted] = options.services.try_emplace(s.service, options.defaults);
    if (auto r = apply(it->second, s.key, s.value, s.source); !r) return r.error();
  }
  if (auto r = validate(options.defaults, "defaults."); !r) return r.error();
  for (const auto& [name, config] : options.services) {
    if (auto r = validate(config, "services." + name + "."); !r) return r.error();
  }
  return options;
}

}  // namespace svckit
