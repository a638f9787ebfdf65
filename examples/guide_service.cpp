// The program of docs/guide-cpp-service.md: a complete service in C++ with svckit. It serves HTTP,
// registers itself with a health check that svckitd runs, calls another service by name through
// one shared ServiceClient (per-service timeouts, retries and a fallback), passes its caller's
// deadline on, and on SIGTERM leaves in the order that loses no request.
//
//   guide_service --name inventory --registry svckitd://127.0.0.1:8500
//   guide_service --name orders --peer inventory --registry svckitd://127.0.0.1:8500
//   curl localhost:<orders port>/orders/42     -> {"order":"42","stock":{"item":"42","count":7,...}}
#include <utility>  // before Asio 1.74 awaitable.hpp, which uses std::exchange without it

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "svckit/app/run_until_signal.hpp"
#include "svckit/balance/service_balancer.hpp"
#include "svckit/client/service_client.hpp"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/http/router.hpp"
#include "svckit/http/server.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace asio = boost::asio;
namespace http = svckit::http;
using namespace std::chrono_literals;
using nlohmann::json;

int main(int argc, char** argv) {
  CLI::App app{"a svckit service: serves /stock/{item}, and /orders/{id} which calls its peer's /stock"};
  std::string name = "inventory";
  std::string peer;
  std::string registry_url = "svckitd://127.0.0.1:8500";
  std::string port_file;
  std::uint16_t port = 0;
  app.add_option("--name", name, "the service name to register");
  app.add_option("--peer", peer, "the service /orders/{id} calls by name");
  app.add_option("--registry", registry_url, "registry URL");
  app.add_option("--port", port, "HTTP port (0: any free port)");
  app.add_option("--port-file", port_file, "write the port here once registered");
  CLI11_PARSE(app, argc, argv);

  // 1. The parts, wired here (the composition root) and nowhere else. One io_context, one thread.
  asio::io_context io;
  svckit::RealTimeSource time;
  svckit::RealRandom random;
  svckit::MetricsRegistry metrics;
  svckit::RegistryPlugins::Builder registries;
  svckit::register_builtin_plugins(registries);
  const auto plugins = std::move(registries).build();
  auto registry = plugins.create(registry_url, {io.get_executor(), time, random});
  if (!registry) {
    std::cerr << registry.error().describe() << "\n";
    return 2;
  }
  svckit::DiscoveryClient discovery(io.get_executor(), **registry, random, {}, &metrics);

  // 2. One ServiceClient for the whole process, with the peer's own limits: the whole call within
  //    2 s, each attempt within 500 ms, at most 3 attempts (each on another instance).
  svckit::ServiceClientOptions options;
  svckit::ServiceConfig peer_config;
  peer_config.timeout = 2s;
  peer_config.per_try_timeout = 500ms;
  peer_config.retry.max_attempts = 3;
  if (!peer.empty()) options.services[peer] = peer_config;
  svckit::BalancerPlugins::Builder policies;
  svckit::register_builtin_balancers(policies);
  const auto balancers = std::move(policies).build();
  auto client =
      svckit::ServiceClient::create(options, {io.get_executor(), &discovery, balancers, random, time, &metrics});
  if (!client) {
    std::cerr << client.error().describe() << "\n";
    return 2;
  }
  auto& services = **client;

  // 3. The routes. Handlers are coroutines; the Router goes straight to the HttpServer.
  http::Router router;
  router.add(http::Verb::get, "/health", [](http::RouteContext&) -> http::Awaitable<http::Response> {
    co_return http::json_response(http::Status::ok, json{{"status", "ok"}});
  });
  router.add(http::Verb::get, "/stock/{item}", [&](http::RouteContext& ctx) -> http::Awaitable<http::Response> {
    co_return http::json_response(http::Status::ok,
                                  json{{"item", ctx.params.at("item")}, {"count", 7}, {"from", name}});
  });
  router.add(http::Verb::get, "/orders/{id}", [&](http::RouteContext& ctx) -> http::Awaitable<http::Response> {
    svckit::CallOptions call;
    // The caller's deadline (X-Svckit-Deadline-Ms) bounds this call too, and travels on.
    call.deadline = svckit::incoming_deadline(ctx.request, time.steady_now());
    // When every attempt failed (or the breaker is open): answer from what we know.
    call.fallback = [](const svckit::ServiceCallError& e) -> std::optional<http::Response> {
      return http::json_response(http::Status::ok, json{{"count", nullptr}, {"degraded", e.what()}});
    };
    const auto& id = ctx.params.at("id");
    auto stock = co_await services.try_call(peer, http::Verb::get, "/stock/" + id, call);
    if (!stock.ok()) {  // a 4xx from the peer, say: no fallback for that
      co_return http::error_response(svckit::make_error(svckit::ErrorCode::unavailable, stock.error->what()));
    }
    json order{{"order", id}, {"stock", json::parse(stock.response->body(), nullptr, false)}};
    co_return http::json_response(http::Status::ok, order);
  });
  http::ServerOptions server_options;
  server_options.port = port;
  http::HttpServer server(io, server_options, router);
  if (auto listening = server.listen(); !listening) {
    std::cerr << listening.error().describe() << "\n";
    return 2;
  }

  // 4. Register once serving, with an HTTP check svckitd runs every 2 s; the instance starts as
  //    `starting` and takes traffic once the first check passes. The TTL heartbeat keeps it alive
  //    and registers it again if svckitd forgot it (a restart without a snapshot).
  asio::co_spawn(
      io,
      [&]() -> http::Awaitable<void> {
        discovery.start();
        svckit::ServiceInstance self;
        self.service = name;
        self.host = "127.0.0.1";
        self.port = server.port();
        self.ttl = 15s;
        self.status = svckit::InstanceStatus::starting;
        svckit::HealthCheckSpec check;  // GET /health, 2xx passes
        check.interval = 2s;
        check.timeout = 1s;
        self.checks = {check};
        auto registered = co_await discovery.register_self(self);
        if (!registered) {
          spdlog::error("registration failed: {}", registered.error().describe());
          io.stop();
          co_return;
        }
        spdlog::info("{} registered as {} at {}", name, registered->id, registered->base_url());
        if (!port_file.empty()) std::ofstream(port_file) << server.port() << "\n";
      },
      asio::detached);

  // 5. Run until SIGTERM/SIGINT, then: maintenance and a 1 s drain -> deregister -> the server
  //    finishes its requests in flight -> the client its calls -> the loop stops.
  const int signal = svckit::run_until_signal(io, {&discovery, 1s, &server, 10s, &services, 5s});
  spdlog::info("{} stopped (signal {})", name, signal);
  return 0;
}
