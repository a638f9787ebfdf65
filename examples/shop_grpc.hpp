// The demo shop over gRPC: product-service also serves svckit.demo.ProductService/GetProduct
// (proto/svckit/demo/product.proto) with grpc.health.v1 beside it, registered in discovery as
// `product-grpc` with a `grpc` health check; order-service creates orders through it by name.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <string>

#include <grpcpp/server.h>

#include "svckit/grpc/grpc_client.hpp"
#include "svckit/grpc/grpc_health.hpp"
#include "svckit/grpc/grpc_registration.hpp"
#include "svckit/http/types.hpp"
#include "svckit/trace/tracer.hpp"

namespace shop {

/// product-service's gRPC server. Products "1".."1000" exist; any other id is NOT_FOUND.
/// Thread-safety: methods may be called from any thread; calls are served on gRPC's threads.
class ProductGrpcServer {
 public:
  struct Options {
    std::uint16_t port = 0;                         // 0: any free port
    std::chrono::milliseconds delay{0};             // added to every answer (a slow instance, for tests)
    const svckit::trace::Tracer* tracer = nullptr;  // non-null: every call is a server span
  };
  /// Listens on 127.0.0.1; nullptr (and `error` set) when it cannot.
  static std::unique_ptr<ProductGrpcServer> start(Options options, std::string& error);
  ~ProductGrpcServer();

  std::uint16_t port() const { return port_; }
  svckit::rpc::HealthService& health() { return health_; }
  /// Who answers (the registered instance id), put into every reply.
  void set_instance(std::string id);
  /// NOT_SERVING to health checks, then stops taking calls within `grace`.
  void shutdown(std::chrono::milliseconds grace);

 private:
  class Products;
  ProductGrpcServer() = default;
  svckit::rpc::HealthService health_;
  std::unique_ptr<Products> products_;
  std::unique_ptr<::grpc::Server> server_;
  std::uint16_t port_ = 0;
};

/// order-service's order through gRPC: GetProduct on `product-grpc` by name (idempotent: retried
/// on another instance), answered as JSON; NOT_FOUND → 404, other failures → 503.
svckit::http::Awaitable<svckit::http::Response> create_order_grpc(svckit::rpc::GrpcClient& products, std::string order,
                                                                  std::string product, std::string traceparent,
                                                                  std::string tracestate);

}  // namespace shop
