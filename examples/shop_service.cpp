// shop_service: the demo topology of `scripts/run`, the classic microservices tutorial shop — product-service,
// user-service and order-service, each instance a process that registers itself (TTL heartbeat,
// an HTTP health check svckitd runs) and shuts down gracefully. order-service calls the other two
// by name through one ServiceClient: discovery + balancing, retries on another instance, breakers,
// a fallback for user-service. Each serves GET /metrics (Prometheus text: its client, discovery and
// product-cache series), which a Prometheus finds through svckitd's /v1/prometheus/sd.
//
//   shop_service --role product --registry svckitd://127.0.0.1:8500
//   shop_service --role order   --registry svckitd://127.0.0.1:8500   GET /orders/{id}?product=&user=
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "shop_grpc.hpp"
#include "svckit/cache/cache.hpp"
#include "svckit/cache/cache_metrics.hpp"
#include "svckit/client/service_client.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/http/router.hpp"
#include "svckit/http/server.hpp"
#include "svckit/registry/plugin_registry.hpp"
#include "svckit/trace/http_server_span.hpp"
#include "svckit/trace/otlp_exporter.hpp"

namespace asio = boost::asio;
using namespace svckit;
using nlohmann::json;

namespace {

json parse(const http::Response& r) { return json::parse(r.body(), nullptr, false); }

/// order-service's two calls, side by side; a missing user is answered by a fallback.
Awaitable<http::Response> place_order(ServiceClient& services, const std::string& order, const std::string& product,
                                      const std::string& user, const std::string& me, const std::string& traceparent,
                                      const std::string& tracestate) {
  std::vector<CallSpec> calls;
  CallOptions traced;  // the order's span is the calls' parent; tracestate goes along unchanged
  if (!traceparent.empty()) traced.headers.emplace_back("traceparent", traceparent);
  if (!tracestate.empty()) traced.headers.emplace_back("tracestate", tracestate);
  calls.emplace_back("product-service", http::Verb::get, "/products/" + product, traced);
  CallOptions with_fallback = traced;
  with_fallback.fallback = [user](const ServiceCallError& e) -> std::optional<http::Response> {
    spdlog::warn("user-service unavailable ({}): answering from the fallback", e.what());
    return http::json_response(http::Status::ok, json{{"id", user}, {"name", "guest"}, {"fallback", true}});
  };
  calls.emplace_back("user-service", http::Verb::get, "/users/" + user, std::move(with_fallback));
  auto answers = co_await services.call_all(std::move(calls));
  if (!answers[0].ok()) {  // no product, no order
    const auto& e = *answers[0].error;
    co_return http::json_response(http::Status::service_unavailable,
                                  json{{"error", {{"code", to_string(e.kind)}, {"message", e.what()}}}});
  }
  const json body{{"order", order},
                  {"served_by", me},
                  {"product", parse(*answers[0].response)},
                  {"user", parse(*answers[1].response)},
                  {"attempts", answers[0].attempts + answers[1].attempts}};
  co_return http::json_response(http::Status::ok, body);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"svckit demo shop: product-service, user-service, order-service"};
  std::string role = "product";
  std::string registry_url = "svckitd://127.0.0.1:8500";
  std::uint16_t port = 0;
  std::string port_file;
  std::string ttl_text = "6s";
  std::string check_text = "2s";
  std::string drain_text = "1s";
  std::string traces_url;
  double trace_ratio = 1.0;
  int grpc_port = -1;
  std::string grpc_delay_text = "0s";
  app.add_option("--role", role, "product, user or order")->check(CLI::IsMember({"product", "user", "order"}));
  app.add_option("--registry", registry_url, "registry URL");
  app.add_option("--port", port, "HTTP port (0 = any free port)");
  app.add_option("--port-file", port_file, "write the bound port here once registered");
  app.add_option("--ttl", ttl_text, "registration TTL (heartbeat every third of it)");
  app.add_option("--check-every", check_text, "let the registry check GET /health this often (0s = no check)");
  app.add_option("--drain", drain_text, "maintenance period before deregistering on shutdown");
  app.add_option("--traces", traces_url, "send spans over OTLP/HTTP JSON here (e.g. http://127.0.0.1:8500/v1/traces)");
  app.add_option("--trace-ratio", trace_ratio, "share of new traces sampled")->check(CLI::Range(0.0, 1.0));
  app.add_option("--grpc-port", grpc_port,
                 "product: also serve ProductService over gRPC here, registered as product-grpc (0 = any free port)")
      ->check(CLI::Range(0, 65535));
  app.add_option("--grpc-delay", grpc_delay_text, "product: answer every gRPC call this much later (a slow instance)");
  CLI11_PARSE(app, argc, argv);
  const std::string name = role + "-service";
  spdlog::set_pattern("%H:%M:%S.%e " + name + " %l %v");
  auto ttl = parse_duration(ttl_text, "ttl");
  auto check_every = parse_duration(check_text, "check-every");
  auto drain = parse_duration(drain_text, "drain");
  auto grpc_delay = parse_duration(grpc_delay_text, "grpc-delay");
  for (const auto* r : {&ttl, &check_every, &drain, &grpc_delay}) {
    if (!*r) {
      std::cerr << "shop_service: " << r->error().describe() << "\n";
      return 2;
    }
  }

  asio::io_context io;  // one thread: DiscoveryClient is confined to it
  RealTimeSource time;
  RealRandom random;
  RegistryPlugins::Builder registries;
  register_builtin_plugins(registries);
  const auto plugins = std::move(registries).build();
  auto registry = plugins.create(registry_url, RegistryDeps{io.get_executor(), time, random});
  if (!registry) {
    std::cerr << "shop_service: " << registry.error().describe() << "\n";
    return 2;
  }
  MetricsRegistry metrics;
  DiscoveryClient discovery(io.get_executor(), **registry, random, {}, &metrics);
  BalancerPlugins::Builder policies;
  register_builtin_balancers(policies);
  const auto balancers = std::move(policies).build();
  std::unique_ptr<trace::OtlpHttpExporter> exporter;  // --traces: spans go there
  if (!traces_url.empty()) {
    auto made = trace::OtlpHttpExporter::create(io.get_executor(), {traces_url, name}, &metrics);
    if (!made) {
      std::cerr << "shop_service: --traces: " << made.error().describe() << "\n";
      return 2;
    }
    exporter = std::move(*made);
    exporter->start();
  }
  trace::Tracer tracer(time, random, {trace_ratio}, exporter.get());
  ServiceClientOptions options;
  options.defaults.timeout = std::chrono::seconds(3);
  options.defaults.per_try_timeout = std::chrono::seconds(1);
  options.defaults.retry_budget_mode = ServiceConfig::RetryBudgetMode::concurrency;
  auto client = ServiceClient::create(
      options, {io.get_executor(), &discovery, balancers, random, time, &metrics, nullptr, nullptr, &tracer});
  if (!client) {
    std::cerr << "shop_service: " << client.error().describe() << "\n";
    return 2;
  }
  auto& services = **client;
  // order-service's calls by name over gRPC: the same pipeline, its own channels.
  auto grpc_client = svckit::rpc::GrpcClient::create(
      options, {io.get_executor(), &discovery, balancers, random, time, &metrics, nullptr, nullptr, &tracer});
  if (!grpc_client) {
    std::cerr << "shop_service: " << grpc_client.error().describe() << "\n";
    return 2;
  }
  // product-service with --grpc-port: ProductService and grpc.health.v1, registered on their own.
  std::unique_ptr<shop::ProductGrpcServer> grpc_server;
  std::unique_ptr<DiscoveryClient> grpc_registration;
  std::unique_ptr<rpc::GrpcRegistration> grpc_self;  // once registered
  if (role == "product" && grpc_port >= 0) {
    std::string error;
    grpc_server = shop::ProductGrpcServer::start({static_cast<std::uint16_t>(grpc_port), *grpc_delay, &tracer}, error);
    if (!grpc_server) {
      std::cerr << "shop_service: " << error << "\n";
      return 2;
    }
    grpc_registration = std::make_unique<DiscoveryClient>(io.get_executor(), **registry, random);
  }

  // product-service keeps the products it built for 30 s (a stand-in for a database read).
  cache::CacheOptions cache_options;
  cache_options.max_entries = 1000;
  cache_options.default_ttl = std::chrono::seconds(30);
  auto products = cache::Cache<std::string, json>::create(cache_options, time);
  if (!products) {
    std::cerr << "shop_service: " << products.error().describe() << "\n";
    return 2;
  }
  auto products_exported = cache::export_cache_metrics(metrics, "products", **products);

  std::string me;  // this instance's id, once registered
  http::Router router;
  router.add(http::Verb::get, "/metrics", [&](http::RouteContext&) -> Awaitable<http::Response> {
    http::Response res{http::Status::ok, 11};
    res.set(http::beast_http::field::content_type, "text/plain; version=0.0.4");
    res.body() = metrics.render_prometheus();
    res.prepare_payload();
    co_return res;
  });
  router.add(http::Verb::get, "/health", [](http::RouteContext&) -> Awaitable<http::Response> {
    co_return http::json_response(http::Status::ok, json{{"status", "ok"}});
  });
  router.add(http::Verb::get, "/products/{id}", [&](http::RouteContext& c) -> Awaitable<http::Response> {
    const auto& id = c.params.at("id");
    auto product = (*products)->get(id);
    if (!product) {
      product = json{{"id", id}, {"name", "product " + id}, {"price_cents", 999}, {"instance", me}};
      (*products)->put(id, *product);
    }
    co_return http::json_response(http::Status::ok, *product);
  });
  router.add(http::Verb::get, "/users/{id}", [&](http::RouteContext& c) -> Awaitable<http::Response> {
    const auto& id = c.params.at("id");
    co_return http::json_response(http::Status::ok, json{{"id", id}, {"name", "user " + id}, {"instance", me}});
  });
  router.add(http::Verb::get, "/orders/{id}", [&](http::RouteContext& c) -> Awaitable<http::Response> {
    // Named strings, not temporaries inside the co_await expression: GCC 12 destroys those twice
    // (docs/architecture.md, "Known compiler traps").
    const std::string product = c.target.param("product") ? *c.target.param("product") : "1";
    const std::string user = c.target.param("user") ? *c.target.param("user") : "1";
    const std::string order = c.params.at("id");
    const std::string traceparent(c.request["traceparent"]);
    const std::string tracestate(c.request["tracestate"]);
    co_return co_await place_order(services, order, product, user, me, traceparent, tracestate);
  });
  // The same order with the product read over gRPC, by name (404 when it does not exist).
  router.add(http::Verb::get, "/orders-grpc/{id}", [&](http::RouteContext& c) -> Awaitable<http::Response> {
    const std::string product = c.target.param("product") ? *c.target.param("product") : "1";
    const std::string order = c.params.at("id");
    const std::string traceparent(c.request["traceparent"]);
    const std::string tracestate(c.request["tracestate"]);
    co_return co_await shop::create_order_grpc(**grpc_client, order, product, traceparent, tracestate);
  });
  // product-service: take the gRPC side out of rotation (NOT_SERVING to health checks) or back.
  router.add(http::Verb::put, "/grpc/serving", [&](http::RouteContext& c) -> Awaitable<http::Response> {
    const auto body = json::parse(c.request.body(), nullptr, false);
    if (!grpc_server || !body.is_object() || !body.contains("serving") || !body["serving"].is_boolean()) {
      co_return http::json_response(
          http::Status::bad_request,
          json{{"error",
                {{"code", "invalid_argument"},
                 {"field", "serving"},
                 {"message", "give {\"serving\": bool} to a product-service started with --grpc-port"}}}});
    }
    const bool serving = body["serving"].get<bool>();
    grpc_server->health().set_status(serving ? InstanceStatus::healthy : InstanceStatus::unhealthy);
    co_return http::json_response(http::Status::ok, json{{"serving", serving}});
  });
  http::ServerOptions server_options;
  server_options.port = port;
  http::HttpServer server(io, server_options, [&](http::Request& r) -> Awaitable<http::Response> {
    // Probes (svckitd's health checks, Prometheus) are not traced: they would bury the orders.
    const std::string_view path = r.target();
    const bool probe = path == "/health" || path == "/metrics";
    trace::Span span;
    if (!probe) span = trace::start_server_span(tracer, r);  // r's traceparent is now the span's
    std::string route;
    auto response = co_await router.dispatch(r, route);
    trace::finish_server_span(span, r, route, response);
    co_return response;
  });
  if (auto r = server.listen(); !r) {
    std::cerr << "shop_service: " << r.error().describe() << "\n";
    return 2;
  }

  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        discovery.start();
        ServiceInstance self;
        self.service = name;
        self.host = "127.0.0.1";
        self.port = server.port();
        self.ttl = *ttl;
        self.health_check_path = "/health";
        if (check_every->count() > 0) {
          HealthCheckSpec check;  // http GET /health, 200-299
          check.interval = *check_every;
          check.timeout = std::min(*check_every, std::chrono::milliseconds(1000));
          self.checks = {check};
        }
        auto registered = co_await discovery.register_self(self);
        if (!registered) {
          spdlog::error("registration failed: {}", registered.error().describe());
          io.stop();
          co_return;
        }
        me = registered->id;
        (void)co_await discovery.wait_synced(std::chrono::seconds(5));
        spdlog::info("registered as {} at {}", me, registered->base_url());
        if (grpc_server) {
          rpc::GrpcRegistrationOptions grpc_options;
          grpc_options.service = "product-grpc";
          grpc_options.port = grpc_server->port();
          grpc_options.ttl = *ttl;
          grpc_options.metadata["http_instance"] = me;
          HealthCheckSpec check;  // grpc.health.v1 Health/Check on the gRPC port
          if (check_every->count() > 0) {
            check.type = "grpc";
            check.interval = *check_every;
            check.timeout = std::min(*check_every, std::chrono::milliseconds(1000));
          } else {
            check.type.clear();  // no check: the TTL alone
          }
          grpc_options.check = check;
          grpc_self = std::make_unique<rpc::GrpcRegistration>(*grpc_registration, grpc_server->health(), grpc_options);
          auto grpc_registered = co_await grpc_self->start();
          if (!grpc_registered) {
            spdlog::error("gRPC registration failed: {}", grpc_registered.error().describe());
            io.stop();
            co_return;
          }
          grpc_server->set_instance(grpc_registered->id);
          spdlog::info("gRPC registered as {} at 127.0.0.1:{}", grpc_registered->id, grpc_server->port());
        }
        if (!port_file.empty()) std::ofstream(port_file) << server.port() << "\n";
      },
      asio::detached);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    asio::co_spawn(
        io,
        [&]() -> Awaitable<void> {
          spdlog::info("shutting down: maintenance, drain {}, deregister", drain_text);
          if (grpc_server) {
            if (grpc_self) co_await grpc_self->drain(*drain);  // NOT_SERVING, drain, deregister
            grpc_server->shutdown(std::chrono::seconds(1));
          }
          co_await discovery.shutdown(*drain);  // callers stop picking us, then we leave the registry
          server.begin_shutdown();
          co_await services.shutdown(std::chrono::seconds(2));
          co_await (*grpc_client)->shutdown(std::chrono::seconds(1));
          if (exporter) co_await exporter->shutdown();
          io.stop();
        },
        asio::detached);
  });
  io.run();
  return 0;
}
