#include "svckit/grpc/grpc_health_checker.hpp"

#include "grpc/grpc_call.hpp"

#include <chrono>
#include <fstream>
#include <iterator>
#include <utility>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "grpc/health/v1/health.grpc.pb.h"
#include "svckit/grpc/grpc_transport.hpp"

namespace svckit::rpc {

namespace {

namespace asio = boost::asio;
namespace hv1 = ::grpc::health::v1;

/// One check's state, shared with gRPC's completion callback (it may outlive the check's frame).
/// Members go in reverse order: the ClientContext before the stub and channel it used.
struct HealthCall {
  std::shared_ptr<::grpc::Channel> channel;
  std::unique_ptr<hv1::Health::Stub> stub;
  ::grpc::ClientContext context;
  hv1::HealthCheckRequest request;
  hv1::HealthCheckResponse response;
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

/// The TLS credentials of `tls`'s files; a message naming the file when one cannot be read.
std::shared_ptr<::grpc::ChannelCredentials> tls_credentials(const GrpcCheckerTls& tls, std::string& error) {
  ::grpc::SslCredentialsOptions ssl;
  for (auto [path, out] : {std::pair{&tls.ca_file, &ssl.pem_root_certs}, std::pair{&tls.cert_file, &ssl.pem_cert_chain},
                           std::pair{&tls.key_file, &ssl.pem_private_key}}) {
    if (path->empty()) continue;
    std::ifstream in(*path, std::ios::binary);
    if (!in) {
      error = "gRPC health check over TLS: cannot read " + *path;
      return nullptr;
    }
    out->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  return ::grpc::SslCredentials(ssl);
}

class GrpcHealthChecker final : public HealthChecker {
 public:
  explicit GrpcHealthChecker(GrpcCheckerTls tls) : tls_(std::move(tls)) {}

  asio::awaitable<CheckResult> check(const CheckTarget& target, const HealthCheckSpec& spec) override {
    const auto started = std::chrono::steady_clock::now();
    auto call = std::make_shared<HealthCall>();
    ::grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own connection, closed with the channel
    std::shared_ptr<::grpc::ChannelCredentials> credentials = ::grpc::InsecureChannelCredentials();
    if (auto it = spec.params.find("tls"); it != spec.params.end() && it->second == "true") {
      std::string error;
      credentials = tls_credentials(tls_, error);
      if (!credentials) {
        CheckResult failed;
        failed.message = error;
        co_return failed;
      }
    }
    call->channel = ::grpc::CreateCustomChannel(detail::grpc_target(target.host, target.port), credentials, args);
    call->stub = hv1::Health::NewStub(call->channel);
    if (auto it = spec.params.find("service"); it != spec.params.end()) call->request.set_service(it->second);
    call->context.set_deadline(detail::deadline_after(spec.timeout));
    auto status = co_await detail::await_call(call, [&](std::function<void(::grpc::Status)> done) {
      call->stub->async()->Check(&call->context, &call->request, &call->response, std::move(done));
    });
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

 private:
  const GrpcCheckerTls tls_;
};

}  // namespace

std::shared_ptr<HealthChecker> make_grpc_health_checker(GrpcCheckerTls tls) {
  return std::make_shared<GrpcHealthChecker>(std::move(tls));
}

void register_grpc_health_checker(HealthCheckers::Builder& builder, GrpcCheckerTls tls) {
  builder.add("grpc", make_grpc_health_checker(std::move(tls)));
}

}  // namespace svckit::rpc
