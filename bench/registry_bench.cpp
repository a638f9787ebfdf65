// Registry benchmark: svckitd and etcd over their own HTTP APIs, and each svckit backend through
// the Registry interface (how applications use them: svckitd://, etcd://, redis://, consul://),
// same workload, one run, side by side. Started by bench/registry_bench.sh, which launches the
// servers on free loopback ports.
//
// Workload: register N instances (each with its own TTL lease on etcd), renew each once, list all
// N, then measure watch propagation: one client registers, another (already watching) sees it.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include "svckit/core/async_event.hpp"
#include "svckit/http/client.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace asio = boost::asio;
using namespace svckit;
using svckit::Awaitable;
using Clock = std::chrono::steady_clock;
using nlohmann::json;

namespace {

std::string base64(std::string_view in) {
  static constexpr char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8) |
                       static_cast<unsigned char>(in[i + 2]);
    out += {kTable[v >> 18], kTable[(v >> 12) & 63], kTable[(v >> 6) & 63], kTable[v & 63]};
  }
  if (i + 1 == in.size()) {
    const unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += {kTable[v >> 18], kTable[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const unsigned v = (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += {kTable[v >> 18], kTable[(v >> 12) & 63], kTable[(v >> 6) & 63], '='};
  }
  return out;
}

std::string instance_json(int i, const std::string& service) {
  return json{{"service", service},
              {"id", "i-" + std::to_string(i)},
              {"host", "10.1.0." + std::to_string(i % 250)},
              {"port", 10000 + i % 50000},
              {"ttl", "60s"},
              {"tags", {"bench", "v1"}},
              {"metadata", {{"version", "1.2.3"}}}}
      .dump();
}

/// Counts records in a list answer without decoding it: the figure is the server's answer time
/// (query + serialisation + transfer), the same for both systems; client-side decoding is not included.
std::size_t count(const std::string& body, const std::string& marker) {
  std::size_t n = 0;
  const char* p = body.data();
  const char* end = body.data() + body.size();
  while (const void* hit = memmem(p, static_cast<std::size_t>(end - p), marker.data(), marker.size())) {
    ++n;
    p = static_cast<const char*>(hit) + marker.size();
  }
  return n;
}

struct Figures {
  double registrations_per_s = 0, heartbeats_per_s = 0, lists_per_s = 0, list_ms = 0, watch_p50_ms = 0,
         watch_p99_ms = 0;
  double list_client_cpu_ms = 0;          // the bench thread's CPU per single list: steadier than wall time
  double rss_mb = 0;                      // with N instances registered, before the list load (-1: unknown)
  double rss_after_lists_mb = 0;          // after many concurrent full lists (allocator high-water mark)
  double etcd_writes_per_heartbeat = -1;  // raft proposals etcd committed per heartbeat (-1: not on etcd)
};

/// The calling thread's CPU time (user + system), ms.
double thread_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) / 1e6;
}

/// Runs `io` until `finished()`. Not io.run(): a pooled keep-alive connection keeps work pending
/// (its watchdog timer), so run() would not return while the client holds idle connections.
void run_until(asio::io_context& io, const std::function<bool()>& finished) {
  io.restart();
  while (!finished()) io.run_one();
}

/// Sets its flag when destroyed: marks a coroutine finished on every path out of it.
struct SetOnExit {
  bool& flag;
  ~SetOnExit() { flag = true; }
};

/// etcd's count of committed raft proposals (its /metrics), or -1 when it cannot be read.
double etcd_proposals(http::HttpClient& client, asio::io_context& io, int etcd_port) {
  if (etcd_port == 0) return -1;
  double value = -1;
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        SetOnExit done{finished};
        const net::HostPort etcd{"127.0.0.1", static_cast<std::uint16_t>(etcd_port)};
        http::Request metrics{http::Verb::get, "/metrics", 11};
        auto r = co_await client.send(etcd, std::move(metrics), std::chrono::seconds(5));
        if (!r) co_return;
        const std::string_view body = r->body();
        const std::string_view name = "\netcd_server_proposals_committed_total ";
        const auto at = body.find(name);
        if (at != std::string_view::npos) value = std::atof(std::string(body.substr(at + name.size(), 32)).c_str());
      },
      asio::detached);
  run_until(io, [&] { return finished; });
  return value;
}

/// The operations each system needs; both implemented over the same pooled HttpClient.
class Target {
 public:
  virtual ~Target() = default;
  virtual Awaitable<bool> register_instance(int i) = 0;
  virtual Awaitable<bool> heartbeat(int i) = 0;
  virtual Awaitable<std::size_t> list_all() = 0;
};

Awaitable<Result<http::Response>> post(http::HttpClient& client, net::HostPort ep, http::Verb verb, std::string target,
                                       std::string body) {
  http::Request req{verb, target, 11};
  req.set(http::beast_http::field::content_type, "application/json");
  req.body() = std::move(body);
  co_return co_await client.send(ep, std::move(req), std::chrono::seconds(30));
}

class SvckitdTarget final : public Target {
 public:
  SvckitdTarget(http::HttpClient& c, net::HostPort ep) : client_(c), ep_(std::move(ep)) {}
  Awaitable<bool> register_instance(int i) override {
    auto r = co_await post(client_, ep_, http::Verb::post, "/v1/instances", instance_json(i, "bench"));
    co_return r && r->result_int() == 200;
  }
  Awaitable<bool> heartbeat(int i) override {
    auto r = co_await post(client_, ep_, http::Verb::put,
                           "/v1/services/bench/instances/i-" + std::to_string(i) + "/heartbeat", "");
    co_return r && r->result_int() == 200;
  }
  Awaitable<std::size_t> list_all() override {
    auto r = co_await post(client_, ep_, http::Verb::get, "/v1/services/bench/instances", "");
    if (!r) co_return 0;
    co_return count(r->body(), "\"id\":");
  }

 private:
  http::HttpClient& client_;
  net::HostPort ep_;
};

class EtcdTarget final : public Target {
 public:
  EtcdTarget(http::HttpClient& c, net::HostPort ep, int n) : client_(c), ep_(std::move(ep)), leases_(n) {}
  Awaitable<bool> register_instance(int i) override {
    auto lease = co_await post(client_, ep_, http::Verb::post, "/v3/lease/grant", R"({"TTL":60})");
    if (!lease || lease->result_int() != 200) co_return false;
    const auto id = json::parse(lease->body())["ID"].get<std::string>();
    leases_[static_cast<std::size_t>(i)] = id;
    const auto body = json{
        {"key", base64("/svckit/bench/i-" + std::to_string(i))},
        {"value", base64(instance_json(i, "bench"))},
        {"lease", id}}.dump();
    auto r = co_await post(client_, ep_, http::Verb::post, "/v3/kv/put", body);
    co_return r && r->result_int() == 200;
  }
  Awaitable<bool> heartbeat(int i) override {
    const auto body = json{{"ID", leases_[static_cast<std::size_t>(i)]}}.dump();
    auto r = co_await post(client_, ep_, http::Verb::post, "/v3/lease/keepalive", body);
    co_return r && r->result_int() == 200;
  }
  Awaitable<std::size_t> list_all() override {
    const auto body = json{{"key", base64("/svckit/bench/")}, {"range_end", base64("/svckit/bench0")}}.dump();
    auto r = co_await post(client_, ep_, http::Verb::post, "/v3/kv/range", body);
    if (!r) co_return 0;
    co_return count(r->body(), "\"value\":");
  }

 private:
  http::HttpClient& client_;
  net::HostPort ep_;
  std::vector<std::string> leases_;
};

ServiceInstance bench_instance(int i, const std::string& service) {
  ServiceInstance in;
  in.service = service;
  in.id = "i-" + std::to_string(i);
  in.host = "10.1.0." + std::to_string(i % 250);
  in.port = 10000 + i % 50000;
  in.ttl = std::chrono::seconds(60);
  in.tags = {"bench", "v1"};
  in.metadata = {{"version", "1.2.3"}};
  return in;
}

/// Any registry URL through svckit's Registry interface. Its own service names, so that the
/// svckitd:// column does not re-register what the raw svckitd column registered.
constexpr const char* kService = "registry-bench";
constexpr const char* kWatched = "registry-watched";
class RegistryTarget final : public Target {
 public:
  explicit RegistryTarget(Registry& registry) : registry_(registry) {}
  Awaitable<bool> register_instance(int i) override {
    auto r = co_await registry_.register_instance(bench_instance(i, kService));
    co_return r.ok();
  }
  Awaitable<bool> heartbeat(int i) override {
    auto r = co_await registry_.renew(kService, "i-" + std::to_string(i));
    co_return r.ok();
  }
  Awaitable<std::size_t> list_all() override {
    auto r = co_await registry_.list(kService, InstanceFilter{});
    co_return r ? r->size() : 0;
  }

 private:
  Registry& registry_;
};

/// Watch propagation through the Registry interface: a watcher waiting on kWatched sees each
/// registration made by another client of the same backend.
std::vector<double> registry_watch_latency(asio::io_context& io, Registry& watcher, Registry& writer, int rounds) {
  std::vector<double> out;
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        const SetOnExit exit{finished};
        auto first = co_await watcher.watch({kWatched, 0, std::chrono::milliseconds(0)});
        if (!first) co_return;
        auto index = first->index;
        for (int i = 0; i < rounds; ++i) {
          const auto t0 = Clock::now();
          std::optional<Clock::time_point> seen;
          AsyncEvent written;
          asio::co_spawn(
              io,
              [&]() -> Awaitable<void> {
                (void)co_await writer.register_instance(bench_instance(i, kWatched));
                written.set();
              },
              asio::detached);
          while (!seen) {
            auto r = co_await watcher.watch({kWatched, index, std::chrono::seconds(10)});
            if (!r) co_return;
            index = r->index;
            for (const auto& e : r->events) {
              if (e.instance.id == "i-" + std::to_string(i)) seen = Clock::now();
            }
            for (const auto& in : r->snapshot) {
              if (in.id == "i-" + std::to_string(i)) seen = Clock::now();
            }
          }
          (void)co_await written.wait(std::chrono::seconds(10));
          out.push_back(std::chrono::duration<double, std::milli>(*seen - t0).count());
        }
      },
      asio::detached);
  run_until(io, [&] { return finished; });
  return out;
}

/// Runs `op(i)` for i in [0, n) with `concurrency` coroutines; returns operations per second.
double run_parallel(asio::io_context& io, int n, int concurrency, const std::function<Awaitable<bool>(int)>& op) {
  std::atomic<int> next{0}, failures{0}, done{0};
  const auto start = Clock::now();
  for (int w = 0; w < concurrency; ++w) {
    asio::co_spawn(
        io,
        [&]() -> Awaitable<void> {
          for (int i = next++; i < n; i = next++) {
            if (!co_await op(i)) ++failures;
          }
          ++done;
        },
        asio::detached);
  }
  run_until(io, [&] { return done == concurrency; });
  const std::chrono::duration<double> took = Clock::now() - start;
  if (failures > 0) std::cerr << "  (" << failures << " operations failed)\n";
  return n / took.count();
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

long rss_mb(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6) / 1024;
  }
  return -1;
}

/// svckitd watch propagation: a long-poll loop sees each registration made by another connection.
std::vector<double> svckitd_watch_latency(const net::HostPort& ep, int rounds) {
  asio::io_context io;
  http::HttpClient watcher(io.get_executor()), writer(io.get_executor());
  std::vector<double> out;
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        const SetOnExit exit{finished};
        auto first = co_await post(watcher, ep, http::Verb::get, "/v1/watch?service=watched&index=0", "");
        auto index = json::parse(first->body())["index"].get<std::uint64_t>();
        for (int i = 0; i < rounds; ++i) {
          const auto t0 = Clock::now();
          std::optional<Clock::time_point> seen;
          AsyncEvent written;
          asio::co_spawn(
              io,
              [&]() -> Awaitable<void> {
                (void)co_await post(writer, ep, http::Verb::post, "/v1/instances", instance_json(i, "watched"));
                written.set();
              },
              asio::detached);
          while (!seen) {
            auto r = co_await post(watcher, ep, http::Verb::get,
                                   "/v1/watch?service=watched&wait=10s&index=" + std::to_string(index), "");
            if (!r) co_return;
            auto j = json::parse(r->body());
            index = j["index"].get<std::uint64_t>();
            for (const auto& e : j["events"]) {
              if (e["instance"]["id"] == "i-" + std::to_string(i)) seen = Clock::now();
            }
          }
          (void)co_await written.wait(std::chrono::seconds(10));
          out.push_back(std::chrono::duration<double, std::milli>(*seen - t0).count());
        }
      },
      asio::detached);
  run_until(io, [&] { return finished; });
  return out;
}

/// etcd watch propagation: a streaming /v3/watch on a raw socket sees each put.
std::vector<double> etcd_watch_latency(const net::HostPort& ep, int rounds) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  inet_pton(AF_INET, ep.host.c_str(), &addr.sin_addr);
  addr.sin_port = htons(ep.port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return {};
  const auto body =
      json{{"create_request", {{"key", base64("/svckit/watched/")}, {"range_end", base64("/svckit/watched0")}}}}.dump();
  const auto request = "POST /v3/watch HTTP/1.1\r\nHost: etcd\r\nContent-Type: application/json\r\nContent-Length: " +
                       std::to_string(body.size()) + "\r\n\r\n" + body;
  (void)!write(fd, request.data(), request.size());

  std::mutex mutex;
  std::map<std::string, Clock::time_point> seen;  // base64 key -> arrival
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    std::string stream;
    char buf[65536];
    std::size_t scanned = 0;
    while (!stop) {
      const auto n = read(fd, buf, sizeof buf);
      if (n <= 0) break;
      const auto now = Clock::now();
      stream.append(buf, static_cast<std::size_t>(n));
      for (auto pos = stream.find("\"key\":\"", scanned); pos != std::string::npos;
           pos = stream.find("\"key\":\"", pos + 1)) {
        const auto end = stream.find('"', pos + 7);
        if (end == std::string::npos) break;
        std::lock_guard lock(mutex);
        seen.emplace(stream.substr(pos + 7, end - pos - 7), now);
        scanned = end;
      }
    }
  });

  asio::io_context io;
  http::HttpClient writer(io.get_executor());
  std::vector<double> out;
  bool finished = false;
  asio::co_spawn(
      io,
      [&]() -> Awaitable<void> {
        const SetOnExit exit{finished};
        asio::steady_timer pause(io);
        for (int i = 0; i < rounds; ++i) {
          const auto key = base64("/svckit/watched/i-" + std::to_string(i));
          const auto t0 = Clock::now();
          const auto put = json{{"key", key}, {"value", base64(instance_json(i, "watched"))}}.dump();
          (void)co_await post(writer, ep, http::Verb::post, "/v3/kv/put", put);
          for (int spin = 0; spin < 10000; ++spin) {  // the reader thread records the arrival time
            {
              std::lock_guard lock(mutex);
              if (auto it = seen.find(key); it != seen.end()) {
                out.push_back(std::chrono::duration<double, std::milli>(it->second - t0).count());
                break;
              }
            }
            pause.expires_after(std::chrono::microseconds(50));
            co_await pause.async_wait(asio::use_awaitable);
          }
        }
      },
      asio::detached);
  run_until(io, [&] { return finished; });
  stop = true;
  shutdown(fd, SHUT_RDWR);
  close(fd);
  reader.join();
  return out;
}

/// `proposals`: etcd's committed raft proposals now (-1: this target does not store in etcd).
Figures measure(Target& target, asio::io_context& io, int n, int concurrency, int pid,
                const std::function<std::vector<double>()>& watch, const std::function<double()>& proposals) {
  Figures f;
  f.registrations_per_s = run_parallel(io, n, concurrency, [&](int i) { return target.register_instance(i); });
  const double before = proposals();
  f.heartbeats_per_s = run_parallel(io, n, concurrency, [&](int i) { return target.heartbeat(i); });
  if (before >= 0) f.etcd_writes_per_heartbeat = (proposals() - before) / n;
  f.rss_mb = static_cast<double>(rss_mb(pid));
  std::size_t listed = 0;
  const int lists = 50;
  std::vector<double> single;
  const double cpu_before = thread_cpu_ms();
  for (int k = 0; k < lists; ++k) {
    const auto t0 = Clock::now();
    bool finished = false;
    asio::co_spawn(
        io,
        [&]() -> Awaitable<void> {
          listed = co_await target.list_all();
          finished = true;
        },
        asio::detached);
    run_until(io, [&] { return finished; });
    single.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  if (listed != static_cast<std::size_t>(n)) std::cerr << "  (list returned " << listed << " of " << n << ")\n";
  f.list_client_cpu_ms = (thread_cpu_ms() - cpu_before) / lists;
  f.list_ms = percentile(single, 0.5);
  f.lists_per_s = run_parallel(io, 200, concurrency, [&](int) -> Awaitable<bool> {
    co_return co_await target.list_all() == static_cast<std::size_t>(n);
  });
  f.rss_after_lists_mb = static_cast<double>(rss_mb(pid));
  auto lat = watch();
  f.watch_p50_ms = percentile(lat, 0.5);
  f.watch_p99_ms = percentile(lat, 0.99);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"svckit registry benchmark: svckitd and etcd over their APIs, every backend through Registry"};
  int svckitd_port = 0, etcd_port = 0, svckitd_pid = 0, etcd_pid = 0, n = 10000, concurrency = 32, rounds = 300;
  std::vector<std::string> registries;
  app.add_option("--svckitd-port", svckitd_port)->required();
  app.add_option("--svckitd-pid", svckitd_pid)->required();
  app.add_option("--etcd-port", etcd_port);
  app.add_option("--etcd-pid", etcd_pid);
  app.add_option("--registry", registries,
                 "name,url,pid[,writer_url][,etcd=PORT]: a backend measured through the Registry interface; the "
                 "watch samples write through writer_url when given (another node); etcd=PORT: it stores in the etcd "
                 "on that port (its raft writes are counted: give each column an etcd of its own)")
      ->take_all();
  app.add_option("--instances", n, "instances to register (default 10000)");
  app.add_option("--concurrency", concurrency, "concurrent requests (default 32)");
  app.add_option("--watch-rounds", rounds, "watch propagation samples (default 300)");
  CLI11_PARSE(app, argc, argv);

  asio::io_context io;
  http::ClientOptions options;
  options.max_idle_per_endpoint = static_cast<std::size_t>(concurrency);
  http::HttpClient client(io.get_executor(), options);

  std::cout << "workload: " << n << " instances, " << concurrency << " concurrent requests, " << rounds
            << " watch samples, loopback\n";
  const net::HostPort svckitd_ep{"127.0.0.1", static_cast<std::uint16_t>(svckitd_port)};
  SvckitdTarget svckitd(client, svckitd_ep);
  const auto no_etcd = [] { return -1.0; };
  const auto etcd_count = [&] { return etcd_proposals(client, io, etcd_port); };
  std::cerr << "measuring svckitd (HTTP API)\n";
  const auto a = measure(
      svckitd, io, n, concurrency, svckitd_pid, [&] { return svckitd_watch_latency(svckitd_ep, rounds); }, no_etcd);
  Figures b;
  if (etcd_port != 0) {
    const net::HostPort etcd_ep{"127.0.0.1", static_cast<std::uint16_t>(etcd_port)};
    EtcdTarget etcd(client, etcd_ep, n);
    std::cerr << "measuring etcd (v3 JSON API)\n";
    b = measure(
        etcd, io, n, concurrency, etcd_pid, [&] { return etcd_watch_latency(etcd_ep, rounds); }, etcd_count);
  }
  std::vector<std::pair<std::string, Figures>> columns{{"svckitd (HTTP API)", a}};
  if (etcd_port != 0) columns.emplace_back("etcd 3.4 (v3 JSON API)", b);
  // Every svckit backend through the Registry interface, as an application uses it.
  RealTimeSource time;
  RealRandom random;
  RegistryPlugins::Builder builder;
  register_builtin_plugins(builder);
  const auto plugins = std::move(builder).build();
  for (const auto& spec : registries) {
    const auto first = spec.find(',');
    const auto second = spec.find(',', first + 1);
    if (first == std::string::npos || second == std::string::npos) {
      std::cerr << "--registry wants name,url,pid; got " << spec << "\n";
      return 2;
    }
    const auto name = spec.substr(0, first);
    const auto url = spec.substr(first + 1, second - first - 1);
    const int pid = std::atoi(spec.c_str() + second + 1);
    std::string writer_url = url;
    int column_etcd = 0;  // the etcd this column stores in (its raft writes are counted)
    for (auto at = spec.find(',', second + 1); at != std::string::npos;) {
      const auto next = spec.find(',', at + 1);
      const auto field = spec.substr(at + 1, next == std::string::npos ? std::string::npos : next - at - 1);
      if (field.rfind("etcd=", 0) == 0) {
        column_etcd = std::atoi(field.c_str() + 5);
      } else {
        writer_url = field;
      }
      at = next;
    }
    auto registry = plugins.create(url, RegistryDeps{io.get_executor(), time, random});
    auto writer = plugins.create(writer_url, RegistryDeps{io.get_executor(), time, random});
    if (!registry || !writer) {
      std::cerr << "cannot open " << url << ": " << (registry ? writer.error() : registry.error()).describe() << "\n";
      return 1;
    }
    RegistryTarget target(**registry);
    std::cerr << "measuring " << name << "\n";
    columns.emplace_back(
        name,
        measure(
            target, io, n, concurrency, pid, [&] { return registry_watch_latency(io, **registry, **writer, rounds); },
            column_etcd != 0 ? std::function<double()>([&] { return etcd_proposals(client, io, column_etcd); })
                             : std::function<double()>(no_etcd)));
  }
  std::cout << "\n| metric |";
  for (const auto& [name, f] : columns) std::cout << " " << name << " |";
  std::cout << "\n| --- |";
  for (std::size_t i = 0; i < columns.size(); ++i) std::cout << " ---: |";
  std::cout << "\n";
  auto row = [&](const char* metric, double Figures::*field, int decimals) {
    std::cout << "| " << metric << " |";
    for (const auto& [name, f] : columns) {
      char cell[64];
      std::snprintf(cell, sizeof cell, " %.*f |", decimals, f.*field);
      std::cout << cell;
    }
    std::cout << "\n";
  };
  row("registrations/s", &Figures::registrations_per_s, 0);
  row("heartbeats/s", &Figures::heartbeats_per_s, 0);
  row("list all instances, p50 ms", &Figures::list_ms, 2);
  // The bench's thread only: a backend whose client library has threads of its own (nats://) does
  // part of a list there.
  row("client CPU per list, ms (bench thread; the raw columns count, not decode)", &Figures::list_client_cpu_ms, 2);
  row("list queries/s (all instances each)", &Figures::lists_per_s, 0);
  row("watch propagation p50 ms", &Figures::watch_p50_ms, 3);
  row("watch propagation p99 ms", &Figures::watch_p99_ms, 3);
  row("resident memory MB with all instances", &Figures::rss_mb, 0);
  row("resident memory MB after the list load", &Figures::rss_after_lists_mb, 0);
  row("etcd raft writes per heartbeat (-1: not on etcd)", &Figures::etcd_writes_per_heartbeat, 3);
  for (const auto& [name, f] : columns) {
    if (f.etcd_writes_per_heartbeat < 0) continue;
    // 10,000 instances at TTL 30 s heartbeat every 10 s (a third of the TTL): 1,000 heartbeats/s.
    // (Counted etcd-wide: each column that reports it has an etcd of its own.)
    std::printf("etcd writes/s for 10,000 instances at TTL 30 s through %s: %.1f\n", name.c_str(),
                1000.0 * f.etcd_writes_per_heartbeat);
  }
  std::cout << "\ngoals: watch p99 < 5 ms: " << (a.watch_p99_ms < 5 ? "met" : "MISSED") << "; list of " << n
            << " < 10 ms: " << (a.list_ms < 10 ? "met" : "MISSED")
            << "; svckitd RSS < 64 MB: " << (a.rss_mb >= 0 && a.rss_mb < 64 ? "met" : "MISSED") << "\n";
  return 0;
}
