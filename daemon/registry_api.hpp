// The svckitd HTTP API over a MemoryRegistry: JSON in, JSON out, Prometheus metrics.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "daemon/acl_guard.hpp"
#include "daemon/audit_log.hpp"
#include "daemon/peer_rate_limiter.hpp"
#include "daemon/watch_slots.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/http/router.hpp"
#include "svckit/registry/memory_registry.hpp"

namespace svckit::daemon {

struct RegistryApiOptions {
  std::chrono::milliseconds default_wait{30'000};
  std::chrono::milliseconds max_wait{300'000};
  /// Host names (without port) the API answers to besides IP literals and "localhost". A browser
  /// page can reach svckitd through a DNS name an attacker controls (DNS rebinding) but never
  /// through an IP literal, so names must be listed. Default: none.
  std::vector<std::string> allowed_hosts;
  /// The domain of svckitd's DNS interface (dns.domain): `<hex>.addr.<domain>`, the names it gives
  /// addresses (e.g. as SRV targets, which Prometheus's dns_sd_configs scrapes by), pass as the IP
  /// literals they spell. Empty: none do.
  std::string address_domain;
};

/// The browser defences of svckitd's API, in the order applied (nullopt: the request may pass):
/// a Host that is neither an IP literal, "localhost", an address name `<hex>.addr.<address_domain>`
/// nor in `allowed_hosts` → 403 (field Host);
/// a write (not GET/HEAD/OPTIONS) from a page of another origin (an Origin header whose host:port
/// is not the Host) → 403 (field Origin); a write whose Content-Type is one a cross-origin page
/// can send without asking (text/plain, application/x-www-form-urlencoded, multipart/form-data)
/// → 415 (field Content-Type).
std::optional<http::Response> refuse_browser_attack(const http::Request& request,
                                                    const std::vector<std::string>& allowed_hosts,
                                                    const std::string& address_domain = {});

/// Thread-safe once constructed (the router is immutable; the registry and metrics are thread-safe).
class RegistryApi {
 public:
  /// `watches` admits the long polls (watches and blocking lists); it must outlive the API.
  RegistryApi(MemoryRegistry& registry, MetricsRegistry& metrics, RegistryApiOptions options, WatchSlots& watches);

  /// Entry point for HttpServer: routes, records per-route request metrics and latency.
  http::Awaitable<http::Response> handle(http::Request& request, const http::RequestContext* connection = nullptr);

  /// Set-up only (before serving): more routes, and a check every registration must pass.
  http::Router& router() { return router_; }
  void set_registration_check(std::function<Result<void>(const ServiceInstance&)> check) {
    registration_check_ = std::move(check);
  }
  /// Set-up only: storage for persistent state. A successful write (any method but GET/HEAD)
  /// during which `mark` changed (persistent state changed) awaits `sync` before it is answered;
  /// a failed sync turns the answer into 503 (not acknowledged). While `failure` reports an error,
  /// config writes are refused up front (after one more sync attempt), and /healthz answers 503
  /// naming it.
  void set_storage(std::function<http::Awaitable<Result<void>>()> sync, std::function<std::uint64_t()> mark,
                   std::function<std::optional<Error>()> failure) {
    sync_ = std::move(sync);
    change_mark_ = std::move(mark);
    storage_failure_ = std::move(failure);
  }

  /// Set-up only: while `stale()` says so (cluster mode, etcd unreachable), every answer carries
  /// `X-Svckit-Stale: true` (it comes from this node's cache, which may be behind).
  void set_staleness(std::function<bool()> stale) { stale_ = std::move(stale); }

  /// Set-up only: writes (any method but GET/HEAD/OPTIONS) are admitted per client address by
  /// `limiter` (429 + Retry-After past its rate), and recorded, accepted or refused, in `audit`.
  /// Either may be null (off); both must outlive the API.
  void set_write_controls(PeerRateLimiter* limiter, AuditLog* audit) {
    write_limiter_ = limiter;
    audit_ = audit;
  }
  /// Set-up only: ACLs. `guard` becomes the router's guard (call after every route was added:
  /// routes the guard has no rule for are refused) and names the token in the audit log. It must
  /// outlive the API.
  void set_acl(const AclGuard* guard) {
    acl_ = guard;
    router_.set_guard([guard](http::RouteContext& ctx) { return (*guard)(ctx); });
  }

 private:
  void add_routes();
  http::Awaitable<http::Response> register_instance(http::RouteContext& ctx);
  http::Awaitable<http::Response> deregister(http::RouteContext& ctx);
  http::Awaitable<http::Response> heartbeat(http::RouteContext& ctx);
  http::Awaitable<http::Response> set_status(http::RouteContext& ctx);
  http::Awaitable<http::Response> get_instance(http::RouteContext& ctx);
  http::Awaitable<http::Response> list_instances(http::RouteContext& ctx);
  http::Awaitable<http::Response> list_services(http::RouteContext& ctx);
  http::Awaitable<http::Response> watch(http::RouteContext& ctx);
  http::Response metrics_text();

  /// Reads ?index= and ?wait= (bounded by max_wait).
  Result<WatchRequest> watch_request(const http::Target& target, std::string service) const;

  /// Parks `request` for the client of `ctx`: a watch slot is taken for the wait, and the watch
  /// ends at once if the client closes its connection.
  /// Drops the events and snapshot entries of services the caller may not read.
  static void filter_watch_result(const http::RouteContext& ctx, WatchResult& result);
  http::Awaitable<Result<WatchResult>> parked_watch(const http::RouteContext& ctx, WatchRequest request);

  MemoryRegistry& registry_;
  MetricsRegistry& metrics_;
  WatchSlots& watches_;
  RegistryApiOptions options_;
  http::Router router_;
  std::function<Result<void>(const ServiceInstance&)> registration_check_;
  std::function<http::Awaitable<Result<void>>()> sync_;
  std::function<std::uint64_t()> change_mark_;
  std::function<std::optional<Error>()> storage_failure_;
  std::function<bool()> stale_;
  PeerRateLimiter* write_limiter_ = nullptr;
  AuditLog* audit_ = nullptr;
  const AclGuard* acl_ = nullptr;
  Counter& registrations_;
  Counter& deregistrations_;
  Counter& discoveries_;
  Counter& heartbeats_;
  Family<Counter>& requests_;
  Family<Histogram>& latency_;
  Family<Gauge>& instances_active_;
  Gauge& watchers_active_;
  Gauge& long_polls_;
  Counter& throttled_;
};

}  // namespace svckit::daemon
