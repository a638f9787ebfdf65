// Example for docs/grpc.md: two gRPC servers of ProductService register in discovery (an
// in-process memory:// registry here; svckitd:// or any other in production) with grpc.health.v1
// answered from their status; a GrpcClient calls the service by name — spread over both, NOT_FOUND
// as an answer, a short deadline, and a server taken out of rotation.
#include <utility>  // before Asio 1.74 awaitable.hpp, which uses std::exchange without it

#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <iostream>
#include <set>

#include "svckit/demo/product.grpc.pb.h"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/grpc/grpc_client.hpp"
#include "svckit/grpc/grpc_health.hpp"
#include "svckit/registry/plugin_registry.hpp"

using namespace std::chrono_literals;
namespace demo = svckit::demo;
namespace rpc = svckit::rpc;

/// The service: products 1..1000 exist, each answered with who served it.
class Products final : public demo::ProductService::Service {
 public:
  explicit Products(std::string name) : name_(std::move(name)) {}
  grpc::Status GetProduct(grpc::ServerContext*, const demo::ProductRequest* request,
                          demo::ProductResponse* reply) override {
    const auto& id = request->product_id();
    if (id.empty() || id.size() > 4 || id.find_first_not_of("0123456789") != std::string::npos || std::stoi(id) < 1 ||
        std::stoi(id) > 1000) {
      return {grpc::StatusCode::NOT_FOUND, "no product " + id};
    }
    reply->set_id(id);
    reply->set_name("product " + id);
    reply->set_price(9.99);
    reply->set_served_by(name_);
    return grpc::Status::OK;
  }

 private:
  std::string name_;
};

/// One instance: the service and grpc.health.v1 on a free port.
struct Instance {
  explicit Instance(const std::string& name) : products(name) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(&products);
    builder.RegisterService(&health);
    server = builder.BuildAndStart();
    health.set_status(svckit::InstanceStatus::healthy);
  }
  Products products;
  rpc::HealthService health;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

int main() {
  boost::asio::io_context io;
  svckit::RealRandom random;
  svckit::RealTimeSource time;
  svckit::MetricsRegistry metrics;
  svckit::RegistryPlugins::Builder registries;
  svckit::register_builtin_plugins(registries);
  const auto plugins = std::move(registries).build();
  auto registry = plugins.create("memory://", {io.get_executor(), time, random});
  if (!registry) return 1;
  svckit::DiscoveryClient discovery(io.get_executor(), **registry, random);
  svckit::BalancerPlugins::Builder policies;
  svckit::register_builtin_balancers(policies);
  const auto balancers = std::move(policies).build();

  Instance a("a"), b("b");
  if (!a.server || !b.server) return 1;

  // One client for the process: ServiceClientOptions as for HTTP calls (timeouts, retries, breakers...).
  svckit::ServiceClientOptions options;
  options.defaults.per_try_timeout = 500ms;
  auto client = rpc::GrpcClient::create(options, {io.get_executor(), &discovery, balancers, random, time, &metrics});
  if (!client) return 1;

  int exit_code = 1;
  boost::asio::co_spawn(
      io,
      [&]() -> svckit::http::Awaitable<void> {
        discovery.start();
        for (auto* instance : {&a, &b}) {  // a real server registers itself (DiscoveryClient::register_self)
          svckit::ServiceInstance self;
          self.service = "product-grpc";
          self.host = "127.0.0.1";
          self.port = instance->port;
          self.tags = {"grpc"};
          (void)co_await (*registry)->register_instance(self);
        }
        (void)co_await discovery.wait_synced(5s);
        boost::asio::steady_timer tick(io);
        for (int i = 0; i < 500 && discovery.instance_count("product-grpc") < 2; ++i) {  // the watch delivers both
          tick.expires_after(10ms);
          co_await tick.async_wait(boost::asio::use_awaitable);
        }

        // 1. Calls by name, spread over the instances; idempotent: retried elsewhere if one fails.
        std::set<std::string> served_by;
        demo::ProductRequest request;
        request.set_product_id("42");
        rpc::GrpcCallOptions read;
        read.idempotent = true;
        for (int i = 0; i < 10; ++i) {
          auto got = co_await (*client)->call<demo::ProductResponse>(
              "product-grpc", "/svckit.demo.ProductService/GetProduct", request, read);
          if (!got.ok()) co_return;
          served_by.insert(got.reply.served_by());
        }
        std::cout << "10 calls served by " << served_by.size() << " instances\n";

        // 2. A gRPC error code is an answer: NOT_FOUND comes back as it is, never retried.
        request.set_product_id("5000");
        auto missing = co_await (*client)->call<demo::ProductResponse>(
            "product-grpc", "/svckit.demo.ProductService/GetProduct", request, read);
        std::cout << "product 5000: " << rpc::to_string(missing.code) << " (" << missing.status_message << "), "
                  << missing.attempts << " attempt\n";

        // 3. The server's health follows its status: maintenance answers NOT_SERVING.
        b.health.set_status(svckit::InstanceStatus::maintenance);
        std::cout << "b's grpc.health.v1 is NOT_SERVING now (svckitd's grpc check would take it out)\n";

        exit_code = served_by.size() == 2 && missing.code == rpc::Code::not_found && missing.attempts == 1 ? 0 : 1;
        co_await (*client)->shutdown(1s);
        co_await discovery.shutdown(0ms);
        io.stop();
      },
      boost::asio::detached);
  io.run();
  a.health.shutdown();
  b.health.shutdown();
  a.server->Shutdown();
  b.server->Shutdown();
  std::cout << (exit_code == 0 ? "ok\n" : "FAILED\n");
  return exit_code;
}
