#include "daemon/svckitd.hpp"

#include "daemon/ui_assets.hpp"

#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <thread>

#include "daemon/snapshot.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"
#include "svckit/grpc/grpc_health_checker.hpp"

namespace svckit::daemon {

namespace asio = boost::asio;

namespace {
MemoryRegistryOptions registry_options(const SvckitdConfig& c) {
  MemoryRegistryOptions o;
  o.store.expiry_grace = c.expiry_grace;
  o.store.max_instances_per_service = c.max_instances_per_service;
  o.store.event_history = c.event_history;
  // Long polls from clients are admitted by WatchSlots (limits.max_watchers); the registry's own
  // bound leaves room for svckitd's internal followers (health checks, the gateway's discovery).
  o.max_watchers = c.max_watchers + 16;
  return o;
}

http::ServerOptions server_options(const SvckitdConfig& c) {
  http::ServerOptions o;
  o.address = c.address;
  o.port = c.port;
  o.max_body_bytes = c.max_body_bytes;
  o.max_header_bytes = c.max_header_bytes;
  o.max_connections = c.max_connections;
  o.max_connections_per_peer = c.max_connections_per_peer;
  o.max_buffered_response_bytes = c.max_buffered_response_bytes;
  // Only the silence between requests: a long poll in progress is not idle (the connection's
  // deadlines are lifted while a handler waits), so the idle timeout need not outlast max_wait.
  o.idle_timeout = c.idle_timeout;
  return o;
}

BalancerPlugins builtin_balancers() {
  BalancerPlugins::Builder builder;
  register_builtin_balancers(builder);
  return std::move(builder).build();
}

GatewayOptions gateway_options(const SvckitdConfig& c) {
  GatewayOptions o;
  o.address = c.address;
  o.port = static_cast<std::uint16_t>(std::max(0, c.gateway_port));
  o.max_body_bytes = c.gateway_max_body_bytes;
  o.max_response_bytes = c.gateway_max_response_bytes;
  o.max_header_bytes = c.max_header_bytes;
  o.max_connections = c.max_connections;
  o.timeout = c.gateway_timeout;
  o.per_try_timeout = c.gateway_per_try_timeout;
  o.max_attempts = static_cast<int>(c.gateway_max_attempts);
  o.retry_budget_percent = c.gateway_retry_budget_percent;
  o.policy = c.gateway_policy;
  o.access_log = c.gateway_access_log;
  o.trusted_proxies = c.gateway_trusted_proxies;
  o.threads = c.gateway_threads;
  o.buffer_request_bytes = c.gateway_buffer_request_bytes;
  o.buffer_response_bytes = c.gateway_buffer_response_bytes;
  o.tunnel_idle_timeout = c.gateway_tunnel_idle_timeout;
  o.routes = RouteTable{c.gateway_routes, c.gateway_service_paths, {}, {}};
  return o;
}

ConsulApiOptions consul_options(const SvckitdConfig& c) {
  ConsulApiOptions o;
  const bool wildcard = c.address == "0.0.0.0" || c.address == "::" || c.address.empty();
  o.node.address = wildcard ? "127.0.0.1" : c.address;
  o.max_wait = c.max_wait;
  return o;
}

HealthCheckers builtin_checkers(const SvckitdConfig& c) {
  HealthCheckers::Builder builder;
  register_builtin_health_checkers(builder);
  // grpc.health.v1 Health/Check; checks with params.tls trust what the operator configured.
  rpc::register_grpc_health_checker(
      builder, rpc::GrpcCheckerTls{c.health_grpc_tls_ca_file, c.health_grpc_tls_cert_file, c.health_grpc_tls_key_file});
  return std::move(builder).build();
}

http::Awaitable<void> sleep_for(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}
}  // namespace

Svckitd::Svckitd(SvckitdConfig config)
    : config_(std::move(config)),
      checkers_(builtin_checkers(config_)),
      metrics_(MetricsOptions{config_.metrics_max_series_per_family}),
      metric_expiry_(metrics_, time_, config_.metrics_series_expiry),
      registry_(time_, registry_options(config_)),
      watches_(config_.max_watchers, config_.max_watchers_per_peer),
      write_limiter_(
          PeerRateLimits{config_.write_rate_per_peer, config_.write_burst_per_peer, config_.max_tracked_peers}, time_),
      api_(registry_, metrics_,
           RegistryApiOptions{config_.default_wait, config_.max_wait, config_.api_allowed_hosts, config_.dns_domain},
           watches_),
      balancers_(builtin_balancers()),
      io_(),
      server_(io_, server_options(config_),
              [this](http::Request& r, const http::RequestContext& c) { return api_.handle(r, &c); }),
      signals_(io_, SIGINT, SIGTERM),
      hangup_(io_, SIGHUP),
      control_(asio::make_strand(io_)),
      health_(registry_, metrics_, io_, checkers_, time_, random_),
      consul_(
          registry_, time_, [this](const ServiceInstance& in) { return health_.supported(in); },
          consul_options(config_), watches_),
      eureka_(registry_, [this](const ServiceInstance& in) { return health_.supported(in); }),
      prometheus_sd_(registry_),
      traces_(config_.tracing_max_spans, config_.tracing_max_bytes, "svckitd", metrics_),
      nacos_(registry_, [this](const ServiceInstance& in) { return health_.supported(in); }),
      config_store_(time_),
      config_api_(config_store_, watches_, config_.default_wait, config_.max_wait),
      nacos_config_(config_store_, config_api_, watches_, config_.max_wait),
      expirations_(
          metrics_.counter("svckit_expirations_total", "Instances marked down because their TTL ran out.").get()),
      reloads_(metrics_.counter("svckit_gateway_route_reloads_total",
                                "Reloads of gateway.routes from the config file, by result.", {"result"})) {
  health_.set_policy(CheckPolicy{config_.health_min_interval, config_.health_allow_any_target});
  health_.add_routes(api_.router());
  api_.router().add(http::Verb::get, "/v1/cluster/members",
                    [this](http::RouteContext& ctx) { return list_members(ctx); });
  api_.router().add(http::Verb::get, "/v1/gateway/routes",
                    [this](http::RouteContext& ctx) { return get_shared_routes(ctx); });
  api_.router().add(http::Verb::put, "/v1/gateway/routes",
                    [this](http::RouteContext& ctx) { return put_shared_routes(ctx); });
  api_.router().add(http::Verb::get, "/v1/gateway/services/{service}",
                    [this](http::RouteContext& ctx) { return get_gateway_service(ctx); });
  file_routes_ = config_.gateway_routes;
  consul_.set_check_verdict(
      [this](const std::string& service, const std::string& id) { return health_.verdict(service, id); });
  consul_.add_routes(api_.router());
  eureka_.add_routes(api_.router());
  prometheus_sd_.add_routes(api_.router());
  add_ui_routes(api_.router());
  traces_.add_routes(api_.router());
  nacos_.add_routes(api_.router());
  config_api_.add_routes(api_.router());
  nacos_config_.add_routes(api_.router());
  api_.set_registration_check([this](const ServiceInstance& in) { return health_.supported(in); });
}

Svckitd::~Svckitd() = default;

Result<void> Svckitd::start() {
  if (!config_.audit_file.empty()) {
    auto lines = JsonLines::open(config_.audit_file, "audit.file");
    if (!lines) return lines.error();
    audit_lines_ = std::move(*lines);
    audit_ = std::make_unique<AuditLog>(*audit_lines_, time_);
  }
  if (!config_.gateway_access_log_file.empty()) {
    auto lines = JsonLines::open(config_.gateway_access_log_file, "gateway.access_log_file");
    if (!lines) return lines.error();
    access_lines_ = std::move(*lines);
  }
  api_.set_write_controls(write_limiter_.enabled() ? &write_limiter_ : nullptr, audit_.get());
  if (config_.acl_enabled && config_.store.empty()) {  // in cluster mode: once the store is reached
    if (auto r = start_acl(); !r) return r;
  }
  if (!config_.tls_cert_file.empty()) {
    auto tls = http::TlsServerContext::create(http::TlsServerFiles{config_.tls_cert_file, config_.tls_key_file,
                                                                   config_.tls_client_ca_file, "tls.cert_file",
                                                                   "tls.key_file", "tls.client_ca_file"});
    if (!tls) return tls.error();
    tls_ = std::move(*tls);
    server_.set_tls(tls_);
  }
  if (!config_.gateway_tls_cert_file.empty()) {
    auto tls = http::TlsServerContext::create(http::TlsServerFiles{
        config_.gateway_tls_cert_file, config_.gateway_tls_key_file, config_.gateway_tls_client_ca_file,
        "gateway.tls.cert_file", "gateway.tls.key_file", "gateway.tls.client_ca_file"});
    if (!tls) return tls.error();
    gateway_tls_ = std::move(*tls);
  }
  const bool loopback = config_.address == "127.0.0.1" || config_.address == "::1" || config_.address == "localhost";
  if (!loopback && config_.gateway_port >= 0 && !gateway_tls_) {
    logs::warn("svckitd",
               "event=gateway_unencrypted address={} (on this address the gateway's clients send their requests and "
               "credentials in clear: set gateway.tls.cert_file and gateway.tls.key_file)",
               config_.address);
  }
  if (!loopback && (!config_.acl_enabled || !tls_)) {
    logs::warn(
        "svckitd",
        "event=api_unprotected address={} acl={} tls={} (on this address: without ACLs anyone who reaches it can "
        "change the registry and the configuration; without TLS tokens and data cross the network in clear)",
        config_.address, config_.acl_enabled, tls_ != nullptr);
  }
  if (!config_.store.empty()) {
    if (auto r = start_cluster_store(); !r) return r;
    if (config_.acl_enabled) {
      if (auto r = start_acl(); !r) return r;
    }
  }
  if (!config_.snapshot_file.empty()) {
    auto snapshot = load_persistent_state(config_.snapshot_file);
    if (!snapshot) return snapshot.error();
    if (auto r = registry_.restore(snapshot->instances, snapshot->index); !r) return r;
    logs::info("svckitd", "event=snapshot_restored file={} instances={}", config_.snapshot_file.string(),
               snapshot->instances.size());
  }
  if (!config_.snapshot_file.empty()) {
    if (auto r = restore_config_store(); !r) return r;
    registry_.track_persistent_changes();
    persister_ = std::make_unique<Persister>(registry_, config_store_, config_.snapshot_file, metrics_);
    // A snapshot that cannot be written at start is a configuration error, not a later surprise.
    if (auto r = persister_->write_changed(); !r) return r;
    api_.set_storage([this] { return persister_->sync(); }, [this] { return persister_->change_mark(); },
                     [this] { return persister_->failure(); });
    registry_.set_persistent_write_refusal([this]() -> std::optional<Error> {
      auto failing = persister_->failure();
      if (!failing) return std::nullopt;
      return make_error(ErrorCode::unavailable,
                        "persistent storage is failing, nothing was changed: " + failing->message, "snapshot_file");
    });
  }
  if (!config_.tracing_otlp_endpoint.empty()) {
    trace::OtlpExporterOptions exporter;
    exporter.endpoint = config_.tracing_otlp_endpoint;
    exporter.service = "svckitd";
    auto made = trace::OtlpHttpExporter::create(io_.get_executor(), std::move(exporter), &metrics_);
    if (!made) {
      auto e = made.error();
      e.field = "tracing." + (e.field == "endpoint" ? std::string("otlp_endpoint") : e.field);
      return e;
    }
    trace_exporter_ = std::move(*made);
    trace_exporter_->start();
    trace_tee_ = std::make_unique<trace::TeeSink>(traces_, *trace_exporter_);
  }
  tracer_ = std::make_unique<trace::Tracer>(time_, random_, trace::TracerOptions{config_.tracing_sample_ratio},
                                            trace_tee_ ? static_cast<trace::SpanSink*>(trace_tee_.get()) : &traces_);
  if (config_.gateway_port >= 0) {
    auto options = gateway_options(config_);
    options.tracer = tracer_.get();
    options.routes = route_table();
    options.access_log_lines = access_lines_.get();
    options.tls = gateway_tls_;
    auto gateway = Gateway::create(io_, registry_, metrics_, balancers_, random_, time_, std::move(options));
    if (!gateway) return gateway.error();
    gateway_ = std::move(*gateway);
    if (auto r = gateway_->start(); !r) return r;
    logs::info("svckitd", "event=gateway_listening address={} port={} routes={} tls={}", config_.address,
               gateway_->port(), config_.gateway_routes.size(), gateway_tls_ != nullptr);
    if (!config_.config_file.empty()) {
      key_files_ = route_key_files(config_.gateway_routes);
      config_stamp_ = routes_stamp();
      wait_for_hangup();
      if (config_.gateway_reload_interval.count() > 0) asio::co_spawn(control_, reload_loop(), asio::detached);
    }
  }
  if (config_.dns_port >= 0) {
    DnsOptions dns;
    dns.address = config_.dns_address.empty() ? config_.address : config_.dns_address;
    dns.port = static_cast<std::uint16_t>(config_.dns_port);
    dns.domain = config_.dns_domain;
    dns.ttl = config_.dns_ttl;
    dns.negative_ttl = config_.dns_negative_ttl;
    dns.udp_rate_limit = config_.dns_rate_limit;
    dns_ = std::make_unique<DnsServer>(io_, registry_, std::move(dns), metrics_, time_);
    if (auto r = dns_->start(); !r) return r;
  }
  if (auto r = server_.listen(); !r) return r;
  signals_.async_wait([this](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    logs::info("svckitd", "event=signal signal={}", signal);
    request_shutdown();
  });
  if (cluster_) join_cluster();  // before the checks start: they run only for this node's share
  health_.start();
  asio::co_spawn(control_, sweep_loop(), asio::detached);
  if (persister_) asio::co_spawn(control_, snapshot_loop(), asio::detached);
  if ((tls_ || gateway_tls_) && config_.tls_reload_interval.count() > 0)
    asio::co_spawn(control_, tls_reload_loop(), asio::detached);
  logs::info("svckitd", "event=listening address={} port={} tls={}", config_.address, server_.port(), tls_ != nullptr);
  return {};
}

void Svckitd::run() {
  const unsigned threads = config_.threads != 0 ? config_.threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (unsigned i = 1; i < threads; ++i) pool.emplace_back([this] { io_.run(); });
  io_.run();
  for (auto& t : pool) t.join();
}

void Svckitd::request_shutdown() {
  asio::post(control_, [this] {
    if (stopping_) return;
    stopping_ = true;
    asio::co_spawn(control_, shutdown_sequence(), asio::detached);
  });
}

http::Awaitable<void> Svckitd::shutdown_sequence() {
  logs::info("svckitd", "event=shutdown_begin connections={}", server_.connections());
  boost::system::error_code ec;
  signals_.cancel(ec);
  hangup_.cancel(ec);
  health_.stop();
  if (dns_) dns_->stop();
  server_.begin_shutdown();
  if (gateway_) {
    gateway_->begin_shutdown();
    co_await gateway_->stop_following();  // its watch would otherwise be released below
  }
  registry_.release_watchers();
  config_store_.release_waiters();
  const auto deadline = std::chrono::steady_clock::now() + config_.shutdown_timeout;
  const auto open = [this] { return server_.connections() + (gateway_ ? gateway_->connections() : 0); };
  while (open() > 0 && std::chrono::steady_clock::now() < deadline) {
    co_await sleep_for(std::chrono::milliseconds(5));
  }
  if (members_) {
    // Leaving revokes its lease: the others take over its checks at once. The waits below outlast
    // an etcd call in flight (its timeout, 5 s by default): those frames refer to the objects.
    members_->stop();
    (void)co_await members_left_.wait(std::chrono::seconds(15));
  }
  if (config_replica_) {
    config_replica_->stop();
    (void)co_await config_followed_.wait(std::chrono::seconds(5));
  }
  if (acl_replica_) {
    acl_replica_->stop();
    (void)co_await acl_followed_.wait(std::chrono::seconds(5));
  }
  if (shared_routes_) {
    shared_routes_->stop();
    (void)co_await routes_followed_.wait(std::chrono::seconds(5));
  }
  if (cluster_) {
    cluster_->stop();
    (void)co_await cluster_followed_.wait(std::chrono::seconds(15));
    while (!cluster_->idle() && std::chrono::steady_clock::now() < deadline) {
      co_await sleep_for(std::chrono::milliseconds(5));
    }
  }
  if (gateway_) co_await gateway_->shutdown();                // after the drain: requests in flight used its client
  if (trace_exporter_) co_await trace_exporter_->shutdown();  // the last spans, bounded by its timeout
  if (persister_) {
    if (auto r = persister_->write_changed(); !r) {
      logs::error("svckitd", "event=final_snapshot_failed error=\"{}\"", r.error().describe());
      exit_code_ = 1;
    }
  }
  logs::info("svckitd", "event=shutdown_done connections_left={}", open());
  io_.stop();
}

http::Awaitable<void> Svckitd::sweep_loop() {
  while (!stopping_) {
    co_await sleep_for(config_.sweep_interval);
    const auto before = registry_.expirations_total();
    if (registry_.sweep() > 0) {
      const auto expired = registry_.expirations_total() - before;
      expirations_.inc(expired);
      if (expired > 0) logs::info("svckitd", "event=instances_expired count={}", expired);
    }
    co_await consul_.reap();
    LabelValues live;
    for (const auto& s : registry_.services_now()) {
      if (s.instances > 0) live.insert(s.name);
    }
    if (const auto expired = metric_expiry_.sweep(live); !expired.empty()) {
      logs::info("svckitd", "event=metric_series_expired services={}", expired.size());
    }
  }
}

std::string Svckitd::routes_stamp() const {
  std::string stamp = file_stamp(config_.config_file);
  for (const auto& file : key_files_) stamp += ";" + file_stamp(file);
  return stamp;
}

std::string Svckitd::file_stamp(const std::filesystem::path& file) {
  std::error_code ec;
  const auto time = std::filesystem::last_write_time(file, ec);
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) return "missing";
  return std::to_string(time.time_since_epoch().count()) + "/" + std::to_string(size);
}

void Svckitd::wait_for_hangup() {
  hangup_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec) return;
    asio::post(control_, [this] {
      if (stopping_) return;
      reload_routes("SIGHUP");
      wait_for_hangup();
    });
  });
}

http::Awaitable<void> Svckitd::reload_loop() {
  while (!stopping_) {
    co_await sleep_for(config_.gateway_reload_interval);
    if (stopping_) break;
    auto stamp = routes_stamp();
    if (stamp == config_stamp_) continue;
    config_stamp_ = std::move(stamp);
    reload_routes("file changed");
  }
}

void Svckitd::reload_routes(const char* why) {
  // The whole file must parse and validate; only gateway.routes is applied (other settings need a
  // restart). On any error the routes in force stay.
  std::ifstream in(config_.config_file);
  std::stringstream text;
  text << in.rdbuf();
  SvckitdConfig fresh;
  auto applied = in ? apply_yaml(fresh, text.str(), config_.config_file.string())
                    : Result<void>(make_error(ErrorCode::invalid_argument,
                                              "cannot read " + config_.config_file.string(), "config"));
  if (applied) applied = validate(fresh);
  if (!applied) {
    reloads_.with({"error"}).inc();
    logs::error("svckitd", "event=routes_reload_failed why=\"{}\" error=\"{}\" (the routes in force stay)", why,
                applied.error().describe());
    return;
  }
  reloads_.with({"ok"}).inc();
  logs::info("svckitd", "event=routes_reloaded why=\"{}\" routes={}", why, fresh.gateway_routes.size());
  key_files_ = route_key_files(fresh.gateway_routes);
  {
    std::lock_guard lock(routes_mutex_);
    file_routes_ = std::move(fresh.gateway_routes);
  }
  gateway_->set_routes(route_table());
}

RouteTable Svckitd::route_table() const {
  std::lock_guard lock(routes_mutex_);
  auto routes = file_routes_;
  routes.insert(routes.end(), shared_routes_list_.begin(), shared_routes_list_.end());
  return RouteTable{std::move(routes), config_.gateway_service_paths, {}, {}};
}

http::Awaitable<http::Response> Svckitd::get_shared_routes(http::RouteContext&) {
  using nlohmann::json;
  json body{{"mode", cluster_ ? "cluster" : "embedded"}, {"routes", json::array()}, {"index", 0}};
  if (shared_routes_) {
    auto [document, index] = shared_routes_->current();
    body["routes"] = document.value("routes", json::array());
    body["index"] = index;
    if (document.contains("updated_at")) body["updated_at"] = document["updated_at"];
    if (document.contains("reason")) body["reason"] = document["reason"];
  }
  {
    std::lock_guard lock(routes_mutex_);
    body["file_routes"] = file_routes_.size();
  }
  co_return http::json_response(http::Status::ok, body);
}

http::Awaitable<http::Response> Svckitd::put_shared_routes(http::RouteContext& ctx) {
  using nlohmann::json;
  if (!shared_routes_) {
    co_return http::error_response(make_error(
        ErrorCode::invalid_argument,
        "shared gateway routes live in the cluster store: start svckitd with --store etcd://...; in the embedded "
        "mode the routes come from the config file (gateway.routes)",
        "store"));
  }
  auto body = parse_json(ctx.request.body());
  if (!body) co_return http::error_response(body.error());
  if (!body->is_object() || !body->contains("routes")) {
    co_return http::error_response(
        make_error(ErrorCode::invalid_argument, "the body must be {\"routes\": [...], \"reason\": \"...\"}", "routes"));
  }
  std::string reason;
  if (body->contains("reason")) {
    if (!(*body)["reason"].is_string()) {
      co_return http::error_response(make_error(ErrorCode::invalid_argument, "reason must be a string", "reason"));
    }
    reason = (*body)["reason"].get<std::string>();
  }
  auto written = co_await shared_routes_->write(std::move((*body)["routes"]), std::move(reason));
  if (!written) co_return http::error_response(written.error());
  std::size_t count = 0;
  {
    std::lock_guard lock(routes_mutex_);
    count = shared_routes_list_.size();
  }
  co_return http::json_response(http::Status::ok, json{{"index", *written}, {"routes", count}});
}

http::Awaitable<void> Svckitd::follow_shared_routes() {
  co_await shared_routes_->follow();
  routes_followed_.set();
}

namespace {
std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) text.pop_back();
  return text;
}
}  // namespace

/// ACLs: the token store (persisted beside the snapshot unless acl.tokens_file says otherwise),
/// the bootstrap token at first start, the token API and the guard on every route.
Result<void> Svckitd::start_acl() {
  auto file = config_.acl_tokens_file;
  if (file.empty() && !config_.snapshot_file.empty()) file = config_.snapshot_file.string() + ".acl.json";
  acl_tokens_ = std::make_unique<AclTokenStore>(cluster_ ? std::filesystem::path() : file, time_);
  if (cluster_) {  // the tokens live in etcd, shared by every node
    file = cluster_->url();
    acl_replica_ = std::make_unique<AclReplica>(cluster_->etcd(), cluster_->prefix(), *acl_tokens_);
    cluster_->on_probe_failed([this] { acl_replica_->reopen(); });
    cluster_->on_store_rewound([this] { acl_replica_->reload(); });
    if (auto r = run_at_start(acl_replica_->load()); !r) return r;
    asio::co_spawn(io_, follow_acl_replica(), asio::detached);
  } else if (auto r = acl_tokens_->load(); !r) {
    return r;
  }
  std::string secret = config_.acl_bootstrap_token;
  if (secret.empty() && !config_.acl_bootstrap_token_file.empty()) {
    std::ifstream in(config_.acl_bootstrap_token_file);
    if (!in) {
      return make_error(ErrorCode::invalid_argument, "cannot read " + config_.acl_bootstrap_token_file.string(),
                        "acl.bootstrap_token_file");
    }
    std::stringstream text;
    text << in.rdbuf();
    secret = trimmed(text.str());
  }
  if (!acl_tokens_->bootstrapped()) {
    if (secret.empty()) {
      return make_error(ErrorCode::invalid_argument,
                        "acl.enabled needs a first management token: set acl.bootstrap_token_file (or "
                        "SVCKITD_ACL_BOOTSTRAP_TOKEN) to a secret of 16 to 256 bytes",
                        "acl.bootstrap_token_file");
    }
    auto made = acl_replica_ ? run_at_start(acl_replica_->bootstrap(secret)) : acl_tokens_->bootstrap(secret);
    if (!made) return made.error();
    if (*made) logs::info("svckitd", "event=acl_bootstrapped tokens_file=\"{}\"", file.string());
  } else if (!secret.empty()) {
    logs::info("svckitd", "event=acl_bootstrap_skipped reason=\"the token store was bootstrapped before\"");
  }
  AclRules anonymous;
  if (!config_.acl_anonymous_rules.empty()) {
    auto doc = parse_json(config_.acl_anonymous_rules);
    if (!doc) return make_error(ErrorCode::invalid_argument, doc.error().message, "acl.anonymous_rules");
    auto rules = AclRules::parse(*doc, "acl.anonymous_rules");
    if (!rules) return rules.error();
    anonymous = std::move(*rules);
  }
  acl_guard_ = std::make_unique<AclGuard>(*acl_tokens_, std::move(anonymous), metrics_);
  acl_api_ = std::make_unique<AclApi>(*acl_tokens_);
  acl_api_->set_replica(acl_replica_.get());
  acl_api_->add_routes(api_.router());
  api_.set_acl(acl_guard_.get());
  if (auto missing = AclGuard::uncovered(api_.router()); !missing.empty()) {  // a route added without a rule
    std::string names;
    for (const auto& m : missing) names += (names.empty() ? "" : ", ") + m;
    return make_error(ErrorCode::internal, "routes without an ACL rule (they would be refused): " + names,
                      "acl.enabled");
  }
  logs::info("svckitd", "event=acl_enabled tokens={}", acl_tokens_->size());
  return {};
}

/// The config store lives beside the registry snapshot: read at start, and written with it by the
/// Persister, so the embedded config source survives a restart like persistent registrations.
Result<void> Svckitd::restore_config_store() {
  const auto path = std::filesystem::path(config_.snapshot_file.string() + ".config.json");
  if (std::filesystem::exists(path)) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    auto saved = parse_json_or_discarded(text.str());
    if (auto r = config_store_.restore(saved); !r) {
      return make_error(ErrorCode::invalid_argument, path.string() + ": " + r.error().message, "snapshot_file");
    }
    logs::info("svckitd", "event=config_store_restored file={} version={}", path.string(),
               config_store_.current().version);
  }
  return {};
}

Result<void> Svckitd::start_cluster_store() {
  auto store =
      ClusterStore::create(config_.store, registry_, RegistryDeps{io_.get_executor(), time_, random_}, metrics_);
  if (!store) return store.error();
  cluster_ = std::move(*store);
  registry_.set_write_through(cluster_.get());
  api_.set_staleness([this] { return !cluster_->connected(); });
  config_replica_ = std::make_unique<ConfigReplica>(cluster_->etcd(), cluster_->prefix(), config_store_, time_, 64);
  config_api_.set_writer([this](ConfigApi::Drafter drafter) { return config_replica_->write(std::move(drafter)); });
  cluster_->on_probe_failed([this] { config_replica_->reopen(); });
  cluster_->on_store_rewound([this] { config_replica_->reload(); });
  shared_routes_ = std::make_unique<SharedRoutes>(cluster_->etcd(), cluster_->prefix(), time_,
                                                  [this](std::vector<GatewayRoute> routes) {
                                                    {
                                                      std::lock_guard lock(routes_mutex_);
                                                      shared_routes_list_ = std::move(routes);
                                                    }
                                                    if (gateway_) gateway_->set_routes(route_table());
                                                  });
  cluster_->on_probe_failed([this] { shared_routes_->reopen(); });
  cluster_->on_store_rewound([this] { shared_routes_->reload(); });
  // The node serves once its cache holds etcd's state: run the load here, before any listener.
  auto loaded = asio::co_spawn(io_, load_cluster_store(), asio::use_future);
  while (loaded.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    io_.run_one_for(std::chrono::milliseconds(50));
  }
  io_.restart();
  if (auto r = loaded.get(); !r) return r;
  asio::co_spawn(io_, follow_cluster_store(), asio::detached);
  asio::co_spawn(io_, follow_config_replica(), asio::detached);
  asio::co_spawn(io_, follow_shared_routes(), asio::detached);
  return {};
}

http::Awaitable<Result<void>> Svckitd::load_cluster_store() {
  const auto deadline = std::chrono::steady_clock::now() + config_.store_start_timeout;
  for (;;) {
    auto loaded = co_await cluster_->load();
    if (loaded) loaded = co_await config_replica_->load();
    if (loaded) loaded = co_await shared_routes_->load();
    if (loaded || std::chrono::steady_clock::now() >= deadline) co_return loaded;
    logs::warn("svckitd", "event=cluster_store_waiting store={} error=\"{}\"", config_.store,
               loaded.error().describe());
    co_await sleep_for(std::chrono::milliseconds(500));
  }
}

void Svckitd::join_cluster() {
  ClusterMember self;
  self.api = config_.address + ":" + std::to_string(server_.port());
  self.name = config_.cluster_node_name.empty() ? self.api : config_.cluster_node_name;
  if (gateway_) self.gateway = config_.address + ":" + std::to_string(gateway_->port());
  self.started = format_rfc3339(time_.system_now());
  members_ = std::make_unique<ClusterMembers>(cluster_->etcd(), cluster_->prefix(), std::move(self),
                                              config_.cluster_member_ttl, [this] { health_.ownership_changed(); });
  health_.set_ownership(
      [this](const std::string& service, const std::string& id) { return members_->owns(service + "/" + id); });
  // The node that checks an instance also removes its record once it has been expired for the grace.
  cluster_->set_ownership(
      [this](const std::string& service, const std::string& id) { return members_->owns(service + "/" + id); });
  asio::co_spawn(io_, run_membership(), asio::detached);
}

http::Awaitable<void> Svckitd::run_membership() {
  co_await members_->run();
  members_left_.set();
}

http::Awaitable<http::Response> Svckitd::list_members(http::RouteContext&) {
  using nlohmann::json;
  std::map<std::string, std::size_t> checks;  // instances with checks, by the node that checks them
  if (members_) {
    for (const auto& service : registry_.services_now()) {
      registry_.for_each(service.name, InstanceFilter{}, [&](const ServiceInstance& in, const std::string&) {
        if (!in.checks.empty()) ++checks[members_->owner(in.service + "/" + in.id)];
      });
    }
  }
  json members = json::array();
  if (members_) {
    for (const auto& m : members_->members()) {
      members.push_back({{"name", m.name},
                         {"api", m.api},
                         {"gateway", m.gateway},
                         {"started", m.started},
                         {"checked_instances", checks[m.name]},
                         {"self", m.name == members_->self().name}});
    }
  } else {
    const auto api = config_.address + ":" + std::to_string(server_.port());
    members.push_back({{"name", api},
                       {"api", api},
                       {"gateway", gateway_ ? config_.address + ":" + std::to_string(gateway_->port()) : ""},
                       {"checked_instances", health_.checked_instances()},
                       {"self", true}});
  }
  json body{{"mode", cluster_ ? "cluster" : "embedded"}, {"members", std::move(members)}};
  if (cluster_) {
    body["store"] = {{"url", cluster_->url()},
                     {"connected", cluster_->connected()},
                     {"revision", cluster_->applied()},
                     {"checked_here", health_.checked_instances()},
                     {"held_here", cluster_->held()}};
  }
  co_return http::json_response(http::Status::ok, body);
}

template <typename T>
T Svckitd::run_at_start(http::Awaitable<T> work) {
  auto done = asio::co_spawn(io_, std::move(work), asio::use_future);
  while (done.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    io_.run_one_for(std::chrono::milliseconds(50));
  }
  io_.restart();
  return done.get();
}

http::Awaitable<void> Svckitd::follow_acl_replica() {
  co_await acl_replica_->follow();
  acl_followed_.set();
}

http::Awaitable<void> Svckitd::follow_config_replica() {
  co_await config_replica_->follow();
  config_followed_.set();
}

http::Awaitable<void> Svckitd::follow_cluster_store() {
  co_await cluster_->follow();
  cluster_followed_.set();
}

http::Awaitable<void> Svckitd::tls_reload_loop() {
  while (!stopping_) {
    co_await sleep_for(config_.tls_reload_interval);
    if (stopping_) break;
    const std::pair<http::TlsServerContext*, const std::string*> contexts[] = {
        {tls_.get(), &config_.tls_cert_file}, {gateway_tls_.get(), &config_.gateway_tls_cert_file}};
    for (const auto& [context, cert_file] : contexts) {
      if (context == nullptr) continue;
      auto reloaded = context->reload_if_changed();
      if (!reloaded) {
        logs::error("svckitd", "event=tls_reload_failed error=\"{}\" (the certificate in force stays)",
                    reloaded.error().describe());
      } else if (*reloaded) {
        logs::info("svckitd", "event=tls_reloaded cert_file={}", *cert_file);
      }
    }
  }
}

http::Awaitable<void> Svckitd::snapshot_loop() {
  while (!stopping_) {
    co_await sleep_for(config_.snapshot_interval);
    if (stopping_) break;
    // Registrations are stored as they are acknowledged; this catches what changed without an
    // API write (health checks moving a persistent instance's status) and retries after a failure.
    (void)persister_->write_changed();
  }
}

}  // namespace svckit::daemon
