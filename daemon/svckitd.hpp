// Svckitd: the composition root of the daemon. Wires the registry, the HTTP API, the sweeper,
// the snapshot writer and graceful shutdown.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>
#include <memory>

#include "daemon/acl_api.hpp"
#include "daemon/acl_guard.hpp"
#include "daemon/acl_replica.hpp"
#include "daemon/cluster_members.hpp"
#include "daemon/cluster_store.hpp"
#include "daemon/config.hpp"
#include "daemon/config_api.hpp"
#include "daemon/config_replica.hpp"
#include "daemon/config_store.hpp"
#include "daemon/consul_api.hpp"
#include "daemon/dns_server.hpp"
#include "daemon/eureka_api.hpp"
#include "daemon/gateway.hpp"
#include "daemon/health_checks.hpp"
#include "daemon/metric_expiry.hpp"
#include "daemon/nacos_api.hpp"
#include "daemon/nacos_config_api.hpp"
#include "daemon/persister.hpp"
#include "daemon/prometheus_sd.hpp"
#include "daemon/registry_api.hpp"
#include "daemon/shared_routes.hpp"
#include "daemon/trace_store.hpp"
#include "svckit/core/async_event.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/http/server.hpp"
#include "svckit/http/tls_server.hpp"
#include "svckit/registry/memory_registry.hpp"
#include "svckit/trace/otlp_exporter.hpp"

namespace svckit::daemon {

class Svckitd {
 public:
  explicit Svckitd(SvckitdConfig config);
  ~Svckitd();

  /// Restores the snapshot, binds the port and starts the background loops. Nothing runs yet.
  Result<void> start();
  std::uint16_t port() const { return server_.port(); }
  /// The gateway's port; 0 when the gateway is off.
  std::uint16_t gateway_port() const { return gateway_ ? gateway_->port() : 0; }
  std::uint16_t dns_port() const { return dns_ ? dns_->port() : 0; }
  /// Runs the I/O threads until shutdown has completed (SIGINT/SIGTERM or request_shutdown()).
  void run();
  /// Thread-safe: begins a graceful shutdown.
  void request_shutdown();
  /// After run(): 0, or 1 when the final write of persistent state failed at shutdown
  /// (acknowledged writes may be missing from disk).
  int exit_code() const { return exit_code_; }

 private:
  http::Awaitable<void> sweep_loop();
  http::Awaitable<void> snapshot_loop();
  http::Awaitable<void> shutdown_sequence();
  Result<void> restore_config_store();
  Result<void> start_acl();
  /// tls.reload_interval: picks up a rotated certificate (new connections get it).
  http::Awaitable<void> tls_reload_loop();
  /// Cluster mode: the registry in etcd, this node's registry its cache (cluster_store.hpp).
  Result<void> start_cluster_store();
  http::Awaitable<Result<void>> load_cluster_store();
  http::Awaitable<void> follow_cluster_store();
  http::Awaitable<void> follow_config_replica();
  http::Awaitable<void> follow_acl_replica();
  /// Runs `work` to its end on io_ before the node serves (start-up only).
  template <typename T>
  T run_at_start(http::Awaitable<T> work);
  void join_cluster();
  http::Awaitable<void> run_membership();
  http::Awaitable<http::Response> list_members(http::RouteContext& ctx);
  /// Gateway routes hot reload: on SIGHUP, and when the config file's size or mtime changes.
  http::Awaitable<void> reload_loop();
  void wait_for_hangup();
  void reload_routes(const char* why);
  /// The gateway's table: the config file's routes, then the cluster's shared routes.
  RouteTable route_table() const;
  /// `GET` / `PUT /v1/gateway/routes`: the cluster's shared routes.
  http::Awaitable<http::Response> get_shared_routes(http::RouteContext& ctx);
  /// GET /v1/gateway/services/{service} (gateway_view.cpp).
  http::Awaitable<http::Response> get_gateway_service(http::RouteContext& ctx);
  http::Awaitable<http::Response> put_shared_routes(http::RouteContext& ctx);
  http::Awaitable<void> follow_shared_routes();
  static std::string file_stamp(const std::filesystem::path& file);
  /// The config file's stamp and those of the key files its routes read (JWKS, secrets, API keys).
  std::string routes_stamp() const;

  // Order matters for destruction: the io_context goes before the registry and the API (coroutine
  // frames it destroys still reference them), and after the I/O objects bound to it.
  SvckitdConfig config_;
  RealTimeSource time_;
  RealRandom random_;
  HealthCheckers checkers_;
  MetricsRegistry metrics_;
  MetricExpiry metric_expiry_;  // only touched on control_
  MemoryRegistry registry_;
  WatchSlots watches_;
  PeerRateLimiter write_limiter_;              // limits.write_rate_per_peer (off at 0)
  std::unique_ptr<JsonLines> audit_lines_;     // audit.file; null when off
  std::unique_ptr<AuditLog> audit_;            // over audit_lines_
  std::unique_ptr<JsonLines> access_lines_;    // gateway.access_log_file; null when off
  std::unique_ptr<AclTokenStore> acl_tokens_;  // these three: null unless acl.enabled
  std::unique_ptr<AclGuard> acl_guard_;
  std::unique_ptr<AclApi> acl_api_;
  std::unique_ptr<AclReplica> acl_replica_;              // cluster mode with acl.enabled: the tokens in etcd
  AsyncEvent acl_followed_;                              // set when acl_replica_->follow() has returned
  std::shared_ptr<http::TlsServerContext> tls_;          // null without tls.cert_file
  std::shared_ptr<http::TlsServerContext> gateway_tls_;  // null without gateway.tls.cert_file
  RegistryApi api_;
  BalancerPlugins balancers_;
  boost::asio::io_context io_;
  http::HttpServer server_;
  std::unique_ptr<Gateway> gateway_;               // null when gateway.port is off
  std::unique_ptr<DnsServer> dns_;                 // null when dns.port is off
  std::unique_ptr<ClusterStore> cluster_;          // null with the embedded store (store: empty)
  AsyncEvent cluster_followed_;                    // set when cluster_->follow() has returned
  std::unique_ptr<ClusterMembers> members_;        // cluster mode: the nodes, and who checks which instance
  AsyncEvent members_left_;                        // set when members_->run() has returned (its lease revoked)
  std::unique_ptr<ConfigReplica> config_replica_;  // cluster mode: the config store in etcd
  AsyncEvent config_followed_;                     // set when config_replica_->follow() has returned
  std::unique_ptr<SharedRoutes> shared_routes_;    // cluster mode: the gateway routes in etcd
  AsyncEvent routes_followed_;                     // set when shared_routes_->follow() has returned
  mutable std::mutex routes_mutex_;
  std::vector<GatewayRoute> file_routes_;         // guarded by routes_mutex_: gateway.routes of the config file
  std::vector<GatewayRoute> shared_routes_list_;  // guarded by routes_mutex_: the cluster's, after them
  boost::asio::signal_set signals_;
  boost::asio::signal_set hangup_;                                       // SIGHUP: reload gateway.routes
  boost::asio::strand<boost::asio::io_context::executor_type> control_;  // runs sweep, snapshot, shutdown
  InstanceHealthChecks health_;
  ConsulApi consul_;
  EurekaApi eureka_;
  PrometheusSdApi prometheus_sd_;
  TraceStore traces_;                                        // /v1/traces: received and the gateway's own spans
  std::unique_ptr<trace::OtlpHttpExporter> trace_exporter_;  // tracing.otlp_endpoint; null when not set
  std::unique_ptr<trace::TeeSink> trace_tee_;                // to traces_ and trace_exporter_, when both
  std::unique_ptr<trace::Tracer> tracer_;                    // the gateway's spans
  NacosApi nacos_;
  ConfigStore config_store_;  // persisted beside the snapshot file (<snapshot>.config.json) when there is one
  ConfigApi config_api_;
  NacosConfigApi nacos_config_;
  std::unique_ptr<Persister> persister_;  // null without a snapshot file
  Counter& expirations_;
  Family<Counter>& reloads_;
  std::string config_stamp_;            // only touched on control_
  std::vector<std::string> key_files_;  // the routes' key files; only touched on control_
  int exit_code_ = 0;                   // set by the shutdown sequence
  bool stopping_ = false;               // only touched on control_
};

}  // namespace svckit::daemon
