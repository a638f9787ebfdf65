// gRPC calls by name through svckit (GrpcClient: discovery, balancer, retries, breakers, metrics)
// against a plain gRPC channel with gRPC's own `round_robin` over the same servers' static
// addresses — side by side, alternating rounds, one process each way, the same servers.
//
//   build/bench/grpc_bench [--servers 2] [--concurrency 16] [--seconds 5] [--rounds 2]
//
// The servers are this binary in `--serve` mode (ProductService/GetProduct, synchronous server),
// each its own process. Each round runs `concurrency` callers in a closed loop for `seconds` and
// prints calls/s and latency percentiles; the last line compares svckit with plain gRPC.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <fcntl.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "svckit/demo/product.grpc.pb.h"
#include "svckit/discovery/discovery_client.hpp"
#include "svckit/grpc/grpc_client.hpp"
#include "svckit/registry/plugin_registry.hpp"

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
namespace demo = svckit::demo;

namespace {

class Products final : public demo::ProductService::Service {
  grpc::Status GetProduct(grpc::ServerContext*, const demo::ProductRequest* request,
                          demo::ProductResponse* reply) override {
    reply->set_id(request->product_id());
    reply->set_name("product " + request->product_id());
    reply->set_price(9.99);
    reply->set_stock(42);
    return grpc::Status::OK;
  }
};

/// --serve: one server on a free port; prints the port, runs until stdin closes.
int serve() {
  Products products;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&products);
  auto server = builder.BuildAndStart();
  if (!server) return 1;
  std::printf("%d\n", port);
  std::fflush(stdout);
  char c;
  while (read(0, &c, 1) > 0) {
  }
  server->Shutdown();
  return 0;
}

struct Server {
  pid_t pid = -1;
  int port = 0;
  int stdin_fd = -1;
};

Server spawn_server() {
  int in[2], out[2];
  // Close-on-exec: a later server must not hold an earlier one's stdin open (it would never end).
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) std::exit(1);
  Server s;
  s.pid = fork();
  if (s.pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[1]);
    close(out[0]);
    execl("/proc/self/exe", "grpc_bench", "--serve", nullptr);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  s.stdin_fd = in[1];
  char buf[32] = {};
  ssize_t n = 0, got = 0;
  while (got < static_cast<ssize_t>(sizeof(buf)) - 1 && (n = read(out[0], buf + got, sizeof(buf) - 1 - got)) > 0) {
    got += n;
    if (std::string_view(buf, static_cast<std::size_t>(got)).find('\n') != std::string_view::npos) break;
  }
  close(out[0]);
  s.port = std::atoi(buf);
  if (s.port <= 0) std::exit(1);
  return s;
}

struct Figures {
  double calls_per_second = 0;
  double p50_us = 0, p99_us = 0;
  double cpu_us_per_call = 0;  // this (client) process's user + system CPU per call
  std::uint64_t failed = 0;
};

/// This process's user + system CPU so far, in microseconds (the servers are other processes).
double cpu_us() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  const auto us = [](const timeval& t) { return static_cast<double>(t.tv_sec) * 1e6 + static_cast<double>(t.tv_usec); };
  return us(u.ru_utime) + us(u.ru_stime);
}

Figures summarize(std::vector<double>& latencies_us, std::uint64_t failed, double seconds) {
  Figures f;
  f.failed = failed;
  f.calls_per_second = static_cast<double>(latencies_us.size()) / seconds;
  if (!latencies_us.empty()) {
    std::sort(latencies_us.begin(), latencies_us.end());
    f.p50_us = latencies_us[latencies_us.size() / 2];
    f.p99_us = latencies_us[latencies_us.size() * 99 / 100];
  }
  return f;
}

/// What the plain callers share: each call, when it completes, records itself and issues the next.
struct PlainState {
  demo::ProductService::Stub* stub = nullptr;
  Clock::time_point until;
  std::mutex mutex;
  std::condition_variable cv;
  std::vector<double> latencies;  // guarded by mutex
  std::uint64_t failed = 0;       // guarded by mutex
  int running = 0;                // guarded by mutex: callers still calling
};

struct PlainCall {
  grpc::ClientContext context;
  demo::ProductRequest request;
  demo::ProductResponse reply;
  Clock::time_point started;
};

/// One caller's next call (or its end, past the deadline).
void plain_call(PlainState* state) {
  auto call = std::make_shared<PlainCall>();
  call->started = Clock::now();
  if (call->started >= state->until) {
    std::lock_guard lock(state->mutex);
    if (--state->running == 0) state->cv.notify_all();
    return;
  }
  call->request.set_product_id("7");
  call->context.set_deadline(std::chrono::system_clock::now() + 5s);
  auto* c = call.get();
  state->stub->async()->GetProduct(&c->context, &c->request, &c->reply, [state, call](grpc::Status s) mutable {
    const double us = std::chrono::duration<double, std::micro>(Clock::now() - call->started).count();
    {
      std::lock_guard lock(state->mutex);
      if (s.ok()) {
        state->latencies.push_back(us);
      } else {
        ++state->failed;
      }
    }
    plain_call(state);
  });
}

/// Plain gRPC: one channel, `round_robin` over the static addresses, callback API.
Figures run_plain(const std::vector<Server>& servers, int concurrency, std::chrono::seconds duration) {
  std::string target = "ipv4:";
  for (std::size_t i = 0; i < servers.size(); ++i) {
    target += (i ? ",127.0.0.1:" : "127.0.0.1:") + std::to_string(servers[i].port);
  }
  grpc::ChannelArguments args;
  args.SetLoadBalancingPolicyName("round_robin");
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  auto stub = demo::ProductService::NewStub(channel);
  PlainState state;
  state.stub = stub.get();
  state.running = concurrency;
  state.latencies.reserve(1 << 20);
  const auto started = Clock::now();
  state.until = started + duration;
  for (int i = 0; i < concurrency; ++i) plain_call(&state);
  std::unique_lock lock(state.mutex);
  state.cv.wait(lock, [&] { return state.running == 0; });
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return summarize(state.latencies, state.failed, seconds);
}

/// svckit: GrpcClient by name, the servers found through discovery (an in-process registry).
Figures run_svckit(const std::vector<Server>& servers, int concurrency, std::chrono::seconds duration, int threads) {
  boost::asio::io_context io;
  svckit::RealRandom random;
  svckit::RealTimeSource time;
  svckit::RegistryPlugins::Builder registries;
  svckit::register_builtin_plugins(registries);
  const auto plugins = std::move(registries).build();
  auto registry = plugins.create("memory://", {io.get_executor(), time, random});
  svckit::DiscoveryClient discovery(io.get_executor(), **registry, random);
  svckit::BalancerPlugins::Builder policies;
  svckit::register_builtin_balancers(policies);
  const auto balancers = std::move(policies).build();
  svckit::MetricsRegistry metrics;
  svckit::ServiceClientOptions options;
  auto client =
      svckit::rpc::GrpcClient::create(options, {io.get_executor(), &discovery, balancers, random, time, &metrics});
  if (!client) std::exit(1);
  std::mutex mutex;
  std::vector<double> latencies;  // guarded by mutex
  latencies.reserve(1 << 20);
  std::uint64_t failed = 0;  // guarded by mutex
  std::atomic<int> running{concurrency};
  Clock::time_point started, until;
  boost::asio::co_spawn(
      io,
      [&]() -> svckit::http::Awaitable<void> {
        discovery.start();
        for (const auto& s : servers) {
          svckit::ServiceInstance in;
          in.service = "products";
          in.host = "127.0.0.1";
          in.port = s.port;
          (void)co_await (*registry)->register_instance(in);
        }
        boost::asio::steady_timer tick(io);
        while (discovery.instance_count("products") < servers.size()) {
          tick.expires_after(5ms);
          co_await tick.async_wait(boost::asio::use_awaitable);
        }
        started = Clock::now();
        until = started + duration;
        for (int i = 0; i < concurrency; ++i) {
          boost::asio::co_spawn(
              io,
              [&]() -> svckit::http::Awaitable<void> {
                demo::ProductRequest request;
                request.set_product_id("7");
                svckit::rpc::GrpcCallOptions read;
                read.idempotent = true;
                while (Clock::now() < until) {
                  const auto t0 = Clock::now();
                  auto got = co_await (*client)->call<demo::ProductResponse>(
                      "products", "/svckit.demo.ProductService/GetProduct", request, read);
                  const double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count();
                  std::lock_guard lock(mutex);
                  if (got.ok()) {
                    latencies.push_back(us);
                  } else {
                    ++failed;
                  }
                }
                if (running.fetch_sub(1) == 1) {
                  co_await (*client)->shutdown(1s);
                  co_await discovery.shutdown(0ms);
                  io.stop();
                }
              },
              boost::asio::detached);
        }
      },
      boost::asio::detached);
  // The client's executor on `threads` threads (ServiceClient is thread-safe on its executor).
  std::vector<std::thread> more;
  for (int i = 1; i < threads; ++i) more.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : more) t.join();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return summarize(latencies, failed, seconds);
}

/// The transport alone (no ServiceClient): GrpcTransport::send in a loop, alternating the servers —
/// what the pipeline adds is the difference to run_svckit.
Figures run_transport(const std::vector<Server>& servers, int concurrency, std::chrono::seconds duration) {
  boost::asio::io_context io;
  svckit::rpc::GrpcTransport transport;
  std::vector<double> latencies;
  latencies.reserve(1 << 20);
  std::uint64_t failed = 0;
  int running = concurrency;
  const auto started = Clock::now();
  const auto until = started + duration;
  demo::ProductRequest message;
  message.set_product_id("7");
  const std::string body = message.SerializeAsString();
  for (int i = 0; i < concurrency; ++i) {
    boost::asio::co_spawn(
        io,
        [&, i]() -> svckit::http::Awaitable<void> {
          std::size_t next = static_cast<std::size_t>(i);
          while (Clock::now() < until) {
            svckit::http::Request request{svckit::http::Verb::post, "/svckit.demo.ProductService/GetProduct", 11};
            request.body() = body;
            // Named, not a temporary inside the co_await: GCC 12 destroys those twice.
            svckit::net::HostPort endpoint;
            endpoint.host = "127.0.0.1";
            endpoint.port = static_cast<std::uint16_t>(servers[next++ % servers.size()].port);
            const auto t0 = Clock::now();
            auto answer =
                co_await transport.send(std::move(endpoint), std::move(request), std::chrono::milliseconds(5000));
            if (answer && answer->result_int() == 200) {
              latencies.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
            } else {
              ++failed;
            }
          }
          if (--running == 0) io.stop();
        },
        boost::asio::detached);
  }
  io.run();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return summarize(latencies, failed, seconds);
}

void print(const char* name, int round, const Figures& f) {
  std::printf("%-9s round %d  %9.0f calls/s  p50 %7.0f us  p99 %7.0f us  client CPU %5.1f us/call  failed %llu\n", name,
              round, f.calls_per_second, f.p50_us, f.p99_us, f.cpu_us_per_call,
              static_cast<unsigned long long>(f.failed));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gRPC by name (svckit) vs a plain gRPC round_robin channel"};
  bool serve_mode = false;
  int servers_n = 2, concurrency = 16, seconds = 5, rounds = 2;
  app.add_flag("--serve", serve_mode, "internal: run one server");
  app.add_option("--servers", servers_n, "server processes")->check(CLI::Range(1, 16));
  app.add_option("--concurrency", concurrency, "callers in a closed loop")->check(CLI::Range(1, 1024));
  app.add_option("--seconds", seconds, "per round and way")->check(CLI::Range(1, 600));
  app.add_option("--rounds", rounds, "alternating rounds")->check(CLI::Range(1, 20));
  int threads = 1;
  app.add_option("--threads", threads, "threads running svckit's io_context")->check(CLI::Range(1, 64));
  std::string only;
  app.add_option("--only", only, "run one side only (for profiling): plain, svckit, or transport (GrpcTransport alone)")
      ->check(CLI::IsMember({"plain", "svckit", "transport"}));
  CLI11_PARSE(app, argc, argv);
  if (serve_mode) return serve();
  std::signal(SIGPIPE, SIG_IGN);

  std::vector<Server> servers;
  for (int i = 0; i < servers_n; ++i) servers.push_back(spawn_server());
  std::printf("grpc_bench: %d servers, %d callers, %d s per round, %d rounds (unary GetProduct)\n", servers_n,
              concurrency, seconds, rounds);
  std::vector<Figures> plain, ours;
  for (int r = 1; r <= rounds; ++r) {
    if (only == "transport") {
      const double cpu = cpu_us();
      auto f = run_transport(servers, concurrency, std::chrono::seconds(seconds));
      f.cpu_us_per_call = (cpu_us() - cpu) / (f.calls_per_second * seconds);
      print("transport", r, f);
      continue;
    }
    if (only != "svckit") {
      const double cpu = cpu_us();
      plain.push_back(run_plain(servers, concurrency, std::chrono::seconds(seconds)));
      plain.back().cpu_us_per_call = (cpu_us() - cpu) / (plain.back().calls_per_second * seconds);
      print("plain", r, plain.back());
    }
    if (only != "plain") {
      const double cpu = cpu_us();
      ours.push_back(run_svckit(servers, concurrency, std::chrono::seconds(seconds), threads));
      ours.back().cpu_us_per_call = (cpu_us() - cpu) / (ours.back().calls_per_second * seconds);
      print("svckit", r, ours.back());
    }
  }
  if (plain.empty() || ours.empty()) return 0;
  auto mean = [](const std::vector<Figures>& v, double Figures::*m) {
    double sum = 0;
    for (const auto& f : v) sum += f.*m;
    return sum / static_cast<double>(v.size());
  };
  std::printf(
      "svckit / plain gRPC: %.2fx calls/s, p99 %.2fx, client CPU per call %.2fx (goal: >= 0.90x calls/s, p99 <= "
      "1.10x)\n",
      mean(ours, &Figures::calls_per_second) / mean(plain, &Figures::calls_per_second),
      mean(ours, &Figures::p99_us) / mean(plain, &Figures::p99_us),
      mean(ours, &Figures::cpu_us_per_call) / mean(plain, &Figures::cpu_us_per_call));
  std::fflush(stdout);
  for (auto& s : servers) {
    close(s.stdin_fd);
    int status = 0;
    waitpid(s.pid, &status, 0);
  }
  return 0;
}
