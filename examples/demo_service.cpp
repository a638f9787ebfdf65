// demo_service: a small HTTP service that registers itself in a svckit registry, discovers a peer
// service through DiscoveryClient and calls it. Used by `scripts/run` and by integration tests.
//
//   demo_service --name product-service --peer user-service --registry svckitd://127.0.0.1:8500
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "svckit/core/duration.hpp"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/http/client.hpp"
#include "svckit/http/router.hpp"
#include "svckit/http/server.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace asio = boost::asio;
using namespace svckit;
using nlohmann::json;

namespace {

struct Settings {
  std::string name = "demo-service";
  std::string peer;
  std::string registry = "svckitd://127.0.0.1:8500";
  std::uint16_t port = 0;
  std::string port_file;
  std::string ttl = "10s";
  std::string check_every = "0s";  // 0s = register without an active health check
  std::string call_every = "2s";
  std::string drain = "1s";
  std::string zone;
};

/// Calls the peer's /hello through whichever healthy instance discovery picks.
Awaitable<Result<json>> call_peer(DiscoveryClient& discovery, http::HttpClient& client, const std::string& peer) {
  auto url = discovery.service_url(peer);
  if (!url) co_return url.error();
  auto parsed = net::parse_backend_url(*url, 80);
  if (!parsed) co_return parsed.error();
  http::Request request{http::Verb::get, "/hello", 11};
  auto response = co_await client.send(parsed->hosts.front(), std::move(request), std::chrono::seconds(2));
  if (!response) co_return response.error();
  co_return json::parse(response->body(), nullptr, false);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"svckit demo service"};
  Settings s;
  app.add_option("--name", s.name, "service name to register");
  app.add_option("--peer", s.peer, "service to discover and call");
  app.add_option("--registry", s.registry, "registry URL");
  app.add_option("--port", s.port, "HTTP port (0 = any free port)");
  app.add_option("--port-file", s.port_file, "write the bound port here");
  app.add_option("--ttl", s.ttl, "registration TTL");
  app.add_option("--call-every", s.call_every, "how often to call the peer (0s = never)");
  app.add_option("--drain", s.drain, "maintenance period before deregistering on shutdown");
  app.add_option("--zone", s.zone, "zone to register in");
  app.add_option("--check-every", s.check_every, "let the registry check GET /health this often (0s = no check)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_pattern("%H:%M:%S.%e " + s.name + " %v");

  auto ttl = parse_duration(s.ttl, "ttl");
  auto every = parse_duration(s.call_every, "call-every");
  auto drain = parse_duration(s.drain, "drain");
  auto check_every = parse_duration(s.check_every, "check-every");
  for (const auto* r : {&ttl, &every, &drain, &check_every}) {
    if (!*r) {
      std::cerr << r->error().describe() << "\n";
      return 2;
    }
  }

  asio::io_context io;  // one thread: DiscoveryClient and HttpClient are confined to it
  RealTimeSource time;
  RealRandom random;
  RegistryPlugins::Builder builder;
  register_builtin_plugins(builder);
  const auto plugins = std::move(builder).build();
  auto registry = plugins.create(s.registry, RegistryDeps{io.get_executor(), time, random});
  if (!registry) {
    std::cerr << registry.error().describe() << "\n";
    return 2;
  }
  DiscoveryClient discovery(io.get_executor(), **registry, random);
  http::HttpClient client(io.get_executor());

  std::string instance_id;
  http::Router router;
  router.add(http::Verb::get, "/hello", [&](http::RouteContext&) -> Awaitable<http::Response> {
    co_return http::json_response(http::Status::ok, json{{"service", s.name}, {"instance", instance_id}});
  });
  router.add(http::Verb::get, "/health", [](http::RouteContext&) -> Awaitable<http::Response> {
    co_return http::json_response(http::Status::ok, json{{"status", "ok"}});
  });
  router.add(http::Verb::get, "/call-peer", [&](http::RouteContext&) -> Awaitable<http::Response> {
    auto answer = co_await call_peer(discovery, client, s.peer);
    if (!answer) co_return http::error_response(answer.error());
    co_return http::json_response(http::Status::ok, json{{"from", s.name}, {"peer", *answer}});
  });
  http::ServerOptions server_options;
  server_options.port = s.port;
  http::HttpServer server(io, server_options, [&](http::Request& r) -> Awaitable<http::Response> {
    std::string route;
    co_return co_await router.dispatch(r, route);
  });
  if (auto r = server.listen(); !r) {
    std::cerr << r.error().describe() << "\n";
    return 2;
  }

  bool stopping = false;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        discovery.start();
        ServiceInstance self;
        self.service = s.name;
        self.host = "127.0.0.1";
        self.port = server.port();
        self.ttl = *ttl;
        self.zone = s.zone;
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
        instance_id = registered->id;
        spdlog::info("registered {} as {} at {}", s.name, instance_id, registered->base_url());
        if (!s.port_file.empty()) std::ofstream(s.port_file) << server.port() << "\n";
        (void)co_await discovery.wait_synced(std::chrono::seconds(5));
        asio::steady_timer timer(io);
        while (!stopping && !s.peer.empty() && every->count() > 0) {
          auto answer = co_await call_peer(discovery, client, s.peer);
          if (answer) {
            spdlog::info("called {} -> {}", s.peer, answer->dump());
          } else {
            spdlog::warn("calling {} failed: {}", s.peer, answer.error().describe());
          }
          timer.expires_after(*every);
          boost::system::error_code ec;
          co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
      },
      asio::detached);

  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    stopping = true;
    asio::co_spawn(
        io,
        [&]() -> Awaitable<void> {
          spdlog::info("shutting down: maintenance, drain {}, deregister", s.drain);
          co_await discovery.shutdown(*drain);
          server.begin_shutdown();
          io.stop();
        },
        asio::detached);
  });
  io.run();
  return 0;
}
