#include "svckit/testing/fault_server.hpp"

#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

namespace svckit::testing {

namespace asio = boost::asio;

FaultServer::FaultServer(asio::io_context& io, std::string name) : state_(std::make_shared<State>()) {
  state_->name = std::move(name);
  http::ServerOptions options;
  options.port = 0;
  server_ = std::make_unique<http::HttpServer>(
      io, options, [state = state_](http::Request& request) -> http::Awaitable<http::Response> {
        ++state->hits;
        {
          std::lock_guard lock(state->mutex);
          state->last_headers.clear();
          state->last_target = std::string(request.target());
          for (const auto& field : request) {
            state->last_headers[std::string(field.name_string())] = std::string(field.value());
          }
        }
        const int delay = state->hang ? 30'000 : state->delay_ms.load();
        if (delay > 0) {
          asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(delay));
          boost::system::error_code ec;
          co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        const int status = state->status;
        const nlohmann::json body{{"server", state->name}, {"status", status}};
        co_return http::json_response(static_cast<http::Status>(status), body);
      });
  (void)server_->listen();
}

std::string FaultServer::last_target() const {
  std::lock_guard lock(state_->mutex);
  return state_->last_target;
}

std::string FaultServer::last_header(const std::string& name) const {
  std::lock_guard lock(state_->mutex);
  for (const auto& [k, v] : state_->last_headers) {
    if (k.size() == name.size() && std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        })) {
      return v;
    }
  }
  return {};
}

}  // namespace svckit::testing
