#include "shop_grpc.hpp"

#include <charconv>
#include <thread>

#include <grpcpp/server_builder.h>
#include <nlohmann/json.hpp>

#include "svckit/demo/product.grpc.pb.h"
#include "svckit/grpc/grpc_server_span.hpp"
#include "svckit/http/types.hpp"

namespace shop {

using nlohmann::json;
namespace demo = svckit::demo;

class ProductGrpcServer::Products final : public demo::ProductService::Service {
 public:
  Products(std::chrono::milliseconds delay, const svckit::trace::Tracer* tracer) : delay_(delay), tracer_(tracer) {}

  void set_instance(std::string id) {
    std::lock_guard lock(mutex_);
    instance_ = std::move(id);
  }

  ::grpc::Status GetProduct(::grpc::ServerContext* context, const demo::ProductRequest* request,
                            demo::ProductResponse* reply) override {
    svckit::trace::Span span;  // a child of the caller's attempt (its traceparent metadata)
    if (tracer_ != nullptr) {
      span = svckit::rpc::start_grpc_server_span(*tracer_, *context, "svckit.demo.ProductService/GetProduct");
    }
    return svckit::rpc::finish_grpc_server_span(span, answer(*context, *request, *reply));
  }

 private:
  ::grpc::Status answer(::grpc::ServerContext& context, const demo::ProductRequest& request,
                        demo::ProductResponse& reply) {
    if (delay_.count() > 0) {
      // A slow instance: waits (on this call's gRPC thread) unless the caller gives up first.
      const auto until = std::chrono::steady_clock::now() + delay_;
      while (std::chrono::steady_clock::now() < until && !context.IsCancelled()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    const auto& id = request.product_id();
    int number = 0;
    const auto [end, ec] = std::from_chars(id.data(), id.data() + id.size(), number);
    if (ec != std::errc{} || end != id.data() + id.size() || number < 1 || number > 1000) {
      return {::grpc::StatusCode::NOT_FOUND, "no product " + id};
    }
    reply.set_id(id);
    reply.set_name("product " + id);
    reply.set_price(9.99);
    reply.set_stock(100 - number % 100);
    std::lock_guard lock(mutex_);
    reply.set_served_by(instance_);
    return ::grpc::Status::OK;
  }

  const std::chrono::milliseconds delay_;
  const svckit::trace::Tracer* tracer_;
  std::mutex mutex_;
  std::string instance_;  // guarded by mutex_
};

std::unique_ptr<ProductGrpcServer> ProductGrpcServer::start(Options options, std::string& error) {
  std::unique_ptr<ProductGrpcServer> out(new ProductGrpcServer());
  out->products_ = std::make_unique<Products>(options.delay, options.tracer);
  ::grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort("127.0.0.1:" + std::to_string(options.port), ::grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(out->products_.get());
  builder.RegisterService(&out->health_);
  out->server_ = builder.BuildAndStart();
  if (!out->server_ || bound == 0) {
    error = "gRPC: cannot listen on 127.0.0.1:" + std::to_string(options.port);
    return nullptr;
  }
  out->port_ = static_cast<std::uint16_t>(bound);
  out->health_.set_service_status("svckit.demo.ProductService", true);
  return out;
}

ProductGrpcServer::~ProductGrpcServer() { shutdown(std::chrono::milliseconds(0)); }

void ProductGrpcServer::set_instance(std::string id) { products_->set_instance(std::move(id)); }

void ProductGrpcServer::shutdown(std::chrono::milliseconds grace) {
  health_.shutdown();
  if (server_) {
    server_->Shutdown(std::chrono::system_clock::now() + grace);
    server_->Wait();
    server_.reset();
  }
}

svckit::http::Awaitable<svckit::http::Response> create_order_grpc(svckit::rpc::GrpcClient& products, std::string order,
                                                                  std::string product, std::string traceparent,
                                                                  std::string tracestate) {
  namespace http = svckit::http;
  demo::ProductRequest request;
  request.set_product_id(product);
  svckit::rpc::GrpcCallOptions options;
  options.idempotent = true;  // a read: safe to send to another instance
  if (!traceparent.empty()) options.metadata.emplace_back("traceparent", traceparent);
  if (!tracestate.empty()) options.metadata.emplace_back("tracestate", tracestate);
  auto got = co_await products.call<demo::ProductResponse>("product-grpc", "/svckit.demo.ProductService/GetProduct",
                                                           request, std::move(options));
  if (got.code == svckit::rpc::Code::not_found) {
    co_return http::json_response(http::Status::not_found,
                                  json{{"error", {{"code", "not_found"}, {"message", got.status_message}}}});
  }
  if (!got.ok()) {
    const std::string code(svckit::rpc::to_string(got.code));
    co_return http::json_response(http::Status::service_unavailable,
                                  json{{"error", {{"code", code}, {"message", got.status_message}}}});
  }
  const auto& p = got.reply;
  co_return http::json_response(
      http::Status::ok,
      json{{"order", order},
           {"product", {{"id", p.id()}, {"name", p.name()}, {"price", p.price()}, {"stock", p.stock()}}},
           {"served_by", p.served_by()},
           {"via", "grpc"},
           {"attempts", got.attempts}});
}

}  // namespace shop
