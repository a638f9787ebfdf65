#include "svckit/grpc/grpc_client.hpp"

namespace svckit::rpc {

namespace {

/// What a call that got no gRPC answer comes to, as gRPC clients report it.
Code code_of(CallErrorKind kind) {
  switch (kind) {
    case CallErrorKind::timeout:
      return Code::deadline_exceeded;
    case CallErrorKind::cancelled:
      return Code::cancelled;
    case CallErrorKind::invalid_argument:
      return Code::invalid_argument;
    case CallErrorKind::bulkhead_full:
    case CallErrorKind::rate_limited:
      return Code::resource_exhausted;
    case CallErrorKind::connect:
    case CallErrorKind::no_instances:
    case CallErrorKind::circuit_open:
    case CallErrorKind::budget_exhausted:
    case CallErrorKind::http_status:
      return Code::unavailable;
  }
  return Code::unknown;
}

GrpcRawResult raw_result_of(CallResult& result) {
  GrpcRawResult out;
  out.attempts = result.attempts;
  out.instance = result.instance;
  if (result.response) {
    const auto& r = *result.response;
    const auto code = parse_code(std::string_view(r["grpc-status"].data(), r["grpc-status"].size()));
    out.code = code.value_or(Code::unknown);
    out.status_message = std::string(r["grpc-message"]);
    if (out.code == Code::ok) out.message = std::move(result.response->body());
    if (!code) out.status_message = "an answer without a grpc-status";
    return out;
  }
  if (result.error) {
    out.code = code_of(result.error->kind);
    out.status_message = result.error->what();
    if (out.instance.empty()) out.instance = result.error->instance;
    if (out.attempts == 0) out.attempts = result.error->attempts;
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<GrpcClient>> GrpcClient::create(ServiceClientOptions options, Deps deps,
                                                       GrpcTransportOptions transport) {
  if (!options.gateway_url.empty()) {
    return make_error(ErrorCode::invalid_argument, "gRPC calls go to instances, not through a gateway", "gateway_url");
  }
  std::unique_ptr<GrpcClient> client(new GrpcClient());
  client->transport_ = std::make_unique<GrpcTransport>(transport);
  deps.transport = client->transport_.get();
  client->discovery_ = deps.discovery;
  auto made = ServiceClient::create(std::move(options), deps);
  if (!made) return made.error();
  client->client_ = std::move(*made);
  if (client->discovery_ != nullptr) {
    // An instance that left discovery will not be called again: its channel (and connection) goes.
    GrpcTransport* channels = client->transport_.get();
    client->discovery_handler_ = client->discovery_->on_event([channels](const RegistryEvent& event) {
      if (event.type == EventType::deregistered || event.type == EventType::expired) {
        channels->close(net::HostPort{event.instance.host, static_cast<std::uint16_t>(event.instance.port),
                                      event.instance.scheme == "https"});
      }
    });
  }
  return client;
}

GrpcClient::~GrpcClient() {
  if (discovery_ != nullptr && discovery_handler_ != 0) discovery_->remove_handler(discovery_handler_);
}

Awaitable<GrpcRawResult> GrpcClient::call_raw(std::string service, std::string method, std::string request,
                                              GrpcCallOptions options) {
  CallOptions call;
  call.body = std::move(request);
  call.content_type = "application/grpc+proto";
  call.headers = std::move(options.metadata);
  call.timeout = options.timeout;
  call.deadline = options.deadline;
  call.hash_key = std::move(options.hash_key);
  if (options.idempotent) {
    call.retry_non_idempotent = true;
  } else {
    call.hedge = false;  // two copies of a call that is not idempotent would both act
  }
  auto result = co_await client_->try_call(std::move(service), http::Verb::post, std::move(method), std::move(call));
  co_return raw_result_of(result);
}

Result<void> GrpcClient::update_service_config(const std::string& service, ServiceConfig config) {
  return client_->update_service_config(service, std::move(config));
}

Awaitable<void> GrpcClient::shutdown(std::chrono::milliseconds drain) {
  co_await client_->shutdown(drain);
  transport_->close_idle();
}

ServiceClientStats GrpcClient::stats() const { return client_->stats(); }

std::size_t GrpcClient::channels() const { return transport_->channels(); }

}  // namespace svckit::rpc
