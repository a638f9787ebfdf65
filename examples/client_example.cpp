// Example for docs/client.md: call services by name with one shared ServiceClient — configured
// the way twelve-factor services are (environment variables), with call, call_all, error handling
// with a fallback, a per-service override at run time, a streamed download, and metrics.
#include <utility>  // before Asio 1.74 awaitable.hpp, which uses std::exchange without it

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "svckit/client/client_config.hpp"
#include "svckit/client/service_client.hpp"
#include "svckit/http/server.hpp"

using namespace std::chrono_literals;
namespace http = svckit::http;

int main() {
  boost::asio::io_context io;

  // Stand-in for a real user-service: answers /users/{id}.
  http::ServerOptions server_options;
  server_options.port = 0;
  http::HttpServer users(io, server_options, [](http::Request& request) -> http::Awaitable<http::Response> {
    const nlohmann::json body{{"path", std::string(request.target())}, {"name", "Ada"}};
    co_return http::json_response(http::Status::ok, body);
  });
  if (!users.listen()) return 1;

  // Configuration from environment variables: USER_SERVICE_URL, DEFAULT_TIMEOUT, CB_FAILURE_THRESHOLD...
  // (a real service passes svckit::process_environment(), and may add_yaml() a file first).
  svckit::ClientConfigLoader config;
  auto env = config.add_env({{"USER_SERVICE_URL", "http://127.0.0.1:" + std::to_string(users.port())},
                             {"DEFAULT_TIMEOUT", "5"},
                             {"DEFAULT_RETRY_TIMES", "2"},
                             {"CB_FAILURE_THRESHOLD", "5"},
                             {"CB_RECOVERY_TIMEOUT", "30"}});
  auto options = config.build();
  if (!env || !options) return 1;

  svckit::RealRandom random;
  svckit::RealTimeSource time;
  svckit::MetricsRegistry metrics;
  svckit::BalancerPlugins::Builder policies;
  svckit::register_builtin_balancers(policies);
  const auto balancers = std::move(policies).build();
  // One client for the whole process (no discovery here: every service has a URL or none).
  auto client =
      svckit::ServiceClient::create(*options, {io.get_executor(), nullptr, balancers, random, time, &metrics});
  if (!client) return 1;
  auto& services = **client;

  int exit_code = 1;
  boost::asio::co_spawn(
      io,
      [&]() -> http::Awaitable<void> {
        // 1. One call: the response, or ServiceCallError.
        auto user = co_await services.call("user-service", http::Verb::get, "/users/42");
        std::cout << "user: " << user.body() << "\n";

        // 2. Many calls at once (asyncio.gather).
        std::vector<svckit::CallSpec> batch;
        for (int id : {1, 2, 3}) batch.emplace_back("user-service", http::Verb::get, "/users/" + std::to_string(id));
        auto answers = co_await services.call_all(batch);
        std::cout << "call_all: " << answers.size() << " answers, all ok: "
                  << std::all_of(answers.begin(), answers.end(), [](const auto& r) { return r.ok(); }) << "\n";

        // 3. Errors are values with try_call; a fallback answers when everything fails.
        svckit::CallOptions with_fallback;
        with_fallback.fallback = [](const svckit::ServiceCallError& e) -> std::optional<http::Response> {
          std::cout << "fallback because " << to_string(e.kind) << ": " << e.what() << "\n";
          const nlohmann::json cached{{"recommendations", nlohmann::json::array()}};
          return http::json_response(http::Status::ok, cached);
        };
        auto recs = co_await services.try_call("recommendation-service", http::Verb::get, "/for/42", with_fallback);
        std::cout << "recommendations: " << recs.response->body() << "\n";

        // 4. Per-service settings at run time, without a restart.
        svckit::ServiceConfig slow_user = options->services.at("user-service");
        slow_user.timeout = 30s;
        slow_user.hedging.enabled = true;  // tail latency: a second try elsewhere after 50 ms
        if (!services.update_service_config("user-service", slow_user)) co_return;
        auto again = co_await services.try_call("user-service", http::Verb::get, "/users/7");

        // 5. Large bodies: stream them (64 KiB pieces, bounded memory) instead of buffering.
        const auto path = std::filesystem::temp_directory_path() / "svckit-example-download.json";
        std::ofstream file(path, std::ios::binary);
        svckit::CallOptions download;
        download.timeout = 5min;
        download.on_body = [&file](std::string_view piece) -> svckit::Result<void> {
          if (!file.write(piece.data(), static_cast<std::streamsize>(piece.size()))) {
            return svckit::make_error(svckit::ErrorCode::unavailable, "cannot write the download", "on_body");
          }
          return {};
        };
        auto streamed = co_await services.try_call("user-service", http::Verb::get, "/users/42", download);
        file.close();
        std::cout << "streamed " << std::filesystem::file_size(path) << " bytes to " << path << "\n";
        std::filesystem::remove(path);
        if (!streamed.ok()) co_return;

        // 6. Metrics: get_metrics(), and the same as Prometheus series.
        const auto m = services.get_metrics();
        std::cout << "calls " << m.total_calls << ", ok " << m.successful_calls << ", fallbacks " << m.fallbacks
                  << ", connections opened " << m.pool.connections_opened << "\n";
        exit_code = again.ok() && m.fallbacks == 1 ? 0 : 1;
        co_await services.shutdown(1s);
        io.stop();
      },
      boost::asio::detached);
  io.run_for(10s);
  const auto text = metrics.render_prometheus();  // serve this on /metrics
  std::cout << text.substr(text.find("svckit_client_calls_total{"), 60) << "...\n";
  return exit_code;
}
