// svckitd configuration: defaults, then a YAML file, then SVCKITD_* environment variables, then flags.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "daemon/gateway_routes.hpp"
#include "svckit/core/result.hpp"

namespace svckit::daemon {

struct SvckitdConfig {
  std::string address = "127.0.0.1";    // listen address. Default: loopback.
  std::uint16_t port = 8500;            // Default: 8500; 0 = any free port.
  std::filesystem::path port_file;      // written with the bound port once listening. Default: none.
  unsigned threads = 0;                 // I/O threads. Default: 0 = number of cores.
  std::string log_level = "info";       // trace, debug, info, warn, error, off; per component "info,gateway=debug".
  std::string log_format = "text";      // log_format: text (key=value lines) or json (one object per line).
  std::filesystem::path snapshot_file;  // persistent registrations survive restarts. Default: none.
  // store: empty = embedded (memory + snapshot_file); etcd://... = cluster mode (cluster_store.hpp).
  std::string store;
  std::chrono::milliseconds store_start_timeout{30'000};  // how long a cluster node waits for etcd at start
  std::string cluster_node_name;                          // cluster.node_name: default the API's address:port
  std::chrono::milliseconds cluster_member_ttl{3000};     // cluster.member_ttl: a dead node's checks move after it
  std::chrono::milliseconds snapshot_interval{1000};      // how often a changed snapshot is written.
  std::chrono::milliseconds sweep_interval{1000};         // TTL expiry check period.
  std::chrono::milliseconds expiry_grace{30'000};         // expired instances stay listed as down this long.
  std::chrono::milliseconds shutdown_timeout{10'000};     // bound on draining in-flight requests.
  std::chrono::milliseconds default_wait{30'000};         // watch wait when ?wait= is absent.
  std::chrono::milliseconds max_wait{300'000};            // longest accepted ?wait=.
  std::size_t max_body_bytes = 1 << 20;
  std::size_t max_header_bytes = 16 << 10;
  std::size_t max_instances_per_service = 10'000;
  std::size_t max_watchers = 10'000;          // long polls at once: watches, blocking queries, config watches.
  std::size_t max_watchers_per_peer = 1'000;  // of those, from one client address.
  std::size_t max_connections = 10'000;
  std::size_t max_connections_per_peer = 1'000;         // API connections from one client address.
  std::size_t max_buffered_response_bytes = 256 << 20;  // API answers held while written, all clients.
  std::chrono::milliseconds idle_timeout{75'000};       // API keep-alive silence between requests.
  std::size_t event_history = 8192;
  // Gateway (a second listener on the same address): /{service}/{path} to healthy instances.
  std::int32_t gateway_port = -1;                        // -1 = off (default); 0 = any free port.
  std::filesystem::path gateway_port_file;               // written with the gateway's bound port.
  std::int32_t dns_port = -1;                            // DNS interface: -1 = off (default); 0 = any free port.
  std::string dns_address;                               // empty: the API's address
  std::string dns_domain = "svckit";                     // names are <service>.service.<domain>
  std::chrono::seconds dns_ttl{5};                       // TTL of the records answered
  std::chrono::seconds dns_negative_ttl{5};              // SOA MINIMUM: caching of "no such name"
  std::filesystem::path dns_port_file;                   // written with the DNS port once bound
  double dns_rate_limit = 500;                           // UDP answers/s per source address; 0 = off
  unsigned gateway_threads = 0;                          // gateway I/O threads; 0 = number of cores.
  std::uint64_t gateway_max_body_bytes = 1ULL << 30;     // request bodies (streamed); larger get 413.
  std::size_t gateway_buffer_request_bytes = 64 << 10;   // request bodies up to this are retryable.
  std::size_t gateway_buffer_response_bytes = 64 << 10;  // answers up to this are relayed in one write.
  std::chrono::milliseconds gateway_tunnel_idle_timeout{300'000};  // WebSocket tunnels with no traffic close.
  bool gateway_service_paths = true;                               // route /{service}/{path} when no route matches.
  std::vector<GatewayRoute> gateway_routes;                        // gateway.routes (YAML only); hot-reloaded.
  std::chrono::milliseconds gateway_reload_interval{1000};         // config file check for route changes; 0 = off.
  std::filesystem::path config_file;                               // the YAML file (set by main), for reloads.
  std::size_t gateway_max_response_bytes = 64 << 20;               // upstream error answers; larger get 502.
  std::chrono::milliseconds gateway_timeout{30'000};               // a request's deadline (a caller's sooner one wins).
  std::chrono::milliseconds gateway_per_try_timeout{10'000};       // one upstream attempt.
  unsigned gateway_max_attempts = 3;                               // idempotent methods only.
  unsigned gateway_retry_budget_percent = 50;                      // retries in flight <= max(3, this % of requests).
  std::string gateway_policy = "least_request";                    // a balancing policy.
  bool gateway_access_log = false;
  std::string gateway_access_log_file;  // gateway.access_log_file: a JSON line per request; "-" = stderr.
  // Tracing: see docs/observability.md.
  double tracing_sample_ratio = 0.1;       // tracing.sample_ratio: share of new traces the gateway samples (0..1).
  std::string tracing_otlp_endpoint;       // tracing.otlp_endpoint: also export svckitd's spans there (OTLP/HTTP JSON).
  std::size_t tracing_max_spans = 20'000;  // tracing.max_spans: spans kept for /v1/traces (oldest traces go first).
  std::size_t tracing_max_bytes = 64 << 20;  // tracing.max_bytes: their packed size (fields + text) at most.
  std::vector<std::string>
      api_allowed_hosts;  // api.allowed_hosts: DNS names the API answers to (besides IPs, localhost).
  std::chrono::milliseconds health_min_interval{1000};  // health.min_interval: shortest check interval accepted.
  bool health_allow_any_target = false;                 // health.allow_any_target: checks may probe other hosts.
  std::string health_grpc_tls_ca_file;    // health.grpc_tls.ca_file: CAs trusted by grpc checks with params.tls
  std::string health_grpc_tls_cert_file;  // health.grpc_tls.cert_file (+ key_file): svckitd's client certificate
  std::string health_grpc_tls_key_file;
  double write_rate_per_peer = 0;          // limits.write_rate_per_peer: API writes/s per client address; 0 = off.
  double write_burst_per_peer = 0;         // limits.write_burst_per_peer: 0 = 2 x the rate.
  std::size_t max_tracked_peers = 10'000;  // limits.max_tracked_peers: rate buckets kept (least recently seen go).
  std::string audit_file;                  // audit.file: a JSON line per API write; "-" = stderr; "" = off.
  std::chrono::milliseconds metrics_series_expiry{
      300'000};                                        // metrics.series_expiry: a gone service's series; 0 = keep.
  std::size_t metrics_max_series_per_family = 10'000;  // metrics.max_series_per_family: then "_overflow".
  /// gateway.trusted_proxies: peers (IP addresses, comma-separated) whose X-Forwarded-Host/-Proto/
  /// -Port/-Prefix, X-Real-IP and Forwarded headers are passed on; from anyone else they are
  /// replaced by the gateway's own. Default: none.
  std::vector<std::string> gateway_trusted_proxies;
  // TLS on the API listener: see docs/security.md.
  std::string tls_cert_file;                            // tls.cert_file: PEM chain; with tls.key_file turns TLS on.
  std::string tls_key_file;                             // tls.key_file: its PEM key. Never logged.
  std::string tls_client_ca_file;                       // tls.client_ca_file: clients must show a cert it signed.
  std::chrono::milliseconds tls_reload_interval{5000};  // tls.reload_interval: certificate files checked; 0 = off.
  std::string gateway_tls_cert_file;       // gateway.tls.cert_file: with gateway.tls.key_file, HTTPS on the gateway.
  std::string gateway_tls_key_file;        // gateway.tls.key_file. Never logged.
  std::string gateway_tls_client_ca_file;  // gateway.tls.client_ca_file: gateway clients must show a cert it signed.
  // ACLs (Consul's token model): see docs/security.md.
  bool acl_enabled = false;                        // acl.enabled: every API request is authorized by its token.
  std::filesystem::path acl_bootstrap_token_file;  // acl.bootstrap_token_file: the first management token's secret.
  std::string acl_bootstrap_token;                 // acl.bootstrap_token (better: SVCKITD_ACL_BOOTSTRAP_TOKEN). Secret.
  std::string acl_anonymous_rules;                 // acl.anonymous_rules: JSON rules for requests without a token.
  std::filesystem::path acl_tokens_file;           // acl.tokens_file: default <snapshot_file>.acl.json; none: memory.
};

/// Sets one setting by its YAML key ("limits.max_watchers"); errors name the key and the source.
Result<void> apply_setting(SvckitdConfig& config, const std::string& key, const std::string& value,
                           const std::string& source);

/// Every YAML key, in documentation order.
const std::vector<std::string>& setting_keys();

/// Environment variable for a key: "limits.max_watchers" -> "SVCKITD_LIMITS_MAX_WATCHERS".
std::string env_name(const std::string& key);

/// Applies a YAML document (nested maps of scalars, and the gateway.routes list). Unknown keys and
/// non-scalar values are errors; on error `config` is unchanged.
Result<void> apply_yaml(SvckitdConfig& config, const std::string& yaml_text, const std::string& source);

/// Applies SVCKITD_* variables found through `getenv`. On error `config` is unchanged.
Result<void> apply_env(SvckitdConfig& config, const std::function<const char*(const char*)>& getenv);

/// Checks cross-field rules (e.g. default_wait <= max_wait).
Result<void> validate(const SvckitdConfig& config);

}  // namespace svckit::daemon
