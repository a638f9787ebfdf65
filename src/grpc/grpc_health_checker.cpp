#include "svckit/grpc/grpc_health_checker.hpp"

#include <chrono>
#include <utility>

#include <grpc/support/time.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>
#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "grpc/health/v1/health.grpc.pb.h"
#include "svckit/grpc/grpc_transport.hpp"

namespace svckit::rpc {

namespace {

namespace asio = boost::asio;
namespace hv1 = ::grpc::health::v1;

/// One check's state, shared with gRPC's completion callback (it may outlive the check's frame).
struct HealthCall {
  ::grpc::ClientContext context;
  hv1::HealthCheckRequest request;
  hv1::HealthCheckResponse response;
  std::shared_ptr<::grpc::Channel> channel;
  std::unique_ptr<hv1::Health::Stub> stub;
};

std::string_view serving_name(hv1::HealthCheckResponse::ServingStatus status) {
  switch (status) {
    case hv1::HealthCheckResponse::SERVING:
      return "SERVING";
    case hv1::HealthCheckResponse::NOT_SERVING:
      return "NOT_SERVING";
    case hv1::HealthCheckResponse::SERVICE_UNKNOWN:
      return "SERVICE_UNKNOWN";
    default:
      return "UNKNOWN";
  }
}

class GrpcHealthChecker final : public HealthChecker {
 public:
  asio::awaitable<CheckResult> check(const CheckTarget& target, const HealthCheckSpec& spec) override {
    const auto started = std::chrono::steady_clock::now();
    auto call = std::make_shared<HealthCall>();
    const bool v6 = target.host.find(':') != std::string::npos;
    const std::string address = (v6 ? "[" + target.host + "]" : target.host) + ":" + std::to_string(target.port);
    ::grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own connection, closed with the channel
    call->channel = ::grpc::CreateCustomChannel(address, ::grpc::InsecureChannelCredentials(), args);
    call->stub = hv1::Health::NewStub(call->channel);
    if (auto it = spec.params.find("service"); it != spec.params.end()) call->request.set_service(it->second);
    call->context.set_deadline(
        gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_millis(spec.timeout.count(), GPR_TIMESPAN)));
    const auto executor = co_await asio::this_coro::executor;
    auto status = co_await asio::async_initiate<const asio::use_awaitable_t<>&, void(::grpc::Status)>(
        [&](auto handler) {
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          const auto ex = asio::get_associated_executor(*shared, executor);
          // The call's state is released on the checker's executor, never inside gRPC's callback
          // (a ClientContext or channel destroyed there is freed under gRPC's feet).
          call->stub->async()->Check(&call->context, &call->request, &call->response,
                                     [shared, ex, call](::grpc::Status s) mutable {
                                       asio::post(ex, [shared = std::move(shared), s = std::move(s),
                                                       call = std::move(call)]() mutable { (*shared)(std::move(s)); });
                                     });
        },
        asio::use_awaitable);
    CheckResult result;
    result.latency = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
    if (!status.ok()) {
      const auto code = static_cast<Code>(status.error_code());
      result.message = code == Code::deadline_exceeded
                           ? "gRPC health check timed out after " + std::to_string(spec.timeout.count()) + "ms"
                           : "gRPC " + std::string(to_string(code)) + ": " + status.error_message();
      co_return result;
    }
    result.ok = call->response.status() == hv1::HealthCheckResponse::SERVING;
    result.message = "gRPC health " + std::string(serving_name(call->response.status()));
    co_return result;
  }
};

}  // namespace

std::shared_ptr<HealthChecker> make_grpc_health_checker() { return std::make_shared<GrpcHealthChecker>(); }

void register_grpc_health_checker(HealthCheckers::Builder& builder) { builder.add("grpc", make_grpc_health_checker()); }

}  // namespace svckit::rpc
