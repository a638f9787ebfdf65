// HealthService: the serving side of the gRPC health checking protocol (grpc.health.v1.Health),
// answered from the instance's own status — healthy answers SERVING; starting, unhealthy,
// maintenance and down NOT_SERVING — so grpc_health_probe, Kubernetes' gRPC probes, Envoy and
// svckitd's `grpc` check (grpc_health_checker.hpp) all see what discovery sees. Watch streams every
// change. Register it with the server:
//
//       svckit::rpc::HealthService health;
//       builder.RegisterService(&health);
//       health.set_status(InstanceStatus::healthy);
//       ... at shutdown: health.shutdown();  // NOT_SERVING to every caller and watcher, watches end
//
// Thread-safety: thread-safe.
#pragma once

#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "svckit/core/service_instance.hpp"

namespace svckit::rpc {

class HealthService final : public ::grpc::health::v1::Health::Service {
 public:
  using ServingStatus = ::grpc::health::v1::HealthCheckResponse::ServingStatus;

  /// The server's own status ("" service), from the instance's status.
  void set_status(InstanceStatus status);
  /// One named service's status (Check with that name); unknown names answer NOT_FOUND.
  void set_service_status(const std::string& service, bool serving);
  /// NOT_SERVING for everything from now on, and every Watch ends (call before the server's
  /// Shutdown(), which waits for open streams).
  void shutdown();

  ::grpc::Status Check(::grpc::ServerContext* context, const ::grpc::health::v1::HealthCheckRequest* request,
                       ::grpc::health::v1::HealthCheckResponse* response) override;
  ::grpc::Status Watch(::grpc::ServerContext* context, const ::grpc::health::v1::HealthCheckRequest* request,
                       ::grpc::ServerWriter<::grpc::health::v1::HealthCheckResponse>* writer) override;

 private:
  /// The status of `service` under mutex_; SERVICE_UNKNOWN when it was never set.
  ServingStatus status_locked(const std::string& service) const;

  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, ServingStatus> statuses_{{"", ::grpc::health::v1::HealthCheckResponse::NOT_SERVING}};
  std::uint64_t version_ = 0;  // bumped on every change (Watch compares)
  bool shut_down_ = false;
};

}  // namespace svckit::rpc
