// The program of docs/security.md: a service's side of svckitd's ACLs. Its token lives in a file
// (never in the URL, never on the command line); the registry client sends it with every call.
// It registers itself in the service its token may write, reads the registry, and shows what a
// client without a token gets.
//
//   acl_example 127.0.0.1:8500 /etc/billing/svckit.token
//
// Exits 0 when the token's write was accepted and the token-less one refused as unauthenticated.
#include <utility>  // before Asio 1.74 awaitable.hpp, which uses std::exchange without it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>

#include "svckit/core/random.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace asio = boost::asio;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: acl_example HOST:PORT TOKEN_FILE\n");
    return 2;
  }
  const std::string daemon = argv[1];
  const std::string token_file = argv[2];

  asio::io_context io;
  svckit::RealTimeSource time;
  svckit::RealRandom random;
  svckit::RegistryPlugins::Builder builder;
  svckit::register_builtin_plugins(builder);
  const auto plugins = std::move(builder).build();
  const svckit::RegistryDeps deps{io.get_executor(), time, random};
  // ?token_file= (or ?token_env=, or SVCKIT_TOKEN in the environment): the token goes with every
  // request as "Authorization: Bearer ...".
  auto with_token = plugins.create("svckitd://" + daemon + "?token_file=" + token_file, deps);
  auto without = plugins.create("svckitd://" + daemon, deps);
  if (!with_token || !without) {
    std::fprintf(stderr, "%s\n", (!with_token ? with_token : without).error().describe().c_str());
    return 1;
  }

  svckit::ServiceInstance me;
  me.service = "billing";
  me.id = "billing-1";
  me.host = "127.0.0.1";
  me.port = 8080;
  int code = 1;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<int> {
        auto stored = co_await (*with_token)->register_instance(me);
        if (!stored) {
          std::fprintf(stderr, "register: %s\n", stored.error().describe().c_str());
          co_return 1;
        }
        auto listed = co_await (*with_token)->list("billing", svckit::InstanceFilter{});
        std::printf("registered %s; billing has %zu instance(s)\n", stored->id.c_str(), listed ? listed->size() : 0);
        // Without a token (and no anonymous rule that allows it) svckitd answers 401.
        auto refused = co_await (*without)->register_instance(me);
        std::printf("without a token: %s\n", refused ? "accepted?!" : refused.error().describe().c_str());
        co_return !refused && refused.error().code == svckit::ErrorCode::unauthenticated ? 0 : 1;
      },
      [&](std::exception_ptr, int result) {
        code = result;
        io.stop();  // pooled connections would keep the loop alive until they idle out
      });
  io.run();
  return code;
}
