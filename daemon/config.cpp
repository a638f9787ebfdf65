#include "daemon/config.hpp"

#include "svckit/core/log.hpp"

#include <optional>

#include <yaml-cpp/yaml.h>

#include <cctype>
#include <charconv>
#include <fstream>
#include <functional>

#include "daemon/acl_rules.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/dns/dns_message.hpp"

namespace svckit::daemon {
namespace {

using Setter = std::function<Result<void>(SvckitdConfig&, const std::string& value, const std::string& field)>;

Error bad_value(const std::string& field, const std::string& value, const std::string& expected) {
  return make_error(ErrorCode::invalid_argument, "'" + value + "' is not " + expected, field);
}

template <class Int>
Setter integer(Int SvckitdConfig::*member, std::uint64_t lo, std::uint64_t hi) {
  return [=](SvckitdConfig& c, const std::string& v, const std::string& field) -> Result<void> {
    std::uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc{} || ptr != v.data() + v.size() || n < lo || n > hi) {
      return bad_value(field, v, "an integer in " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    c.*member = static_cast<Int>(n);
    return {};
  };
}

Setter duration(std::chrono::milliseconds SvckitdConfig::*member, std::chrono::milliseconds min) {
  return [=](SvckitdConfig& c, const std::string& v, const std::string& field) -> Result<void> {
    auto d = parse_duration(v, field);
    if (!d) return d.error();
    if (*d < min) return bad_value(field, v, "a duration of at least " + format_duration(min));
    c.*member = *d;
    return {};
  };
}

Setter text(std::string SvckitdConfig::*member) {
  return [=](SvckitdConfig& c, const std::string& v, const std::string&) -> Result<void> {
    c.*member = v;
    return {};
  };
}

Setter path(std::filesystem::path SvckitdConfig::*member) {
  return [=](SvckitdConfig& c, const std::string& v, const std::string&) -> Result<void> {
    c.*member = v;
    return {};
  };
}

Result<void> set_listen(SvckitdConfig& c, const std::string& v, const std::string& field) {
  const auto colon = v.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad_value(field, v, "an address:port like 127.0.0.1:8500");
  SvckitdConfig copy = c;
  copy.address = v.substr(0, colon);
  if (copy.address.size() > 2 && copy.address.front() == '[')
    copy.address = copy.address.substr(1, copy.address.size() - 2);
  auto r = integer(&SvckitdConfig::port, 0, 65535)(copy, v.substr(colon + 1), field);
  if (!r) return r;
  c = copy;
  return {};
}

Result<void> set_dns_port(SvckitdConfig& c, const std::string& v, const std::string& field) {
  if (v == "off") {
    c.dns_port = -1;
    return {};
  }
  return integer(&SvckitdConfig::dns_port, 0, 65535)(c, v, field);
}

Result<void> set_dns_domain(SvckitdConfig& c, const std::string& v, const std::string& field) {
  auto domain = v;
  if (!domain.empty() && domain.back() == '.') domain.pop_back();
  for (auto& ch : domain) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (auto valid = dns::validate_name(domain, field); !valid) return valid.error();
  c.dns_domain = domain;
  return {};
}

Result<void> set_dns_seconds(std::chrono::seconds SvckitdConfig::*member, SvckitdConfig& c, const std::string& v,
                             const std::string& field) {
  auto d = parse_duration(v, field);
  if (!d) return d.error();
  if (d->count() < 0 || *d > std::chrono::hours(24 * 7)) return bad_value(field, v, "a duration from 0s to 7 days");
  c.*member = std::chrono::duration_cast<std::chrono::seconds>(*d);
  return {};
}

Result<void> set_gateway_port(SvckitdConfig& c, const std::string& v, const std::string& field) {
  if (v == "off") {
    c.gateway_port = -1;
    return {};
  }
  return integer(&SvckitdConfig::gateway_port, 0, 65535)(c, v, field);
}

/// A comma-separated list whose items (spaces around them trimmed, empty ones skipped) each pass
/// `valid`; `expected` describes an item for the error.
Setter list(std::vector<std::string> SvckitdConfig::*member, bool (*valid)(std::string& item), std::string expected) {
  return [=](SvckitdConfig& c, const std::string& v, const std::string& field) -> Result<void> {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= v.size()) {
      auto comma = v.find(',', start);
      if (comma == std::string::npos) comma = v.size();
      auto item = v.substr(start, comma - start);
      item.erase(0, item.find_first_not_of(' '));
      item.erase(item.find_last_not_of(' ') + 1);
      if (!item.empty()) {
        if (!valid(item)) return bad_value(field, item, expected);
        out.push_back(item);
      }
      start = comma + 1;
    }
    c.*member = std::move(out);
    return {};
  };
}

/// A host name, lower-cased in place: letters, digits, '-', '.'.
bool host_name(std::string& item) {
  for (auto& ch : item) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return item.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-.") == std::string::npos;
}

/// An IP address literal (IPv4 dotted or IPv6).
bool ip_address(std::string& item) {
  return item.find_first_not_of("0123456789abcdefABCDEF.:") == std::string::npos &&
         (item.find('.') != std::string::npos || item.find(':') != std::string::npos);
}

Setter boolean(bool SvckitdConfig::*member) {
  return [=](SvckitdConfig& c, const std::string& v, const std::string& field) -> Result<void> {
    if (v == "true" || v == "on" || v == "yes" || v == "1") {
      c.*member = true;
    } else if (v == "false" || v == "off" || v == "no" || v == "0") {
      c.*member = false;
    } else {
      return bad_value(field, v, "true or false");
    }
    return {};
  };
}

Result<void> set_sample_ratio(SvckitdConfig& c, const std::string& v, const std::string& field) {
  double ratio = -1;
  auto [ptr, ec] = std::from_chars(v.data(), v.data() + v.size(), ratio);
  if (ec != std::errc{} || ptr != v.data() + v.size() || !(ratio >= 0 && ratio <= 1)) {
    return bad_value(field, v, "a number from 0 to 1");
  }
  c.tracing_sample_ratio = ratio;
  return {};
}

Result<void> set_log_level(SvckitdConfig& c, const std::string& v, const std::string& field) {
  // "info", or per component: "info,gateway=debug,health=warn" (svckit/core/log.hpp).
  if (auto levels = logs::parse_levels(v, field); !levels) {
    return bad_value(field, v,
                     "a level (trace, debug, info, warn, error, off), optionally followed by "
                     "component=level pairs: info,gateway=debug");
  }
  c.log_level = v;
  return {};
}

Result<void> set_log_format(SvckitdConfig& c, const std::string& v, const std::string& field) {
  if (v != "text" && v != "json") return bad_value(field, v, "text or json");
  c.log_format = v;
  return {};
}

Result<void> set_bootstrap_token(SvckitdConfig& c, const std::string& v, const std::string& field) {
  if (!v.empty() && (v.size() < 16 || v.size() > 256)) {
    return make_error(ErrorCode::invalid_argument, "a token secret must be 16 to 256 bytes (the value is not shown)",
                      field);
  }
  c.acl_bootstrap_token = v;
  return {};
}

Result<void> set_anonymous_rules(SvckitdConfig& c, const std::string& v, const std::string& field) {
  if (!v.empty()) {
    auto doc = parse_json(v);
    if (!doc) return make_error(ErrorCode::invalid_argument, "must be JSON rules: " + doc.error().message, field);
    if (auto rules = AclRules::parse(*doc, field); !rules) return rules.error();
  }
  c.acl_anonymous_rules = v;
  return {};
}

const std::vector<std::pair<std::string, Setter>>& table() {
  using namespace std::chrono_literals;
  static const std::vector<std::pair<std::string, Setter>> kTable = {
      {"listen", set_listen},
      {"address", text(&SvckitdConfig::address)},
      {"port", integer(&SvckitdConfig::port, 0, 65535)},
      {"port_file", path(&SvckitdConfig::port_file)},
      {"threads", integer(&SvckitdConfig::threads, 0, 256)},
      {"log_level", set_log_level},
      {"log_format", set_log_format},
      {"snapshot_file", path(&SvckitdConfig::snapshot_file)},
      {"store", text(&SvckitdConfig::store)},
      {"store_start_timeout", duration(&SvckitdConfig::store_start_timeout, 0ms)},
      {"cluster.node_name", text(&SvckitdConfig::cluster_node_name)},
      {"cluster.member_ttl", duration(&SvckitdConfig::cluster_member_ttl, 2000ms)},
      {"snapshot_interval", duration(&SvckitdConfig::snapshot_interval, 10ms)},
      {"sweep_interval", duration(&SvckitdConfig::sweep_interval, 10ms)},
      {"expiry_grace", duration(&SvckitdConfig::expiry_grace, 0ms)},
      {"shutdown_timeout", duration(&SvckitdConfig::shutdown_timeout, 0ms)},
      {"watch.default_wait", duration(&SvckitdConfig::default_wait, 0ms)},
      {"watch.max_wait", duration(&SvckitdConfig::max_wait, 0ms)},
      {"limits.max_body_bytes", integer(&SvckitdConfig::max_body_bytes, 1024, std::uint64_t{1} << 30)},
      {"limits.max_header_bytes", integer(&SvckitdConfig::max_header_bytes, 1024, std::uint64_t{1} << 20)},
      {"limits.max_instances_per_service", integer(&SvckitdConfig::max_instances_per_service, 1, 10'000'000)},
      {"limits.max_watchers", integer(&SvckitdConfig::max_watchers, 0, 10'000'000)},
      {"limits.max_watchers_per_peer", integer(&SvckitdConfig::max_watchers_per_peer, 0, 10'000'000)},
      {"limits.max_connections", integer(&SvckitdConfig::max_connections, 1, 10'000'000)},
      {"limits.max_connections_per_peer", integer(&SvckitdConfig::max_connections_per_peer, 0, 10'000'000)},
      {"limits.idle_timeout", duration(&SvckitdConfig::idle_timeout, 10ms)},
      {"limits.max_buffered_response_bytes",
       integer(&SvckitdConfig::max_buffered_response_bytes, 1 << 20, std::uint64_t{1} << 40)},
      {"limits.event_history", integer(&SvckitdConfig::event_history, 1, 10'000'000)},
      {"dns.port", set_dns_port},
      {"dns.address", text(&SvckitdConfig::dns_address)},
      {"dns.domain", set_dns_domain},
      {"dns.ttl", [](SvckitdConfig& c, const std::string& v,
                     const std::string& f) { return set_dns_seconds(&SvckitdConfig::dns_ttl, c, v, f); }},
      {"dns.negative_ttl",
       [](SvckitdConfig& c, const std::string& v, const std::string& f) {
         return set_dns_seconds(&SvckitdConfig::dns_negative_ttl, c, v, f);
       }},
      {"dns.port_file", path(&SvckitdConfig::dns_port_file)},
      {"dns.rate_limit", integer(&SvckitdConfig::dns_rate_limit, 0, 1'000'000)},
      {"gateway.port", set_gateway_port},
      {"gateway.port_file", path(&SvckitdConfig::gateway_port_file)},
      {"gateway.threads", integer(&SvckitdConfig::gateway_threads, 0, 256)},
      {"gateway.max_body_bytes", integer(&SvckitdConfig::gateway_max_body_bytes, 1024, std::uint64_t{1} << 40)},
      {"gateway.buffer_request_bytes",
       integer(&SvckitdConfig::gateway_buffer_request_bytes, 0, std::uint64_t{1} << 30)},
      {"gateway.buffer_response_bytes",
       integer(&SvckitdConfig::gateway_buffer_response_bytes, 0, std::uint64_t{1} << 30)},
      {"gateway.tunnel_idle_timeout", duration(&SvckitdConfig::gateway_tunnel_idle_timeout, 1ms)},
      {"gateway.service_paths", boolean(&SvckitdConfig::gateway_service_paths)},
      {"gateway.reload_interval", duration(&SvckitdConfig::gateway_reload_interval, 0ms)},
      {"gateway.max_response_bytes", integer(&SvckitdConfig::gateway_max_response_bytes, 1024, std::uint64_t{1} << 32)},
      {"gateway.timeout", duration(&SvckitdConfig::gateway_timeout, 1ms)},
      {"gateway.per_try_timeout", duration(&SvckitdConfig::gateway_per_try_timeout, 1ms)},
      {"gateway.max_attempts", integer(&SvckitdConfig::gateway_max_attempts, 1, 10)},
      {"gateway.trusted_proxies",
       list(&SvckitdConfig::gateway_trusted_proxies, ip_address, "an IP address (a comma-separated list of them)")},
      {"api.allowed_hosts", list(&SvckitdConfig::api_allowed_hosts, host_name,
                                 "a host name (a comma-separated list of them, without ports)")},
      {"health.min_interval", duration(&SvckitdConfig::health_min_interval, 10ms)},
      {"health.allow_any_target", boolean(&SvckitdConfig::health_allow_any_target)},
      {"health.grpc_tls.ca_file", text(&SvckitdConfig::health_grpc_tls_ca_file)},
      {"health.grpc_tls.cert_file", text(&SvckitdConfig::health_grpc_tls_cert_file)},
      {"health.grpc_tls.key_file", text(&SvckitdConfig::health_grpc_tls_key_file)},
      {"metrics.series_expiry", duration(&SvckitdConfig::metrics_series_expiry, 0ms)},
      {"limits.write_rate_per_peer", integer(&SvckitdConfig::write_rate_per_peer, 0, 10'000'000)},
      {"limits.write_burst_per_peer", integer(&SvckitdConfig::write_burst_per_peer, 0, 10'000'000)},
      {"limits.max_tracked_peers", integer(&SvckitdConfig::max_tracked_peers, 1, 10'000'000)},
      {"audit.file", text(&SvckitdConfig::audit_file)},
      {"metrics.max_series_per_family", integer(&SvckitdConfig::metrics_max_series_per_family, 1, 10'000'000)},
      {"gateway.retry_budget_percent", integer(&SvckitdConfig::gateway_retry_budget_percent, 1, 100)},
      {"gateway.policy", text(&SvckitdConfig::gateway_policy)},
      {"tracing.sample_ratio", set_sample_ratio},
      {"tracing.otlp_endpoint", text(&SvckitdConfig::tracing_otlp_endpoint)},
      {"tracing.max_spans", integer(&SvckitdConfig::tracing_max_spans, 0, 10'000'000)},
      {"tracing.max_bytes", integer(&SvckitdConfig::tracing_max_bytes, 1024, std::uint64_t{1} << 36)},
      {"gateway.access_log", boolean(&SvckitdConfig::gateway_access_log)},
      {"gateway.access_log_file", text(&SvckitdConfig::gateway_access_log_file)},
      {"tls.cert_file", text(&SvckitdConfig::tls_cert_file)},
      {"tls.key_file", text(&SvckitdConfig::tls_key_file)},
      {"tls.client_ca_file", text(&SvckitdConfig::tls_client_ca_file)},
      {"tls.reload_interval", duration(&SvckitdConfig::tls_reload_interval, 0ms)},
      {"gateway.tls.cert_file", text(&SvckitdConfig::gateway_tls_cert_file)},
      {"gateway.tls.key_file", text(&SvckitdConfig::gateway_tls_key_file)},
      {"gateway.tls.client_ca_file", text(&SvckitdConfig::gateway_tls_client_ca_file)},
      {"acl.enabled", boolean(&SvckitdConfig::acl_enabled)},
      {"acl.bootstrap_token_file", path(&SvckitdConfig::acl_bootstrap_token_file)},
      {"acl.bootstrap_token", set_bootstrap_token},
      {"acl.anonymous_rules", set_anonymous_rules},
      {"acl.tokens_file", path(&SvckitdConfig::acl_tokens_file)},
  };
  return kTable;
}

Result<void> flatten(const YAML::Node& node, const std::string& prefix,
                     std::vector<std::pair<std::string, std::string>>& out, std::optional<YAML::Node>& routes,
                     const std::string& source) {
  if (!node.IsMap()) {
    return make_error(ErrorCode::invalid_argument, source + ": expected a mapping of settings",
                      prefix.empty() ? "config" : prefix);
  }
  for (const auto& kv : node) {
    const auto key = prefix.empty() ? kv.first.as<std::string>() : prefix + "." + kv.first.as<std::string>();
    if (key == "gateway.routes") {  // the one list among the settings
      routes = kv.second;
    } else if (kv.second.IsMap()) {
      if (auto r = flatten(kv.second, key, out, routes, source); !r) return r;
    } else if (kv.second.IsScalar()) {
      out.emplace_back(key, kv.second.as<std::string>());
    } else if (kv.second.IsNull()) {
      out.emplace_back(key, "");
    } else {
      return make_error(ErrorCode::invalid_argument, source + ": " + key + " must be a single value", key);
    }
  }
  return {};
}

}  // namespace

const std::vector<std::string>& setting_keys() {
  static const std::vector<std::string> kKeys = [] {
    std::vector<std::string> keys;
    for (const auto& [k, s] : table()) keys.push_back(k);
    return keys;
  }();
  return kKeys;
}

std::string env_name(const std::string& key) {
  std::string out = "SVCKITD_";
  for (char c : key) out += c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

Result<void> apply_setting(SvckitdConfig& config, const std::string& key, const std::string& value,
                           const std::string& source) {
  for (const auto& [k, setter] : table()) {
    if (k != key) continue;
    auto r = setter(config, value, key);
    if (!r) {
      auto e = r.error();
      e.message = source + ": " + key + ": " + e.message;
      return e;
    }
    return {};
  }
  return make_error(ErrorCode::invalid_argument, source + ": unknown setting '" + key + "'", key);
}

Result<void> apply_yaml(SvckitdConfig& config, const std::string& yaml_text, const std::string& source) {
  std::vector<std::pair<std::string, std::string>> settings;
  std::optional<std::vector<GatewayRoute>> routes;
  try {
    const YAML::Node root = YAML::Load(yaml_text);
    if (root.IsNull()) return {};
    std::optional<YAML::Node> routes_node;
    if (auto r = flatten(root, "", settings, routes_node, source); !r) return r;
    if (routes_node) {
      auto parsed = parse_routes(*routes_node, source);
      if (!parsed) return parsed.error();
      routes = std::move(*parsed);
    }
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::invalid_argument,
                      source + ": YAML error at line " + std::to_string(e.mark.line + 1) + ": " + e.msg, "config");
  }
  SvckitdConfig copy = config;
  if (routes) copy.gateway_routes = std::move(*routes);
  for (const auto& [key, value] : settings) {
    if (auto r = apply_setting(copy, key, value, source); !r) return r;
  }
  config = copy;
  return {};
}

Result<void> apply_env(SvckitdConfig& config, const std::function<const char*(const char*)>& getenv) {
  SvckitdConfig copy = config;
  for (const auto& key : setting_keys()) {
    const auto name = env_name(key);
    if (const char* value = getenv(name.c_str())) {
      if (auto r = apply_setting(copy, key, value, "environment " + name); !r) return r;
    }
  }
  config = copy;
  return {};
}

Result<void> validate(const SvckitdConfig& c) {
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return make_error(ErrorCode::invalid_argument, "TLS needs both tls.cert_file and tls.key_file",
                      c.tls_cert_file.empty() ? "tls.cert_file" : "tls.key_file");
  }
  if (!c.tls_client_ca_file.empty() && c.tls_cert_file.empty()) {
    return make_error(ErrorCode::invalid_argument, "tls.client_ca_file needs tls.cert_file and tls.key_file",
                      "tls.client_ca_file");
  }
  if (c.gateway_tls_cert_file.empty() != c.gateway_tls_key_file.empty()) {
    return make_error(ErrorCode::invalid_argument,
                      "gateway TLS needs both gateway.tls.cert_file and gateway.tls.key_file",
                      c.gateway_tls_cert_file.empty() ? "gateway.tls.cert_file" : "gateway.tls.key_file");
  }
  if (!c.gateway_tls_client_ca_file.empty() && c.gateway_tls_cert_file.empty()) {
    return make_error(ErrorCode::invalid_argument,
                      "gateway.tls.client_ca_file needs gateway.tls.cert_file and gateway.tls.key_file",
                      "gateway.tls.client_ca_file");
  }
  if (c.health_grpc_tls_cert_file.empty() != c.health_grpc_tls_key_file.empty()) {
    return make_error(ErrorCode::invalid_argument,
                      "a client certificate for gRPC checks needs both health.grpc_tls.cert_file and key_file",
                      c.health_grpc_tls_cert_file.empty() ? "health.grpc_tls.cert_file" : "health.grpc_tls.key_file");
  }
  for (auto [file, field] : {std::pair{&c.health_grpc_tls_ca_file, "health.grpc_tls.ca_file"},
                             std::pair{&c.health_grpc_tls_cert_file, "health.grpc_tls.cert_file"},
                             std::pair{&c.health_grpc_tls_key_file, "health.grpc_tls.key_file"}}) {
    if (!file->empty() && !std::ifstream(*file).good()) {
      return make_error(ErrorCode::invalid_argument, std::string(field) + ": cannot read " + *file, field);
    }
  }
  if (!c.store.empty() && !c.store.starts_with("etcd://")) {
    return make_error(ErrorCode::invalid_argument,
                      "store must be an etcd:// URL (cluster mode) or empty (the embedded store)", "store");
  }
  if (!c.store.empty() && !c.acl_tokens_file.empty()) {
    return make_error(ErrorCode::invalid_argument,
                      "acl.tokens_file is for the embedded store; with store: etcd://... the tokens live in etcd",
                      "acl.tokens_file");
  }
  if (!c.store.empty() && !c.snapshot_file.empty()) {
    return make_error(ErrorCode::invalid_argument,
                      "snapshot_file is for the embedded store; with store: etcd://... etcd keeps the registry",
                      "snapshot_file");
  }
  if (c.default_wait > c.max_wait) {
    return make_error(ErrorCode::invalid_argument, "watch.default_wait must not exceed watch.max_wait",
                      "watch.default_wait");
  }
  return {};
}

}  // namespace svckit::daemon
