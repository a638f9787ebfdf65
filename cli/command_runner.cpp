#include "cli/command_runner.hpp"

#include <boost/asio/co_spawn.hpp>

#include "svckit/registry/plugin_registry.hpp"

namespace svckit::cli {

Result<std::unique_ptr<Registry>> open_registry(const std::string& url, boost::asio::any_io_executor executor,
                                                const TimeSource& time, Random& random) {
  RegistryPlugins::Builder builder;
  register_builtin_plugins(builder);
  const auto plugins = std::move(builder).build();
  return plugins.create(url, RegistryDeps{std::move(executor), time, random});
}

int run_to_exit(boost::asio::io_context& io, http::Awaitable<int> command) {
  int code = 1;
  boost::asio::co_spawn(io, std::move(command), [&](const std::exception_ptr& e, int result) {
    code = e ? 1 : result;
    io.stop();
  });
  io.run();
  return code;
}

}  // namespace svckit::cli
