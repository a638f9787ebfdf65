// Internal to src/client: ServiceClient's state (ServiceClient::Impl) and the per-attempt
// machinery it runs, declared here and defined by responsibility: client_metrics.cpp (metric
// families and per-service series), route_and_attempt.cpp (route choice, the request, one attempt),
// hedging.cpp (the hedge race), admission.cpp (the call's admission guard); service_client.cpp holds
// the public methods and the retry loop. Include it from src/client only.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/service_state.hpp"
#include "svckit/client/service_client.hpp"
#include "svckit/resilience/deadline.hpp"

namespace svckit {

namespace client_detail {

constexpr std::chrono::milliseconds kMargin{2}, kMinAttempt{1};
constexpr std::chrono::seconds kTickEvery{1};
constexpr std::chrono::milliseconds kPoolPublishEvery{100};

/// A caller's synchronous body sink, awaited like the transport's asynchronous ones.
Awaitable<Result<void>> feed_sink(const http::BodySink* sink, std::string_view piece);

/// Where one attempt goes.
struct Route {
  net::HostPort endpoint;
  std::string target;
  std::string instance;  // instance id, or "gateway"
  Pick pick;
  std::shared_ptr<CircuitBreaker> breaker;
  CircuitBreaker::Permit permit;
  trace::SpanContext trace_parent;  // the call's span (valid when the client traces)
  int resend = 0;                   // attempts before this one (OpenTelemetry's http.request.resend_count)
  bool hedge = false;
  const std::set<int>* retry_on = nullptr;  // the call's own retried statuses; null: the service's
};

/// What one attempt came to.
struct Attempt {
  Result<http::Response> answer = make_error(ErrorCode::cancelled, "not sent");
  std::chrono::nanoseconds latency{0};
  bool retryable = false;
  bool not_sent = false;  // failed before the request left: retried for any method, outside the budget
  std::string instance;
};

/// The Prometheus families of a ServiceClient (all null without a MetricsRegistry).
struct ClientFamilies {
  explicit ClientFamilies(MetricsRegistry* metrics);
  Family<Counter>* calls = nullptr;
  Family<Counter>* retries = nullptr;
  Family<Counter>* hedges = nullptr;
  Family<Counter>* fallbacks = nullptr;
  Family<Counter>* budget_exhausted = nullptr;
  Family<Histogram>* duration = nullptr;
  Family<Gauge>* in_flight = nullptr;
  Family<Gauge>* breaker = nullptr;
  Family<Counter>* transitions = nullptr;
  Family<Gauge>* pool = nullptr;
};

/// The admission of one call, as one RAII guard: enter() takes, in order, a bulkhead slot, an
/// adaptive-limit slot, a rate-limiter token, adaptive throttling's consent and a service-breaker
/// permit, or says why not (and gives back what it took). finish() gives the service breaker,
/// adaptive throttling and the adaptive limit the call's verdict. The destructor gives back
/// whatever is still held — also when the calling coroutine is destroyed mid-call: a breaker
/// permit never taken back would hold a half-open breaker's probe slot for good.
class CallAdmission {
 public:
  struct Refusal {
    CallErrorKind kind;
    std::string message;
  };
  /// `use_breaker` false: the service breaker is neither asked nor fed (CallOptions::circuit_breaker).
  CallAdmission(ServiceClient::ServiceState& state, const TimeSource& time, bool use_breaker = true);
  CallAdmission(const CallAdmission&) = delete;
  CallAdmission& operator=(const CallAdmission&) = delete;
  ~CallAdmission();

  std::optional<Refusal> enter();
  /// REQUIRES: enter() admitted the call. Call once, with the final result.
  void finish(const CallResult& result);

 private:
  ServiceClient::ServiceState& state_;
  const TimeSource& time_;
  bool use_breaker_;
  SteadyTime started_;
  bool in_bulkhead_ = false;
  bool in_adaptive_ = false;
  int adaptive_in_flight_ = 0;
  bool adaptive_dropped_ = false;
  std::optional<CircuitBreaker::Permit> permit_;
};

}  // namespace client_detail

using namespace client_detail;  // NOLINT(google-build-using-namespace): internal header of one component

struct ServiceClient::Impl {
  static std::uint64_t next_client_id() {
    static std::atomic<std::uint64_t> next{1};
    return next.fetch_add(1, std::memory_order_relaxed);
  }
  Impl(ServiceClientOptions o, Deps d);

  /// The service's series, looked up again when the registry removed series since (one atomic
  /// load on the common path).
  std::shared_ptr<const ClientSeries> series_of(ServiceClient::ServiceState& state);
  /// Discovery mode: feed the balancer when the registry moved since it last did.
  void refresh_from_discovery(ServiceClient::ServiceState& state);
  /// Outlier intervals and un-ejections: ticked from the call path, at most once a second, by
  /// whichever call finds it due (no timer to own, and a simulation's virtual clock drives it).
  void tick_balancer(ServiceClient::ServiceState& state);
  /// W3C traceparent: the caller's when given in the headers, else a new trace.
  /// The caller's traceparent (a view into `options`), else a new one written into `out`.
  std::string_view traceparent(const CallOptions& options, trace::SpanContext::TraceparentText& out);
  /// The caller's traceparent, when its headers carry one.
  /// The caller's header `name` (from fields, else headers; any case), if given.
  /// A view into `options`: valid while its fields and headers are (make_request moves the fields).
  static std::optional<std::string_view> caller_header(const CallOptions& options, std::string_view name);
  static std::optional<std::string_view> caller_traceparent(const CallOptions& options) {
    return caller_header(options, "traceparent");
  }
  bool take_retry_token(ServiceClient::ServiceState& state);
  /// Where an attempt goes: the gateway, or an instance not tried yet whose breaker lets it through.
  std::optional<Route> choose_route(ServiceClient::ServiceState& state, const std::string& target,
                                    const CallOptions& options, std::vector<std::string>& tried, CallErrorKind& why);
  /// The call's request: method, the caller's fields and body (moved out of `options`), the
  /// trace; aim() gives it each
  /// attempt's target and deadline. Built once per call and sent in place by every attempt.
  /// The service's default headers and API key, each unless the call set that header itself.
  static void add_service_headers(http::Request& request, const ServiceConfig& config);
  /// `trace` (the traceparent to send; empty: none is written) may point into options' own fields:
  /// Beast copies a value before it replaces a field.
  http::Request make_request(http::Verb method, CallOptions& options, std::string_view trace);
  static void aim(http::Request& request, const std::string& target, std::chrono::milliseconds remaining);
  /// One attempt on one route; its outcome feeds the balancer, the instance breaker and the budget.
  /// `state` is shared: a hedge's loser may still be running after its call returned. `route` and
  /// `request` are borrowed (they must outlive the attempt; a hedge gives each attempt its own).
  /// The attempt takes the route's instance id (moved into Attempt::instance).
  Awaitable<Attempt> send_attempt(std::shared_ptr<ServiceClient::ServiceState> state_ptr, Route& route,
                                  http::Request& request, std::chrono::milliseconds timeout,
                                  std::shared_ptr<CancelToken> cancel, http::Transport* via,
                                  const http::Streaming* streaming = nullptr);
  /// The primary attempt, plus a hedge to another instance if it has not answered after the
  /// hedging delay (budget permitting). The first good answer wins; the other attempt is cancelled.
  Awaitable<Attempt> hedged_attempt(std::shared_ptr<ServiceClient::ServiceState> state_ptr, Route primary,
                                    http::Request request, std::chrono::milliseconds timeout, const std::string& target,
                                    const CallOptions& options, std::vector<std::string>& tried, CallResult& result);
  /// The pool gauges, from the call path: at most every kPoolPublishEvery (the pool's stats take
  /// its lock and each gauge a label lookup, too dear for every call; a scrape sees them at most
  /// that old).
  void publish_pool(SteadyTime now);
  /// hedged_attempt's race on its own strand (hedging.cpp).
  struct HedgeRace;

  ServiceClientOptions options;
  Deps deps;
  ClientFamilies families;
  std::unique_ptr<http::HttpClient> owned_http;  // null when deps.transport is given
  http::Transport& http;
  AsioSleeper real_sleeper;
  Sleeper& sleeper;
  const std::uint64_t id = next_client_id();        // process-unique: keys the per-thread state caches
  std::mutex mutex;                                 // guards services and options.services
  std::atomic<std::uint64_t> states_generation{0};  // bumped after an entry of services is replaced
  std::map<std::string, std::shared_ptr<ServiceState>> services;
  std::atomic<bool> shutting_down{false};
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::uint64_t> total{0}, succeeded{0}, failed{0}, retries{0}, hedges{0}, fallbacks{0}, trips{0},
      exhausted{0};
  std::mutex kinds_mutex;
  std::map<CallErrorKind, std::uint64_t> kinds;
  std::atomic<std::uint64_t> trace_counter{1};
  std::atomic<std::int64_t> next_pool_publish_ns{0};  // steady clock, see publish_pool
};

}  // namespace svckit
