#include "svckit/grpc/grpc_registration.hpp"

#include "svckit/grpc/grpc_health.hpp"

namespace svckit::rpc {

GrpcRegistration::GrpcRegistration(DiscoveryClient& discovery, HealthService& health, GrpcRegistrationOptions options)
    : discovery_(discovery), health_(health), options_(std::move(options)) {}

GrpcRegistration::~GrpcRegistration() {
  if (handler_ != 0) discovery_.remove_handler(handler_);
}

Awaitable<Result<ServiceInstance>> GrpcRegistration::start() {
  if (options_.port <= 0 || options_.port > 65535) {
    co_return make_error(ErrorCode::invalid_argument, "the gRPC server's bound port is required", "port");
  }
  ServiceInstance self;
  self.service = options_.service;
  self.host = options_.host;
  self.port = options_.port;
  self.ttl = options_.ttl;
  self.tags = options_.tags;
  self.metadata = options_.metadata;
  self.zone = options_.zone;
  if (!options_.check) {
    HealthCheckSpec check;
    check.type = "grpc";
    check.interval = std::chrono::seconds(10);
    check.timeout = std::chrono::seconds(2);
    self.checks = {check};
  } else if (!options_.check->type.empty()) {
    self.checks = {*options_.check};
  }
  discovery_.start();
  auto registered = co_await discovery_.register_self(self);
  if (!registered) co_return registered.error();
  id_ = registered->id;
  handler_ = discovery_.on_event([this](const RegistryEvent& event) { on_event(event); });
  health_.set_status(InstanceStatus::healthy);
  co_return registered;
}

void GrpcRegistration::on_event(const RegistryEvent& event) {
  if (draining_ || event.instance.id != id_ || event.instance.service != options_.service) return;
  // Only what an operator decides steers the answer: maintenance, and its end.
  if (event.instance.status == InstanceStatus::maintenance) {
    health_.set_status(InstanceStatus::maintenance);
  } else if (event.previous_status == InstanceStatus::maintenance) {
    health_.set_status(InstanceStatus::healthy);
  }
}

Awaitable<void> GrpcRegistration::drain(std::chrono::milliseconds drain) {
  draining_ = true;
  health_.set_status(InstanceStatus::maintenance);  // NOT_SERVING: checks and probes stop choosing it
  co_await discovery_.shutdown(drain);
}

}  // namespace svckit::rpc
