// ServiceClient against real HTTP servers (in-process FaultServers, and demo_service processes):
// retries land elsewhere, hung instances are cut and ejected, breakers open and recover, the
// deadline holds, a killed instance costs no failed idempotent call, and all three ways to reach
// a service work.
#include "svckit/client/service_client.hpp"
#include "svckit/trace/tracer.hpp"

#include <gtest/gtest.h>

#include <mutex>
#include <set>

#include <csignal>
#include <nlohmann/json.hpp>

#include "svckit/registry/memory_registry.hpp"
#include "svckit/testing/fault_server.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/process.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;
using testing::FaultServer;

BalancerPlugins builtin_balancers() {
  BalancerPlugins::Builder b;
  register_builtin_balancers(b);
  return std::move(b).build();
}

class Client : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) servers.push_back(std::make_unique<FaultServer>(io.io(), "s" + std::to_string(i)));
  }
  void TearDown() override {
    client.reset();
    io.stop();
  }
  /// A client whose service "orders" is the three servers (static URLs).
  void make(ServiceConfig config, std::string gateway = {}, DiscoveryClient* discovery = nullptr) {
    if (config.static_urls.empty() && gateway.empty() && discovery == nullptr) {
      for (const auto& s : servers) config.static_urls.push_back(s->url());
    }
    ServiceClientOptions options;
    options.services["orders"] = config;
    options.gateway_url = std::move(gateway);
    auto created = ServiceClient::create(options, {io.executor(), discovery, balancers, random, time, &metrics});
    ASSERT_TRUE(created.ok()) << created.error().describe();
    client = std::move(*created);
  }
  static ServiceConfig config() {
    ServiceConfig c;
    c.balancing.policy = "round_robin";
    c.retry.backoff.base = 1ms;
    c.retry.backoff.cap = 5ms;
    return c;
  }
  CallResult call(http::Verb verb = http::Verb::get, CallOptions options = CallOptions{}) {
    return io.run([&]() { return client->try_call("orders", verb, "/x", options); });
  }
  static std::string server_of(const CallResult& r) {
    return nlohmann::json::parse(r.response->body(), nullptr, false).value("server", "");
  }

  testing::IoThread io;
  RealRandom random;
  RealTimeSource time;
  BalancerPlugins balancers = builtin_balancers();
  MetricsRegistry metrics;
  std::vector<std::unique_ptr<FaultServer>> servers;
  std::unique_ptr<ServiceClient> client;
};

TEST_F(Client, RetriesLandOnAnotherInstanceAndCarryDeadlineAndTrace) {
  servers[1]->answer_status(503);
  auto c = config();
  c.balancing.outlier.reset();     // keep the failing server in rotation: every third pick
  c.retry_budget_token_ratio = 1;  // one success pays for one retry (the default 0.1 would throttle)
  make(c);
  for (int i = 0; i < 30; ++i) {
    auto r = call();
    ASSERT_TRUE(r.ok()) << (r.error ? r.error->what() : "");
    EXPECT_NE(server_of(r), "s1");
    EXPECT_LE(r.attempts, 2);
  }
  // Every answer from s1 cost exactly one retry, which went elsewhere (round robin's shared
  // counter moves on retries too, so s1's share is about, not exactly, a third).
  EXPECT_EQ(static_cast<std::uint64_t>(servers[1]->hits()), client->stats().retries);
  EXPECT_GE(servers[1]->hits(), 5);
  EXPECT_EQ(client->stats().successful_calls, 30u);
  const auto deadline = std::stoi(servers[0]->last_header("X-Svckit-Deadline-Ms"));
  EXPECT_GT(deadline, 9000);
  EXPECT_LE(deadline, 10000);
  EXPECT_EQ(servers[0]->last_header("traceparent").substr(0, 3), "00-");
  EXPECT_EQ(servers[0]->last_header("traceparent").size(), 55u);
}

// Without a tracer, a caller's traceparent (given as a field or as a header pair) goes out as it
// is, on every attempt; with none given, each call gets a new sampled one.
TEST_F(Client, TheCallersTraceparentGoesOutUnchangedOnEveryAttempt) {
  servers[0]->answer_status(503);
  auto c = config();
  c.balancing.outlier.reset();
  c.retry_budget_token_ratio = 1;
  make(c);
  const std::string given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  for (int i = 0; i < 6; ++i) {
    CallOptions options;
    if (i % 2 == 0) {
      options.fields.set("traceparent", given);
    } else {
      options.headers.emplace_back("TraceParent", given);
    }
    auto r = call(http::Verb::get, std::move(options));
    ASSERT_TRUE(r.ok()) << (r.error ? r.error->what() : "");
  }
  for (const auto& s : servers) EXPECT_EQ(s->last_header("traceparent"), given) << "the 503 and the retries alike";
  auto fresh = call();
  ASSERT_TRUE(fresh.ok());
  std::set<std::string> seen;
  for (const auto& s : servers) seen.insert(s->last_header("traceparent"));
  seen.erase(given);
  ASSERT_EQ(seen.size(), 1u);
  const auto made = *seen.begin();
  EXPECT_EQ(made.size(), 55u);
  EXPECT_TRUE(trace::parse_traceparent(made).has_value()) << made;
  EXPECT_EQ(made.substr(53), "01");
}

/// Keeps the spans it is given.
struct CollectedSpans final : trace::SpanSink {
  std::mutex mutex;
  std::vector<trace::SpanData> spans;
  void on_end(trace::SpanData span) override {
    std::lock_guard lock(mutex);
    spans.push_back(std::move(span));
  }
};

// A caller that has its trace context as an object (svckitd's gateway: the server span of the
// request it serves) passes it as CallOptions::trace_parent: it wins over a traceparent text among
// the fields; without a tracer it goes out as its own text, with one the call's span is its child
// and the attempt's span the child of that.
TEST_F(Client, ATraceParentContextWinsOverATraceparentField) {
  make(config());
  trace::SpanContext parent;
  ASSERT_TRUE(trace::from_hex("4bf92f3577b34da6a3ce929d0e0e4736", parent.trace_id));
  ASSERT_TRUE(trace::from_hex("00f067aa0ba902b7", parent.span_id));
  parent.sampled = true;
  const std::string stale = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  CallOptions options;
  options.fields.set("traceparent", stale);
  options.trace_parent = parent;
  ASSERT_TRUE(call(http::Verb::get, options).ok());
  std::set<std::string> sent;
  for (const auto& s : servers) sent.insert(s->last_header("traceparent"));
  EXPECT_TRUE(sent.count(parent.traceparent())) << "without a tracer: the context's own text";
  EXPECT_FALSE(sent.count(stale));

  CollectedSpans collected;
  trace::Tracer tracer(time, random, {.sample_ratio = 0.0}, &collected);
  ServiceClientOptions traced;
  traced.services["orders"] = config();
  for (const auto& s : servers) traced.services["orders"].static_urls.push_back(s->url());
  auto created = ServiceClient::create(
      traced, {io.executor(), nullptr, balancers, random, time, &metrics, nullptr, nullptr, &tracer});
  ASSERT_TRUE(created.ok()) << created.error().describe();
  client = std::move(*created);
  ASSERT_TRUE(call(http::Verb::get, options).ok());
  client.reset();
  std::lock_guard lock(collected.mutex);
  ASSERT_EQ(collected.spans.size(), 2U) << "sampled, as its parent is, though the ratio is 0";
  const auto& attempt = collected.spans[0];
  const auto& whole = collected.spans[1];
  EXPECT_EQ(whole.name, "call orders");
  EXPECT_EQ(whole.context.trace_id, parent.trace_id);
  EXPECT_EQ(whole.parent_span_id, parent.span_id);
  EXPECT_EQ(attempt.context.trace_id, parent.trace_id);
  EXPECT_EQ(attempt.parent_span_id, whole.context.span_id);
  sent.clear();
  for (const auto& s : servers) sent.insert(s->last_header("traceparent"));
  EXPECT_TRUE(sent.count(attempt.context.traceparent())) << "the request carries its attempt's span";
}

TEST_F(Client, TheRetryBudgetStopsRetriesFromMultiplyingAnOutage) {
  for (auto& s : servers) s->answer_status(503);
  auto c = config();
  c.balancing.outlier.reset();
  make(c);
  int attempts = 0;
  std::string last_error;
  int last_status = 0;
  for (int i = 0; i < 20; ++i) {
    const auto r = call();
    attempts += r.attempts;
    if (r.error) {
      last_error = r.error->what();
      last_status = r.error->status;
    }
  }
  // The caller (or its fallback) learns what failed, not only that retries were cut.
  EXPECT_NE(last_error.find("retry budget exhausted; attempt 1 failed: "), std::string::npos) << last_error;
  EXPECT_NE(last_error.find("503"), std::string::npos) << last_error;
  EXPECT_EQ(last_status, 503);
  // gRPC A6 defaults: 10 tokens, retries while > 5; each failed attempt takes one. Without the
  // budget: 60 attempts. With it: 5 tokens' worth of retries before it closes, then 1 per call.
  EXPECT_LE(attempts, 20 + 6);
  EXPECT_GT(client->stats().budget_exhausted, 10u);
  EXPECT_EQ(client->stats().failures_by_kind.at(CallErrorKind::budget_exhausted), client->stats().budget_exhausted);
}

TEST_F(Client, NonIdempotentCallsAreRetriedOnlyWhenAllowed) {
  for (auto& s : servers) s->answer_status(503);
  make(config());
  auto post = call(http::Verb::post);
  ASSERT_TRUE(post.error.has_value());
  EXPECT_EQ(post.error->kind, CallErrorKind::http_status);
  EXPECT_EQ(post.error->status, 503);
  EXPECT_EQ(post.attempts, 1);
  ASSERT_TRUE(post.response.has_value()) << "an http_status error keeps the answer, retried or not";
  EXPECT_EQ(post.response->result_int(), 503);

  CallOptions allow;
  allow.retry_non_idempotent = true;
  auto retried = call(http::Verb::post, allow);
  EXPECT_EQ(retried.attempts, 3);
  EXPECT_EQ(retried.error->kind, CallErrorKind::http_status);
  ASSERT_TRUE(retried.response.has_value());
  EXPECT_EQ(retried.response->result_int(), 503);
}

TEST_F(Client, ARequestThatNeverLeftIsRetriedForAnyMethodOutsideTheBudget) {
  auto c = config();
  c.static_urls = {"http://127.0.0.1:" + std::to_string(testing::free_port()), servers[0]->url()};  // refused, ok
  c.balancing.outlier.reset();    // keep the refusing instance in rotation
  c.retry_budget_max_tokens = 1;  // a budget that would allow no retry at all
  make(c);
  int retried = 0;
  for (int i = 0; i < 10; ++i) {
    auto post = call(http::Verb::post);  // not idempotent: only a request that never left may go again
    ASSERT_TRUE(post.ok()) << (post.error ? post.error->what() : "");
    retried += post.attempts - 1;
  }
  EXPECT_GE(retried, 4);  // round robin: about every other call met the refusing instance first
  EXPECT_EQ(client->stats().budget_exhausted, 0u);
  EXPECT_EQ(servers[0]->hits(), 10);
}

TEST_F(Client, HungInstanceIsCutAtThePerTryTimeoutAndEjected) {
  servers[0]->hang(true);
  auto c = config();
  c.per_try_timeout = 150ms;
  make(c);
  for (int i = 0; i < 30; ++i) {
    const auto started = std::chrono::steady_clock::now();
    auto r = call();
    ASSERT_TRUE(r.ok()) << (r.error ? r.error->what() : "");
    EXPECT_LT(std::chrono::steady_clock::now() - started, 1s) << "cut at the per-try timeout, then retried";
  }
  // Five local failures in a row eject it (Envoy's consecutive_5xx counts them): no more traffic.
  EXPECT_EQ(servers[0]->hits(), 5);
  EXPECT_NE(metrics.render_prometheus().find("svckit_outlier_ejected_hosts{service=\"orders\"} 1"), std::string::npos);
}

TEST_F(Client, ServiceBreakerOpensFallsBackAndRecovers) {
  for (auto& s : servers) s->answer_status(500);  // not retryable, but a failure
  auto c = config();
  c.service_breaker.sliding_window_size = 5;
  c.service_breaker.minimum_number_of_calls = 5;
  c.service_breaker.wait_duration_in_open_state = 200ms;
  c.service_breaker.permitted_number_of_calls_in_half_open_state = 2;
  c.balancing.outlier.reset();
  make(c);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(call().error->kind, CallErrorKind::http_status);
  const int hits = servers[0]->hits() + servers[1]->hits() + servers[2]->hits();
  auto refused = call();
  ASSERT_TRUE(refused.error.has_value());
  EXPECT_EQ(refused.error->kind, CallErrorKind::circuit_open);
  EXPECT_EQ(servers[0]->hits() + servers[1]->hits() + servers[2]->hits(), hits) << "short-circuited";

  CallOptions with_fallback;
  with_fallback.fallback = [](const ServiceCallError& e) -> std::optional<http::Response> {
    const nlohmann::json body{{"server", "fallback"}, {"because", std::string(to_string(e.kind))}};
    return http::json_response(http::Status::ok, body);
  };
  auto fb = call(http::Verb::get, with_fallback);
  ASSERT_TRUE(fb.ok());
  EXPECT_EQ(server_of(fb), "fallback");

  for (auto& s : servers) s->answer_status(200);
  ASSERT_TRUE(testing::wait_until([&] { return call().ok(); }, 5s)) << "half-open probes close it again";
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(call().ok());
  EXPECT_EQ(client->stats().breaker_trips, 1u);
  EXPECT_EQ(client->stats().fallbacks, 1u);
  const auto text = metrics.render_prometheus();
  for (const char* line :
       {"svckit_client_breaker_transitions_total{service=\"orders\",to=\"open\"} 1\n",
        "svckit_client_breaker_state{service=\"orders\"} 0\n",
        "svckit_client_calls_total{service=\"orders\",result=\"circuit_open\"} ",
        "svckit_client_calls_total{service=\"orders\",result=\"http_status\"} 5\n",
        "svckit_client_fallbacks_total{service=\"orders\"} 1\n", "svckit_client_in_flight{service=\"orders\"} 0\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << "missing " << line;
  }
  EXPECT_GT(client->stats().pool.connections_reused, 0u) << "keep-alive connections are reused";
}

TEST_F(Client, PerCallRetryStrategyAndBreakerBypass) {
  for (auto& s : servers) s->answer_status(500);  // the service's config does not retry 500
  auto c = config();
  c.service_breaker.sliding_window_size = 3;
  c.service_breaker.minimum_number_of_calls = 3;
  c.service_breaker.wait_duration_in_open_state = 60s;
  c.balancing.outlier.reset();
  make(c);
  EXPECT_EQ(call().attempts, 1) << "500 is not among the service's retried statuses";

  // This call's own strategy: retry 500 too, four attempts, fixed backoff.
  CallOptions own;
  own.retry = RetryPolicy{};
  own.retry->max_attempts = 4;
  own.retry->retry_on_statuses = {500, 503};
  own.retry->backoff = BackoffPolicy{BackoffKind::fixed, 1ms, 1ms, 1.0};
  auto retried = call(http::Verb::get, own);
  EXPECT_EQ(retried.attempts, 4);
  EXPECT_EQ(retried.response->result_int(), 500);
  CallOptions bad = own;
  bad.retry->max_attempts = 0;
  auto refused = call(http::Verb::get, bad);
  ASSERT_TRUE(refused.error.has_value());
  EXPECT_EQ(refused.error->kind, CallErrorKind::invalid_argument);
  EXPECT_NE(std::string(refused.error->what()).find("retry.max_attempts"), std::string::npos);

  (void)call();  // the third failure in the window: the service breaker opens
  ASSERT_EQ(call().error->kind, CallErrorKind::circuit_open);
  // A call that bypasses the breakers reaches the service (and feeds no breaker).
  for (auto& s : servers) s->answer_status(200);
  CallOptions bypass;
  bypass.circuit_breaker = false;
  const int before = servers[0]->hits() + servers[1]->hits() + servers[2]->hits();
  auto through = call(http::Verb::get, bypass);
  EXPECT_TRUE(through.ok()) << (through.error ? through.error->what() : "");
  EXPECT_EQ(servers[0]->hits() + servers[1]->hits() + servers[2]->hits(), before + 1);
  EXPECT_EQ(call().error->kind, CallErrorKind::circuit_open) << "still open for everyone else";
}

TEST_F(Client, ServiceHeadersApiKeyAndAnAsyncFallback) {
  auto c = config();
  c.headers = {{"X-Tenant", "acme"}, {"X-Client", "orders-ui"}};
  c.api_key = "k-123";
  for (const auto& s : servers) c.static_urls.push_back(s->url());
  make(c);
  CallOptions own;
  own.headers = {{"X-Tenant", "globex"}};  // the call's own header wins
  ASSERT_TRUE(call(http::Verb::get, own).ok());
  int seen = 0;
  for (const auto& s : servers) {
    if (s->hits() == 0) continue;
    ++seen;
    EXPECT_EQ(s->last_header("x-api-key"), "k-123");
    EXPECT_EQ(s->last_header("x-tenant"), "globex");
    EXPECT_EQ(s->last_header("x-client"), "orders-ui");
  }
  EXPECT_EQ(seen, 1);

  c.api_key_header = "Authorization";
  ASSERT_TRUE(client->update_service_config("orders", c).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(call().ok());
  for (const auto& s : servers) EXPECT_EQ(s->last_header("authorization"), "Bearer k-123");

  c.headers = {{"X-Bad", "a\r\nInjected: yes"}};
  auto refused = client->update_service_config("orders", c);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().field, "services.orders.headers.X-Bad");
  c.headers.clear();
  c.api_key_header = "Bad Header";
  EXPECT_EQ(client->update_service_config("orders", c).error().field, "services.orders.api_key_header");

  // An asynchronous fallback: a coroutine (here it waits, as a read of a local store would).
  for (auto& s : servers) s->answer_status(503);
  CallOptions with_fallback;
  with_fallback.async_fallback = [this](ServiceCallError e) -> Awaitable<std::optional<http::Response>> {
    boost::asio::steady_timer timer(io.executor(), 5ms);
    co_await timer.async_wait(boost::asio::use_awaitable);
    const nlohmann::json body{{"server", "local-cache"}, {"because", std::string(to_string(e.kind))}};
    co_return http::json_response(http::Status::ok, body);
  };
  auto fb = call(http::Verb::get, with_fallback);
  ASSERT_TRUE(fb.ok());
  EXPECT_EQ(server_of(fb), "local-cache");
  EXPECT_EQ(client->stats().fallbacks, 1U);
}

TEST_F(Client, ClientErrorsDoNotTripTheServiceBreaker) {
  for (auto& srv : servers) srv->answer_status(404);
  auto c = config();
  c.service_breaker.sliding_window_size = 5;
  c.service_breaker.minimum_number_of_calls = 5;
  make(c);
  for (int i = 0; i < 20; ++i) {
    auto r = call();
    ASSERT_TRUE(r.error.has_value());
    EXPECT_EQ(r.error->kind, CallErrorKind::http_status) << "never circuit_open: 404 is not the service failing";
    EXPECT_EQ(r.error->status, 404);
    EXPECT_EQ(r.attempts, 1) << "404 is not retried";
  }
  EXPECT_EQ(client->stats().breaker_trips, 0u);
}

TEST_F(Client, TheOverallDeadlineHoldsWhenEverythingIsSlow) {
  for (auto& s : servers) s->delay_ms(400);
  auto c = config();
  c.timeout = 500ms;
  c.per_try_timeout = 300ms;
  c.balancing.outlier.reset();
  make(c);
  const auto started = std::chrono::steady_clock::now();
  auto r = call();
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(r.error->kind, CallErrorKind::timeout);
  EXPECT_EQ(r.attempts, 2) << "300 ms, then what the deadline left";
  EXPECT_GE(took, 480ms);
  EXPECT_LT(took, 800ms);
}

TEST_F(Client, GatewayModeSendsServiceAndPathToTheGateway) {
  ServiceConfig c = config();
  make(c, servers[2]->url() + "/gw");
  auto r = call();
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(servers[2]->last_target(), "/gw/orders/x");
}

TEST_F(Client, DiscoveryModeFollowsTheRegistry) {
  MemoryRegistry registry(time, {});
  DiscoveryClient discovery(io.executor(), registry, random, {});
  for (int i = 0; i < 2; ++i) {
    ServiceInstance in;
    in.service = "orders";
    in.host = "127.0.0.1";
    in.port = servers[static_cast<std::size_t>(i)]->port();
    in.normalize();
    ASSERT_TRUE(registry.register_now(in).ok());
  }
  io.run([&]() -> Awaitable<bool> {
    discovery.start();
    co_return co_await discovery.wait_synced(5s);
  });
  make(config(), {}, &discovery);
  std::set<std::string> seen;
  for (int i = 0; i < 10; ++i) seen.insert(server_of(call()));
  EXPECT_EQ(seen, (std::set<std::string>{"s0", "s1"}));
  EXPECT_EQ(client->stats().instance_breakers, 2u);

  const std::string gone = "127.0.0.1:" + std::to_string(servers[0]->port());
  ASSERT_TRUE(io.run([&]() -> Awaitable<Result<void>> { return registry.deregister("orders", gone); }).ok());
  ASSERT_TRUE(testing::wait_until([&] { return discovery.discover("orders").size() == 1; }, 5s));
  const int before = servers[0]->hits();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(server_of(call()), "s1");
  EXPECT_EQ(servers[0]->hits(), before);
  // Before: the breaker of every instance ever called stayed (the map grew with instance churn).
  EXPECT_EQ(client->stats().instance_breakers, 1u) << "the breaker of the instance that left is gone";
  io.run([&]() { return discovery.shutdown(0ms); });
}

TEST_F(Client, CallAllRunsConcurrentlyAndCallSyncBlocks) {
  for (auto& s : servers) s->delay_ms(200);
  make(config());
  std::vector<CallSpec> batch;
  for (int i = 0; i < 6; ++i) batch.emplace_back("orders", http::Verb::get, "/item/" + std::to_string(i));
  batch.emplace_back("no-such-service!", http::Verb::get, "/");
  const auto started = std::chrono::steady_clock::now();
  auto results = io.run([&]() { return client->call_all(batch); });
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(results.size(), 7u);
  for (int i = 0; i < 6; ++i) EXPECT_TRUE(results[static_cast<std::size_t>(i)].ok()) << i;
  EXPECT_EQ(results[6].error->kind, CallErrorKind::invalid_argument) << "results keep the order given";
  EXPECT_LT(took, 550ms) << "six 200 ms calls side by side, not one after another (1.2 s)";

  for (auto& s : servers) s->delay_ms(0);
  auto sync = client->call_sync("orders", http::Verb::get, "/x");  // from the test thread, not the io thread
  EXPECT_TRUE(sync.ok());
  auto thrown = io.run([&]() -> Awaitable<std::string> {
    try {
      co_await call_service(*client, "orders", "/x");
      for (auto& s : servers) s->answer_status(404);
      co_await call_service(*client, "orders", "/missing");
      co_return "no throw";
    } catch (const ServiceCallError& e) {
      co_return std::string(to_string(e.kind)) + " " + std::to_string(e.status) + " " + e.service;
    }
  });
  EXPECT_EQ(thrown, "http_status 404 orders");
}

TEST_F(Client, HedgingAnswersFromTheFastInstanceAndCancelsTheSlowOne) {
  servers[0]->delay_ms(600);
  auto c = config();
  c.hedging.enabled = true;
  c.hedging.delay = 30ms;
  c.retry_budget_token_ratio = 1;
  make(c);
  for (int i = 0; i < 9; ++i) {
    const auto started = std::chrono::steady_clock::now();
    auto r = call();
    ASSERT_TRUE(r.ok()) << (r.error ? r.error->what() : "");
    EXPECT_NE(server_of(r), "s0");
    EXPECT_LT(std::chrono::steady_clock::now() - started, 400ms) << "the hedge answered, not the slow primary";
  }
  EXPECT_GE(client->stats().hedges, 3u);
  EXPECT_EQ(client->stats().failed_calls, 0u);
  // Cancelled losers are no verdict on the slow instance: it is neither ejected nor broken.
  EXPECT_NE(metrics.render_prometheus().find("svckit_outlier_ejected_hosts{service=\"orders\"} 0"), std::string::npos);

  const int before = servers[1]->hits() + servers[2]->hits();
  auto post = call(http::Verb::post);  // not idempotent: never hedged
  EXPECT_LE(servers[1]->hits() + servers[2]->hits() - before, 1);
  (void)post;
}

TEST_F(Client, RateLimitFaultInjectionAndTheCallersDeadline) {
  auto c = config();
  c.rate_limit_per_second = 0.001;  // no refill during the test
  c.rate_limit_burst = 5;
  make(c);
  int ok = 0, limited = 0;
  for (int i = 0; i < 10; ++i) {
    auto r = call();
    ok += r.ok() ? 1 : 0;
    limited += r.error && r.error->kind == CallErrorKind::rate_limited ? 1 : 0;
  }
  EXPECT_EQ(ok, 5);
  EXPECT_EQ(limited, 5);

  auto faulty = config();
  for (const auto& srv : servers) faulty.static_urls.push_back(srv->url());
  faulty.faults.abort_percent = 100;
  faulty.faults.abort_status = 503;
  ASSERT_TRUE(client->update_service_config("orders", faulty).ok());
  const int hits = servers[0]->hits() + servers[1]->hits() + servers[2]->hits();
  auto r = call();
  ASSERT_TRUE(r.error.has_value());
  EXPECT_EQ(r.error->status, 503) << r.error->what();
  EXPECT_EQ(servers[0]->hits() + servers[1]->hits() + servers[2]->hits(), hits) << "injected: nothing was sent";

  auto slow = faulty;
  slow.faults = FaultInjection{};
  slow.balancing.outlier.reset();
  ASSERT_TRUE(client->update_service_config("orders", slow).ok());
  for (auto& srv : servers) srv->delay_ms(1000);
  http::Request incoming{http::Verb::get, "/api", 11};
  incoming.set(std::string(kDeadlineHeader), "300");
  CallOptions within;
  within.deadline = incoming_deadline(incoming, time.steady_now());
  ASSERT_TRUE(within.deadline.has_value());
  const auto started = std::chrono::steady_clock::now();
  auto late = call(http::Verb::get, within);
  EXPECT_EQ(late.error->kind, CallErrorKind::timeout);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 700ms) << "the caller's 300 ms, not the service's 10 s";
  incoming.set(std::string(kDeadlineHeader), "soon");
  EXPECT_FALSE(incoming_deadline(incoming, time.steady_now()).has_value());
  // From a value already found (the gateway reads the head once): absent or empty is no deadline.
  EXPECT_FALSE(incoming_deadline(std::string_view(), time.steady_now()).has_value());
  EXPECT_FALSE(incoming_deadline(std::string_view(""), time.steady_now()).has_value());
  const auto now = time.steady_now();
  const auto from_value = incoming_deadline(std::string_view("300"), now);
  ASSERT_TRUE(from_value.has_value());
  EXPECT_EQ(from_value->remaining(now), 300ms);
}

TEST_F(Client, AdaptiveConcurrencyAdmitsUpToItsLearnedLimit) {
  for (auto& srv : servers) srv->delay_ms(150);
  auto c = config();
  c.adaptive_concurrency = ServiceConfig::AdaptiveConcurrency::aimd;  // starts at 20
  make(c);
  std::vector<CallSpec> burst;
  for (int i = 0; i < 40; ++i) burst.emplace_back("orders", http::Verb::get, "/x");
  auto results = io.run([&]() { return client->call_all(burst); });
  int ok = 0, refused = 0;
  for (const auto& r : results) {
    ok += r.ok() ? 1 : 0;
    refused += r.error && r.error->kind == CallErrorKind::bulkhead_full ? 1 : 0;
  }
  EXPECT_EQ(ok, 20);
  EXPECT_EQ(refused, 20);
}

TEST_F(Client, OptionsAreValidatedNamingTheField) {
  ServiceClientOptions options;
  options.services["orders"].retry.backoff.cap = 0ms;
  auto r = ServiceClient::create(options, {io.executor(), nullptr, balancers, random, time, nullptr});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "services.orders.retry.backoff.cap");
  ServiceClientOptions unknown;
  unknown.services["orders"].balancing.policy = "fastest";
  EXPECT_EQ(ServiceClient::create(unknown, {io.executor(), nullptr, balancers, random, time, nullptr}).error().field,
            "services.orders.balancing.policy");
  ServiceClientOptions ftp;
  ftp.defaults.static_urls = {"ftp://x"};
  EXPECT_EQ(ServiceClient::create(ftp, {io.executor(), nullptr, balancers, random, time, nullptr}).error().field,
            "defaults.static_urls[0]");
}

TEST(ClientProcesses, AKilledInstanceUnderLoadCostsNoFailedIdempotentCall) {
  testing::TempDir dir;
  std::vector<testing::ChildProcess> services;
  ServiceConfig c;
  c.balancing.policy = "round_robin";
  c.retry.backoff.base = 1ms;
  c.retry.backoff.cap = 5ms;
  for (int i = 0; i < 3; ++i) {
    int port = 0;
    auto child = testing::start_listening_binary({DEMO_SERVICE_BIN, "--name", "hello", "--registry", "memory://"},
                                                 dir.path(), port);
    ASSERT_TRUE(child.ok()) << child.error().message;
    services.push_back(std::move(*child));
    c.static_urls.push_back("http://127.0.0.1:" + std::to_string(port));
  }
  testing::IoThread io;
  RealRandom random;
  RealTimeSource time;
  const auto balancers = builtin_balancers();
  ServiceClientOptions options;
  options.services["hello"] = c;
  auto client = std::move(ServiceClient::create(options, {io.executor(), nullptr, balancers, random, time}).value());
  int failed = 0;
  for (int i = 0; i < 300; ++i) {
    if (i == 100) services[1].stop(SIGKILL);
    auto r = io.run([&]() { return client->try_call("hello", http::Verb::get, "/hello"); });
    failed += r.ok() ? 0 : 1;
  }
  EXPECT_EQ(failed, 0);
  EXPECT_GE(client->stats().retries, 1u);
  client.reset();
  io.stop();
}

}  // namespace
}  // namespace svckit
