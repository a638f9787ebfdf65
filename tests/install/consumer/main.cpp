// Registers and discovers through the installed library's memory:// backend.
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <iostream>
#include <svckit/discovery/discovery_client.hpp>
#include <svckit/registry/plugin_registry.hpp>

int main() {
  boost::asio::io_context io;
  svckit::RealTimeSource time;
  svckit::RealRandom random;
  svckit::RegistryPlugins::Builder builder;
  svckit::register_builtin_plugins(builder);
  auto plugins = std::move(builder).build();
  auto registry = plugins.create("memory://", {io.get_executor(), time, random});
  if (!registry) return 1;
  svckit::DiscoveryClient discovery(io.get_executor(), **registry, random);
  int code = 1;
  boost::asio::co_spawn(
      io,
      [&]() -> boost::asio::awaitable<void> {
        svckit::AsyncEvent seen;
        discovery.on_event([&](const svckit::RegistryEvent& e) {
          if (e.instance.service == "consumer") seen.set();
        });
        discovery.start();
        svckit::ServiceInstance self;
        self.service = "consumer";
        self.host = "127.0.0.1";
        self.port = 1234;
        (void)co_await discovery.register_self(self);
        (void)co_await seen.wait(std::chrono::seconds(5));
        auto url = discovery.service_url("consumer");
        std::cout << (url ? *url : url.error().describe()) << "\n";
        code = url && *url == "http://127.0.0.1:1234" ? 0 : 1;
        co_await discovery.shutdown(std::chrono::milliseconds(0));
        io.stop();
      },
      boost::asio::detached);
  io.run();
  return code;
}
