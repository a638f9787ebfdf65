// ServiceClient: call services by name. One client per process, created at start-up, shared by
// every caller. A call goes through one pipeline: bulkhead → service circuit breaker → per attempt
// (pick an instance — never one already tried, never one whose own breaker is open — with a
// timeout of min(per_try, what the deadline leaves), over pooled keep-alive connections) → retry
// on another instance for retryable failures while the retry budget and the deadline allow →
// fallback. Every outcome feeds the outlier detector, the balancer's latency statistics, the
// breakers and the budget.
//
// Three ways to reach a service, per service, by configuration alone: discovery + client-side
// balancing (default), a static URL list, or a gateway (`{gateway}/{service}{path}`).
//
// Thread-safety: every method may be called from any coroutine on the client's executor (or a
// strand of it); configuration updates may come from any thread.
// Lifetime: co_await shutdown() (or stop the executor) before destroying the client — a hedge's
// cancelled loser may still be finishing after its call returned, and shutdown() waits for it.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "svckit/balance/service_balancer.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/http/client.hpp"
#include "svckit/resilience/backoff.hpp"
#include "svckit/resilience/circuit_breaker.hpp"
#include "svckit/resilience/deadline.hpp"
#include "svckit/trace/tracer.hpp"

namespace svckit {

enum class CallErrorKind {
  timeout,
  connect,
  no_instances,
  circuit_open,
  http_status,
  budget_exhausted,
  bulkhead_full,
  rate_limited,
  cancelled,
  invalid_argument
};
std::string_view to_string(CallErrorKind kind) noexcept;

/// What a failed call came to. Thrown by call(), returned by try_call().
class ServiceCallError : public std::runtime_error {
 public:
  ServiceCallError(CallErrorKind kind, const std::string& message, std::string service, std::string instance = {},
                   int status = 0, int attempts = 0);
  CallErrorKind kind;
  std::string service;
  std::string instance;  // the last instance tried, if any
  int status;            // HTTP status for http_status
  int attempts;
};

/// Retry policy of a call. Retries go to another instance whenever one exists.
struct RetryPolicy {
  int max_attempts = 3;  // including the first
  BackoffPolicy backoff{BackoffKind::full_jitter, std::chrono::milliseconds(25), std::chrono::milliseconds(1000), 2.0};
  std::set<int> retry_on_statuses{502, 503, 504};  // plus connect errors, resets and timeouts
  bool retry_non_idempotent = false;               // POST/PATCH retried only when the call says so
};

/// Hedging: when an idempotent attempt has not answered after `delay`, a second attempt goes to
/// another instance; the first good answer wins and the other is cancelled. Hedges draw on the
/// same retry budget as retries.
struct HedgingPolicy {
  bool enabled = false;
  std::chrono::milliseconds delay{50};
};

/// Fault injection (Envoy's fault filter, Polly's Simmy): rehearse failures in staging. Off by
/// default. Percentages are 0..100, rolled per attempt with the injected Random.
struct FaultInjection {
  double delay_percent = 0;
  std::chrono::milliseconds delay{0};
  double abort_percent = 0;  // answer `abort_status` without calling
  int abort_status = 503;
};

/// Settings of one service (merged over the client's defaults, see ServiceClientOptions).
struct ServiceConfig {
  std::chrono::milliseconds timeout{10'000};         // overall deadline of a call
  std::chrono::milliseconds per_try_timeout{3'000};  // one attempt
  RetryPolicy retry;
  CircuitBreakerOptions service_breaker;   // short-circuits the whole service (→ fallback)
  CircuitBreakerOptions instance_breaker;  // takes one instance out of the pick set
  /// Which HTTP answers count as failures for both breakers (connect errors, resets and timeouts
  /// always do; 4xx never). Default: all 5xx. {502, 503, 504} counts only gateway failures — an
  /// instance that is down or overloaded — not an application's own 500 (Envoy's
  /// consecutive_gateway_failure; svckitd's gateway uses it, so one client calling a path that
  /// answers 500 cannot open the breaker for everyone).
  enum class BreakerCounts { all_5xx, gateway_failures } breaker_counts = BreakerCounts::all_5xx;
  std::uint32_t max_concurrent_calls = 0;  // bulkhead; 0 = unlimited
  /// The retry budget shared by retries and hedges, per service. token_bucket: gRPC A6 (a failed
  /// attempt takes a token, a good one gives back token_ratio; retries while tokens > max / 2).
  /// concurrency: Envoy's retry_budget (retries in flight <= max(min_concurrency, percent % of the
  /// calls in flight)).
  enum class RetryBudgetMode { token_bucket, concurrency } retry_budget_mode = RetryBudgetMode::token_bucket;
  double retry_budget_max_tokens = 10;
  double retry_budget_token_ratio = 0.1;
  double retry_budget_percent = 20;
  std::uint32_t retry_budget_min_concurrency = 3;
  ServiceBalancerOptions balancing = [] {
    ServiceBalancerOptions b;
    b.policy = "least_request";
    b.outlier = OutlierOptions{};
    return b;
  }();
  std::vector<std::string> static_urls;  // non-empty: call these, not discovery ("http://h:p")
  HedgingPolicy hedging;
  double rate_limit_per_second = 0;  // client-side token bucket; 0 = unlimited
  double rate_limit_burst = 0;       // 0 = one second's worth
  bool adaptive_throttling = false;  // Google SRE client-side throttling (K = 2, 2-minute window)
  /// Learned limit of calls in flight (Netflix concurrency-limits defaults); over it: bulkhead_full.
  enum class AdaptiveConcurrency { off, aimd, gradient2 } adaptive_concurrency = AdaptiveConcurrency::off;
  FaultInjection faults;
  /// Sent with every call to this service unless the call sets the same header itself (a tenant,
  /// a client id). Never logged.
  std::vector<std::pair<std::string, std::string>> headers;
  /// An API key sent in `api_key_header` with every call (unless the call sets that header); with
  /// api_key_header "Authorization" it goes as "Bearer <key>". Never logged.
  std::string api_key;
  std::string api_key_header = "X-API-Key";
};

struct ServiceClientOptions {
  ServiceConfig defaults;
  std::map<std::string, ServiceConfig> services;  // per-service overrides (whole configs)
  std::string gateway_url;                        // non-empty: services without static URLs go through the gateway
  http::ClientOptions pool;
};

/// Per call; unset fields come from the service's config.
struct CallOptions {
  CallOptions() = default;                         // not an aggregate (GCC 12 coroutine note in registry/registry.hpp)
  std::multimap<std::string, std::string> params;  // query parameters, URL-encoded by the client
  std::string body;
  std::string content_type;  // default application/json when body is set
  std::vector<std::pair<std::string, std::string>> headers;
  /// Fields sent as they are, before `headers`: a proxy's forwarded head (svckitd's gateway builds
  /// them once from the incoming request and the call moves them into its own request — no list
  /// of pairs and no second copy in between). A traceparent among them continues that trace.
  http::beast_http::fields fields;
  /// The trace this call continues (the span of the request being served), as a context rather
  /// than a `traceparent` text among `fields`/`headers`: a proxy that has the context already
  /// saves printing it and the call parsing it again. When set, it wins over such a header.
  std::optional<trace::SpanContext> trace_parent;
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<int> max_attempts;
  std::optional<bool> retry_non_idempotent;
  /// This call's retry strategy instead of the service's: attempts, backoff (kind, base, cap),
  /// the statuses retried, non-idempotent methods. max_attempts / retry_non_idempotent above still
  /// win when set.
  std::optional<RetryPolicy> retry;
  /// false: this call bypasses the service's and the instances' circuit breakers (neither asked
  /// nor fed) — for a health probe or an operator's call that must reach a tripped service.
  std::optional<bool> circuit_breaker;
  std::optional<std::string> hash_key;  // ring_hash / maglev key
  std::optional<bool> hedge;            // override the service's hedging.enabled
  /// The caller's own deadline (e.g. from incoming_deadline() of the request being served): the
  /// call never outlives it.
  std::optional<Deadline> deadline;
  /// Streams the body of a good answer (status below 400) to this callable as it arrives, through
  /// a 64 KiB buffer, instead of into the Response (whose body then stays empty): bodies of any
  /// size in bounded memory; max_response_bytes does not apply to them. It runs on an I/O thread;
  /// an error it returns fails the call. An attempt that delivered bytes is never retried, and
  /// streamed calls are not hedged (two answers cannot share one sink).
  http::BodySink on_body;
  /// For proxies (svckitd's gateway): the request body pulled from a source as it is sent (set its
  /// Content-Length in `headers` when known, else it goes chunked), and a good answer's head and
  /// body handed to asynchronous sinks with back-pressure. The same rule as on_body: an attempt
  /// that pulled or delivered a byte is never retried (a failure before that still is), and such
  /// calls are not hedged.
  http::Streaming streaming;
  /// Sends this call's attempts through this transport instead of the client's own pool (a proxy
  /// with one pool per I/O thread). Must outlive the call, and any hedge it starts.
  http::Transport* transport = nullptr;
  /// Called when the call fails for good (or the service breaker is open): its answer is returned.
  std::function<std::optional<http::Response>(const ServiceCallError&)> fallback;
  /// The same as a coroutine (it may read a local database or call another service); runs on the
  /// client's executor. Tried after `fallback` when both are set and `fallback` gave nothing.
  std::function<Awaitable<std::optional<http::Response>>(ServiceCallError)> async_fallback;
};

struct CallResult {
  std::optional<http::Response> response;
  std::optional<ServiceCallError> error;
  int attempts = 0;
  std::string instance;  // who answered
  /// A response below 400 (or a fallback's answer). An http_status error keeps the response too.
  bool ok() const { return response.has_value() && !error.has_value(); }
};

/// One call of a call_all() batch.
struct CallSpec {
  CallSpec() = default;  // not an aggregate (GCC 12 coroutine note in registry/registry.hpp)
  CallSpec(std::string s, http::Verb m, std::string p,
           CallOptions o = CallOptions{})  // NOLINT(performance-unnecessary-value-param): moved in
      : service(std::move(s)), method(m), path(std::move(p)), options(std::move(o)) {}
  std::string service;
  http::Verb method = http::Verb::get;
  std::string path;
  CallOptions options;
};

/// One instance as a client's balancing sees it now (ServiceClient::inspect).
struct InstanceBalancingView {
  std::string id;
  std::string address;                              // host:port
  InstanceStatus status = InstanceStatus::healthy;  // as discovery last reported it
  int weight = 0;
  /// nullopt: outlier detection is off for the service (or has not seen the instance yet).
  std::optional<OutlierHostView> outlier;
  BreakerState breaker = BreakerState::closed;  // the instance's breaker (closed until first used)
};

/// A service as a client's balancing sees it now: what Envoy's admin /clusters page shows.
struct ServiceBalancingView {
  std::string service;
  BalancerState balancer;  // host counts, panic
  bool spilled_over = false;
  BreakerState service_breaker = BreakerState::closed;
  std::vector<InstanceBalancingView> instances;  // sorted by id
};

/// get_metrics(): the same figures are Prometheus series (svckit_client_*) when a MetricsRegistry
/// is given.
struct ServiceClientStats {
  std::uint64_t total_calls = 0, successful_calls = 0, failed_calls = 0, retries = 0, hedges = 0, fallbacks = 0;
  std::uint64_t breaker_trips = 0, budget_exhausted = 0;
  std::map<CallErrorKind, std::uint64_t> failures_by_kind;
  std::int64_t in_flight = 0;
  std::size_t instance_breakers = 0;  // held now; those of instances that left discovery are dropped
  http::ClientStats pool;             // connections opened / reused / idle, requests sent
};

class ServiceClient {
 public:
  struct Deps {
    boost::asio::any_io_executor executor;
    DiscoveryClient* discovery = nullptr;  // may be null when every service is static or gatewayed
    const BalancerPlugins& balancers;
    Random& random;
    const TimeSource& time;
    MetricsRegistry* metrics = nullptr;
    /// Null: the client's own HttpClient (options.pool). A simulation passes its own transport.
    http::Transport* transport = nullptr;
    /// Null: real time (AsioSleeper). Must pair with `time`: a simulation passes both.
    Sleeper* sleeper = nullptr;
    /// Non-null: every call is a span ("call <service>", internal) with one child span per attempt
    /// and hedge ("<METHOD>", client; OpenTelemetry's HTTP semantic conventions), and each attempt
    /// sends its own span's traceparent. Null: the caller's traceparent (or a new one) is sent as is.
    const trace::Tracer* tracer = nullptr;
  };
  /// Errors: invalid options (field named, e.g. "services.orders.retry.backoff.cap").
  static Result<std::unique_ptr<ServiceClient>> create(ServiceClientOptions options, Deps deps);
  ~ServiceClient();  // NOLINT(performance-trivially-destructible): Impl is incomplete here

  Awaitable<CallResult> try_call(std::string service, http::Verb method, std::string path, CallOptions options = {});
  /// As try_call, but a failure throws ServiceCallError.
  Awaitable<http::Response> call(std::string service, http::Verb method, std::string path, CallOptions options = {});
  /// Runs every call concurrently (Python's asyncio.gather); results in the order given.
  Awaitable<std::vector<CallResult>> call_all(std::vector<CallSpec> calls);
  /// Blocking facade for code that is not async. Must not be called from a thread running the
  /// client's executor (it would wait for itself).
  CallResult call_sync(std::string service, http::Verb method, std::string path, CallOptions options = {});

  /// Where a connection that outlives one call (a WebSocket tunnel) should go: an instance chosen
  /// by the same balancer, health, outlier and breaker rules as a call's first attempt, never one
  /// in `exclude` (instance ids); in gateway mode, the gateway. `target` is the path to request
  /// there. Errors: invalid_argument (bad name), unavailable (no instance can take it).
  struct Endpoint {
    net::HostPort endpoint;
    std::string target;
    std::string instance;
  };
  Result<Endpoint> pick_endpoint(const std::string& service, const std::string& path,
                                 const std::vector<std::string>& exclude = {});

  /// Replaces one service's config at run time (new calls use it; breakers and budget restart).
  Result<void> update_service_config(const std::string& service, ServiceConfig config);
  /// Stops accepting calls (cancelled), waits up to `drain` for calls in flight, closes the pool.
  Awaitable<void> shutdown(std::chrono::milliseconds drain);
  ServiceClientStats stats() const;
  ServiceClientStats get_metrics() const { return stats(); }
  /// The balancing state of `service`: instances, outlier ejections, breakers. nullopt when the
  /// client has not called the service yet (its state is made on the first call) or reaches it
  /// through a gateway. Thread-safe; holds each lock it reads under briefly (the client's, the
  /// balancer's, the detector's, each breaker's — calls take the last two too): for dashboards and
  /// debugging, not for a hot loop.
  std::optional<ServiceBalancingView> inspect(const std::string& service) const;

  struct ServiceState;

 private:
  ServiceClient(ServiceClientOptions options, Deps deps);
  /// The service's state; lock-free after a thread's first lookup of it (a per-thread cache).
  std::shared_ptr<ServiceState> state_for(const std::string& service);
  std::shared_ptr<ServiceState> state_for_locked(const std::string& service);
  /// `options` must outlive the call (try_call's frame owns it).
  /// The retry loop. Takes the call's fields and body out of `options` (moved into its request).
  Awaitable<CallResult> run(std::shared_ptr<ServiceState> state, http::Verb method, std::string target,
                            CallOptions& options);

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The deadline a caller sent with `request` (X-Svckit-Deadline-Ms), measured from `now`; nullopt
/// when absent or malformed (a malformed header never fails the request it came with).
std::optional<Deadline> incoming_deadline(const http::RequestHead& request, SteadyTime now);
/// The same from the header's value already found (empty: absent, also nullopt).
std::optional<Deadline> incoming_deadline(std::string_view header_value, SteadyTime now);

/// GET `path` on `service` through an application-owned client; throws ServiceCallError.
Awaitable<http::Response> call_service(ServiceClient& client, std::string service, std::string path);

/// Validates a ServiceConfig; errors name the field under `prefix`.
Result<void> validate(const ServiceConfig& config, const std::string& prefix);

}  // namespace svckit
