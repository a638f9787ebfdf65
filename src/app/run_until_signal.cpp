#include <utility>  // before Asio 1.74 awaitable.hpp, which uses std::exchange without it

#include "svckit/app/run_until_signal.hpp"

#include <csignal>
#include <functional>

#include <spdlog/spdlog.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "svckit/client/service_client.hpp"
#include "svckit/core/log.hpp"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/http/server.hpp"

namespace svckit {

namespace asio = boost::asio;

namespace {

asio::awaitable<void> pause(std::chrono::milliseconds d) {
  asio::steady_timer timer(co_await asio::this_coro::executor, d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> shut_down(asio::io_context& io, ShutdownPlan plan, int signal) {
  logs::info("app", "event=shutdown signal={} drain_ms={}", signal, plan.drain.count());
  if (plan.discovery != nullptr) co_await plan.discovery->shutdown(plan.drain);
  if (plan.server != nullptr) {
    plan.server->begin_shutdown();
    const auto until = std::chrono::steady_clock::now() + plan.server_grace;
    while (plan.server->connections() > 0 && std::chrono::steady_clock::now() < until) {
      co_await pause(std::chrono::milliseconds(20));
    }
  }
  if (plan.client != nullptr) co_await plan.client->shutdown(plan.client_drain);
  io.stop();
}

}  // namespace

int run_until_signal(asio::io_context& io, ShutdownPlan plan) {
  asio::signal_set signals(io, SIGTERM, SIGINT);
  int received = 0;
  std::function<void(const boost::system::error_code&, int)> on_signal;
  on_signal = [&](const boost::system::error_code& ec, int signal) {
    if (ec) return;
    if (received != 0) {  // a second signal: stop waiting
      logs::warn("app", "event=shutdown_forced signal={}", signal);
      io.stop();
      return;
    }
    received = signal;
    signals.async_wait(on_signal);
    asio::co_spawn(io, shut_down(io, plan, signal), asio::detached);
  };
  signals.async_wait(on_signal);
  io.run();
  return received;
}

}  // namespace svckit
