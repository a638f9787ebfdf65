// Client benchmark: the same upstreams called (a) through ServiceClient (static URLs + balancing
// + breakers + retry budget + pool), (b) by a raw keep-alive Beast loop with the same number of
// connections, (c) with a new connection per call — the pattern svckit replaces. Prints calls/s
// and p50/p99 per mode; bench/client_bench.sh adds wrk as the ceiling and prints them side by side.
//
//   build/bench/client_bench --upstream 127.0.0.1:8081 --upstream 127.0.0.1:8082 --connections 16 --seconds 5
#include <sys/resource.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/use_future.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <cstdio>
#include <thread>

#include "svckit/client/service_client.hpp"
#include "svckit/trace/otlp_exporter.hpp"

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Figures {
  double calls_per_second = 0;
  double p50_us = 0, p99_us = 0;
  std::uint64_t errors = 0;
  std::uint64_t calls = 0;
  double cpu_us_per_call = 0;  // this process's user + system time (all its threads) per call
};

/// This process's CPU time so far (user + system, every thread), in seconds.
double cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const auto seconds = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

/// `f` with the CPU time spent since `cpu_before` per call.
Figures with_cpu(Figures f, double cpu_before) {
  if (f.calls > 0) f.cpu_us_per_call = (cpu_seconds() - cpu_before) * 1e6 / static_cast<double>(f.calls);
  return f;
}

struct Run {
  Clock::time_point until;
  Clock::time_point last_done{};               // when the last worker stopped (io.run() may return later: idle
                                               // pooled connections keep a watchdog timer pending)
  std::vector<std::vector<double>> latencies;  // per worker, microseconds
  std::uint64_t errors = 0;
};

Figures summarise(Run& run, std::chrono::duration<double> elapsed) {
  std::vector<double> all;
  for (auto& l : run.latencies) all.insert(all.end(), l.begin(), l.end());
  Figures f;
  f.errors = run.errors;
  if (all.empty()) return f;
  std::sort(all.begin(), all.end());
  f.calls = all.size();
  f.calls_per_second = static_cast<double>(all.size()) / elapsed.count();
  f.p50_us = all[all.size() / 2];
  f.p99_us = all[std::min(all.size() - 1, all.size() * 99 / 100)];
  return f;
}

bhttp::request<bhttp::empty_body> plain_get(const svckit::net::HostPort& hp) {
  bhttp::request<bhttp::empty_body> req{bhttp::verb::get, "/", 11};
  req.set(bhttp::field::host, hp.host + ":" + std::to_string(hp.port));
  return req;
}

/// (b) one keep-alive connection per worker, requests back to back.
asio::awaitable<void> raw_worker(svckit::net::HostPort hp, Run& run, std::size_t w) {
  auto ex = co_await asio::this_coro::executor;
  tcp::socket socket(ex);
  tcp::resolver resolver(ex);
  co_await asio::async_connect(socket,
                               co_await resolver.async_resolve(hp.host, std::to_string(hp.port), asio::use_awaitable),
                               asio::use_awaitable);
  socket.set_option(tcp::no_delay(true));
  boost::beast::flat_buffer buffer;
  auto req = plain_get(hp);
  while (Clock::now() < run.until) {
    const auto t0 = Clock::now();
    boost::system::error_code ec;
    co_await bhttp::async_write(socket, req, asio::redirect_error(asio::use_awaitable, ec));
    bhttp::response<bhttp::string_body> res;
    if (!ec) co_await bhttp::async_read(socket, buffer, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      ++run.errors;
      co_return;
    }
    run.latencies[w].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  run.last_done = std::max(run.last_done, Clock::now());
}

/// (c) a new connection for every call.
asio::awaitable<void> fresh_worker(svckit::net::HostPort hp, Run& run, std::size_t w) {
  auto ex = co_await asio::this_coro::executor;
  tcp::resolver resolver(ex);
  const auto endpoints = co_await resolver.async_resolve(hp.host, std::to_string(hp.port), asio::use_awaitable);
  auto req = plain_get(hp);
  req.set(bhttp::field::connection, "close");
  while (Clock::now() < run.until) {
    const auto t0 = Clock::now();
    boost::system::error_code ec;
    tcp::socket socket(ex);
    co_await asio::async_connect(socket, endpoints, asio::redirect_error(asio::use_awaitable, ec));
    boost::beast::flat_buffer buffer;
    bhttp::response<bhttp::string_body> res;
    if (!ec) co_await bhttp::async_write(socket, req, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await bhttp::async_read(socket, buffer, res, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      ++run.errors;
      continue;
    }
    run.latencies[w].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  run.last_done = std::max(run.last_done, Clock::now());
}

/// (a) ServiceClient.
asio::awaitable<void> client_worker(svckit::ServiceClient& client, Run& run, std::size_t w) {
  while (Clock::now() < run.until) {
    const auto t0 = Clock::now();
    auto r = co_await client.try_call("upstream", svckit::http::Verb::get, "/");
    if (!r.ok()) {
      ++run.errors;
      continue;
    }
    run.latencies[w].push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
  }
  run.last_done = std::max(run.last_done, Clock::now());
}

template <class Spawn>
Figures measure(std::size_t workers, double seconds, Spawn spawn) {
  const double cpu_before = cpu_seconds();
  asio::io_context io(1);
  Run run;
  run.latencies.resize(workers);
  for (auto& l : run.latencies) l.reserve(1 << 16);
  const auto started = Clock::now();
  run.until = started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  for (std::size_t w = 0; w < workers; ++w) spawn(io, run, w);
  io.run();
  return with_cpu(summarise(run, (run.last_done == Clock::time_point{} ? Clock::now() : run.last_done) - started),
                  cpu_before);
}

void print(const char* mode, const Figures& f) {
  std::printf("%-28s %10.0f calls/s   p50 %7.1f us   p99 %7.1f us   cpu %5.1f us/call   errors %llu   calls %llu\n",
              mode, f.calls_per_second, f.p50_us, f.p99_us, f.cpu_us_per_call,
              static_cast<unsigned long long>(f.errors), static_cast<unsigned long long>(f.calls));
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"ServiceClient vs raw keep-alive vs connection per call"};
  std::vector<std::string> upstreams;
  std::size_t connections = 16;
  double seconds = 5;
  app.add_option("--upstream", upstreams, "host:port of an upstream (repeat)")->required();
  app.add_option("--connections", connections, "concurrent workers (and connections)");
  app.add_option("--seconds", seconds, "duration of each mode");
  std::string modes = "bac";
  app.add_option(
      "--modes", modes,
      "which modes to run (b raw, a ServiceClient, t traced ServiceClient, c connection per call; default: bac)");
  std::string otlp;
  app.add_option("--otlp", otlp,
                 "mode t exports its spans here (OTLP/HTTP JSON, e.g. http://127.0.0.1:8500/v1/traces)");
  CLI11_PARSE(app, argc, argv);

  std::vector<svckit::net::HostPort> hosts;
  svckit::ServiceConfig config;
  config.balancing.policy = "round_robin";
  for (const auto& u : upstreams) {
    auto url = svckit::net::parse_backend_url("http://" + u, 80);
    if (!url) {
      std::fprintf(stderr, "--upstream %s: %s\n", u.c_str(), url.error().message.c_str());
      return 2;
    }
    hosts.push_back(url->hosts.front());
    config.static_urls.push_back("http://" + u);
  }

  if (modes.find('b') != std::string::npos)
    print("(b) raw keep-alive Beast", measure(connections, seconds, [&](asio::io_context& io, Run& run, std::size_t w) {
            asio::co_spawn(io, raw_worker(hosts[w % hosts.size()], run, w), asio::detached);
          }));

  svckit::RealRandom random;
  svckit::RealTimeSource time;
  svckit::BalancerPlugins::Builder builder;
  svckit::register_builtin_balancers(builder);
  const auto balancers = std::move(builder).build();
  // (a) ServiceClient; (t) the same with every call traced (ratio 1.0: a call span and an attempt
  // span each), exported over OTLP/HTTP JSON to --otlp when given, else recorded and discarded.
  const auto client_mode = [&](bool traced) {
    const double cpu_before = cpu_seconds();
    asio::io_context io(1);
    svckit::ServiceClientOptions options;
    options.services["upstream"] = config;
    struct Discard final : svckit::trace::SpanSink {
      void on_end(svckit::trace::SpanData) override {}
    } discard;
    // The exporter encodes and sends on an executor of its own (a thread), as a service with many
    // spans should run it: on the calls' one thread, encoding a batch would stall them.
    asio::io_context export_io(1);
    auto export_work = asio::make_work_guard(export_io);
    std::thread export_thread;
    std::unique_ptr<svckit::trace::OtlpHttpExporter> exporter;
    if (traced && !otlp.empty()) {
      exporter = svckit::trace::OtlpHttpExporter::create(export_io.get_executor(), {otlp, "client-bench"}).value();
      exporter->start();
      export_thread = std::thread([&] { export_io.run(); });
    }
    svckit::trace::SpanSink* sink = exporter ? static_cast<svckit::trace::SpanSink*>(exporter.get()) : &discard;
    svckit::trace::Tracer tracer(time, random, {1.0}, sink);
    auto client =
        std::move(svckit::ServiceClient::create(options, {io.get_executor(), nullptr, balancers, random, time, nullptr,
                                                          nullptr, nullptr, traced ? &tracer : nullptr})
                      .value());
    Run run;
    run.latencies.resize(connections);
    const auto started = Clock::now();
    run.until = started + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    for (std::size_t w = 0; w < connections; ++w) asio::co_spawn(io, client_worker(*client, run, w), asio::detached);
    io.run();
    auto figures = summarise(run, run.last_done - started);
    if (exporter) {
      asio::co_spawn(export_io, exporter->shutdown(), asio::use_future).get();  // what is left, then stop
      export_work.reset();
      export_io.stop();
      export_thread.join();
      std::printf("    spans exported %llu, dropped %llu, failed %llu\n",
                  static_cast<unsigned long long>(exporter->stats().exported),
                  static_cast<unsigned long long>(exporter->stats().dropped),
                  static_cast<unsigned long long>(exporter->stats().failed));
    }
    return with_cpu(figures, cpu_before);  // with the exporter's thread, and its last batches
  };
  for (char mode : modes) {
    if (mode == 'a') print("(a) ServiceClient", client_mode(false));
    if (mode == 't') print("(t) ServiceClient, traced", client_mode(true));
  }

  if (modes.find('c') != std::string::npos)
    print("(c) new connection per call",
          measure(connections, seconds, [&](asio::io_context& io, Run& run, std::size_t w) {
            asio::co_spawn(io, fresh_worker(hosts[w % hosts.size()], run, w), asio::detached);
          }));
  return 0;
}
