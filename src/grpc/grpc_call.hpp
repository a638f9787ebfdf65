// What GrpcTransport and the grpc health checker share to run one call of gRPC's callback API from
// a coroutine (private to src/grpc).
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <grpc/support/time.h>
#include <grpcpp/support/status.h>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace svckit::rpc::detail {

/// "host:port" as gRPC targets spell it (an IPv6 literal in brackets).
inline std::string grpc_target(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

/// `timeout` from now on gRPC's monotonic clock, for ClientContext::set_deadline.
inline gpr_timespec deadline_after(std::chrono::milliseconds timeout) {
  return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(timeout.count(), GPR_TIMESPAN));
}

/// Runs `start(done)` — which starts one call with `done` as its completion — and resumes the
/// awaiting coroutine on its own executor with the call's status. `state` (the ClientContext,
/// messages, channel) lives until the call ended and is released on that executor, never inside
/// gRPC's callback: svckitd crashed with a corrupted heap when a ClientContext and channel were
/// freed there.
template <class State, class Start>
boost::asio::awaitable<::grpc::Status> await_call(std::shared_ptr<State> state, Start start) {
  namespace asio = boost::asio;
  const auto executor = co_await asio::this_coro::executor;
  co_return co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(::grpc::Status)>(
      [&](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        const auto ex = asio::get_associated_executor(*shared, executor);
        std::function<void(::grpc::Status)> done = [shared, ex, state](::grpc::Status s) mutable {
          asio::post(ex, [shared = std::move(shared), s = std::move(s), state = std::move(state)]() mutable {
            (*shared)(std::move(s));
          });
        };
        start(std::move(done));
      },
      asio::use_awaitable);
}

}  // namespace svckit::rpc::detail
