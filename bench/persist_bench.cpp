// Persistent registrations per second with durable acknowledgement: svckitd with a snapshot file
// (each acknowledged write fsynced first, concurrent writers sharing one write), next to svckitd
// without one (memory only: what an acknowledgement cost before writes were made durable, when the
// snapshot was written once a second and kill -9 lost up to a second of acknowledged writes) and
// etcd's put (raft log + fsync), same client, same concurrency, one run. Started by
// bench/persist_bench.sh.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <CLI/CLI.hpp>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "svckit/http/client.hpp"

namespace asio = boost::asio;
using namespace svckit;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

std::string base64(std::string_view in) {
  static constexpr char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  unsigned value = 0;
  int bits = -6;
  for (const unsigned char c : in) {
    value = (value << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out += kTable[(value >> bits) & 63];
      bits -= 6;
    }
  }
  if (bits > -6) out += kTable[((value << 8) >> (bits + 8)) & 63];
  while (out.size() % 4 != 0) out += '=';
  return out;
}

http::Request request_for(const std::string& system, int round, int i) {
  const auto id = "r" + std::to_string(round) + "-" + std::to_string(i);  // new records every round
  if (system == "etcd") {
    http::Request r{http::Verb::post, "/v3/kv/put", 11};
    r.body() = json{{"key", base64("/services/keep/" + id)},
                    {"value", base64(json{{"service", "keep"}, {"id", id}, {"port", 1000 + i % 50000}}.dump())}}
                   .dump();
    r.set(http::beast_http::field::content_type, "application/json");
    return r;
  }
  http::Request r{http::Verb::post, "/v1/instances", 11};
  r.body() = json{{"service", "keep"}, {"id", id}, {"host", "10.0.0.1"}, {"port", 1000 + i % 50000}}.dump();
  r.set(http::beast_http::field::content_type, "application/json");
  return r;
}

/// N registrations by `concurrency` coroutines over one pooled client; registrations per second.
double measure(const std::string& system, int port, int round, int n, int concurrency) {
  asio::io_context io;
  http::ClientOptions options;
  options.max_idle_per_endpoint = static_cast<std::size_t>(concurrency);
  http::HttpClient client(io.get_executor(), options);
  const net::HostPort ep{"127.0.0.1", static_cast<std::uint16_t>(port)};
  std::atomic<int> next{0}, failed{0}, finished{0};
  const auto started = Clock::now();
  for (int c = 0; c < concurrency; ++c) {
    asio::co_spawn(
        io,
        [&]() -> http::Awaitable<void> {
          for (int i = next++; i < n; i = next++) {
            auto r = co_await client.send(ep, request_for(system, round, i), std::chrono::seconds(10));
            if (!r || r->result_int() != 200) ++failed;
          }
          ++finished;
        },
        asio::detached);
  }
  io.restart();
  while (finished.load() < concurrency) io.run_one();
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (failed > 0) std::cerr << system << ": " << failed << " failed registrations\n";
  return n / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"persistent registrations/s: durable svckitd vs memory-only svckitd vs etcd"};
  int durable = 0, memory = 0, etcd = 0, n = 20000;
  std::vector<int> concurrencies{1, 16, 64};
  app.add_option("--durable-port", durable)->required();
  app.add_option("--memory-port", memory)->required();
  app.add_option("--etcd-port", etcd)->required();
  app.add_option("--registrations", n);
  app.add_option("--concurrency", concurrencies);
  CLI11_PARSE(app, argc, argv);
  std::printf("%-12s %26s %26s %20s\n", "concurrency", "svckitd durable (fsync)", "svckitd memory only", "etcd put");
  int round = 0;
  for (const int c : concurrencies) {
    // Each round registers new IDs on every system (a re-registration of an unchanged record
    // changes nothing and would cost no write).
    const int count = c == 1 ? std::min(n, 2000) : n;
    const double d = measure("svckitd", durable, round, count, c);
    const double m = measure("svckitd", memory, round, count, c);
    const double e = measure("etcd", etcd, round, count, c);
    std::printf("%-12d %20.0f /s %20.0f /s %14.0f /s\n", c, d, m, e);
    ++round;
  }
  return 0;
}
