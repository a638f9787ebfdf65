#include "svckit/grpc/grpc_health.hpp"

#include <chrono>

namespace svckit::rpc {

namespace hv1 = ::grpc::health::v1;

void HealthService::set_status(InstanceStatus status) {
  const auto serving =
      status == InstanceStatus::healthy ? hv1::HealthCheckResponse::SERVING : hv1::HealthCheckResponse::NOT_SERVING;
  {
    std::lock_guard lock(mutex_);
    if (shut_down_ || statuses_[""] == serving) return;
    statuses_[""] = serving;
    ++version_;
  }
  changed_.notify_all();
}

void HealthService::set_service_status(const std::string& service, bool serving) {
  const auto status = serving ? hv1::HealthCheckResponse::SERVING : hv1::HealthCheckResponse::NOT_SERVING;
  {
    std::lock_guard lock(mutex_);
    if (shut_down_ || statuses_[service] == status) return;
    statuses_[service] = status;
    ++version_;
  }
  changed_.notify_all();
}

void HealthService::shutdown() {
  {
    std::lock_guard lock(mutex_);
    shut_down_ = true;
    for (auto& [name, status] : statuses_) status = hv1::HealthCheckResponse::NOT_SERVING;
    ++version_;
  }
  changed_.notify_all();
}

HealthService::ServingStatus HealthService::status_locked(const std::string& service) const {
  auto it = statuses_.find(service);
  return it == statuses_.end() ? hv1::HealthCheckResponse::SERVICE_UNKNOWN : it->second;
}

::grpc::Status HealthService::Check(::grpc::ServerContext*, const hv1::HealthCheckRequest* request,
                                    hv1::HealthCheckResponse* response) {
  std::lock_guard lock(mutex_);
  const auto status = status_locked(request->service());
  if (status == hv1::HealthCheckResponse::SERVICE_UNKNOWN) {
    return {::grpc::StatusCode::NOT_FOUND, "unknown service " + request->service()};
  }
  response->set_status(status);
  return ::grpc::Status::OK;
}

::grpc::Status HealthService::Watch(::grpc::ServerContext* context, const hv1::HealthCheckRequest* request,
                                    ::grpc::ServerWriter<hv1::HealthCheckResponse>* writer) {
  // The synchronous API gives this stream a thread of the server's pool until it ends: it wakes on
  // every change, and every 100 ms to notice a caller that went away.
  std::unique_lock lock(mutex_);
  std::uint64_t seen = ~std::uint64_t{0};
  ServingStatus sent = hv1::HealthCheckResponse::UNKNOWN;
  for (;;) {
    if (context->IsCancelled()) return ::grpc::Status::CANCELLED;
    if (seen != version_) {
      seen = version_;
      const auto status = status_locked(request->service());
      if (status != sent || sent == hv1::HealthCheckResponse::UNKNOWN) {
        sent = status;
        hv1::HealthCheckResponse response;
        response.set_status(status);
        lock.unlock();
        const bool written = writer->Write(response);
        lock.lock();
        if (!written) return ::grpc::Status::CANCELLED;
      }
      if (shut_down_) return ::grpc::Status::OK;
    }
    changed_.wait_for(lock, std::chrono::milliseconds(100));
  }
}

}  // namespace svckit::rpc
