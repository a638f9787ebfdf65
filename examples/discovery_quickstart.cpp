// Quick start for docs/discovery.md: register this process, watch the registry, pick an instance.
// Runs against any registry URL (default: an in-process memory:// registry, so it needs no server).
//
//   build/examples/discovery_quickstart [registry-url]
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <iostream>

#include "svckit/discovery/default_discovery.hpp"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/registry/plugin_registry.hpp"

int main(int argc, char** argv) {
  const std::string url = argc > 1 ? argv[1] : "memory://";

  // Composition root: every collaborator is created here and passed down.
  boost::asio::io_context io;  // one thread: the DiscoveryClient is confined to it
  svckit::RealTimeSource time;
  svckit::RealRandom random;
  svckit::RegistryPlugins::Builder builder;
  svckit::register_builtin_plugins(builder);
  const svckit::RegistryPlugins plugins = std::move(builder).build();
  auto registry = plugins.create(url, {io.get_executor(), time, random});
  if (!registry) {
    std::cerr << registry.error().describe() << "\n";
    return 2;
  }
  svckit::DiscoveryClient discovery(io.get_executor(), **registry, random);
  // Optional: the process-wide default behind the free functions (get_service_url(...) anywhere).
  svckit::set_default_discovery(&discovery);

  int exit_code = 1;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        svckit::AsyncEvent seen;
        discovery.on_event([&](const svckit::RegistryEvent& event) {
          std::cout << "event: " << svckit::to_string(event.type) << " " << event.instance.service << "/"
                    << event.instance.id << "\n";
          if (event.instance.service == "quickstart") seen.set();
        });
        discovery.start();  // one long-poll watch keeps the local cache fresh

        svckit::ServiceInstance me;
        me.service = "quickstart";
        me.host = "127.0.0.1";
        me.port = 8080;
        me.ttl = std::chrono::seconds(10);  // heartbeat every ttl/3 until shutdown
        me.tags = {"v1"};
        auto registered = co_await discovery.register_self(me);
        if (!registered) {
          std::cerr << registered.error().describe() << "\n";
          co_return;
        }
        (void)co_await seen.wait(std::chrono::seconds(5));

        // Reads come from the cache: no network round trip per call.
        // One healthy instance, picked by weight (nginx's smooth weighted round robin).
        auto url = discovery.service_url("quickstart");
        std::cout << "quickstart is at " << (url ? *url : url.error().describe()) << "\n";
        // The same through the free functions over the default client, and a one-call health check
        // (from the registry's statuses; pass an http::Transport to probe each instance instead).
        auto same = svckit::get_service_url("quickstart");
        auto health = co_await svckit::health_check_service("quickstart");
        std::cout << "healthy instances: " << (health ? health->healthy_count() : 0) << "\n";
        exit_code = url && same && health && health->healthy() ? 0 : 1;

        // Graceful exit: maintenance, drain, deregister, stop the loops.
        co_await discovery.shutdown(std::chrono::milliseconds(100));
        io.stop();
      },
      boost::asio::detached);
  io.run();
  svckit::set_default_discovery(nullptr);  // before `discovery` goes
  return exit_code;
}
