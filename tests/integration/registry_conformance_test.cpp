// The registry conformance suite: every backend runs these same tests, unchanged, against its real
// server (memory: in process; svckitd: the daemon binary; redis: Debian's redis-server; nats: Debian's
// nats-server with JetStream; etcd:
// Debian's etcd; consul, eureka, nacos: svckitd's Consul-, Eureka- and Nacos-compatible APIs). A backend is only done
// when it passes them all.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <future>
#include <map>
#include <set>

#include "svckit/registry/plugin_registry.hpp"
#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/servers.hpp"
#include "svckitd_process.hpp"
#include "test_instance.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;

/// TTL settings every backend is started with, so that expiry tests take well under a second.
constexpr auto kSweep = "50ms";
constexpr auto kGrace = "600ms";

/// A registry client that forwards to one shared registry (memory:// lives in one process).
class SharedRegistry final : public Registry {
 public:
  explicit SharedRegistry(Registry& target) : target_(target) {}
  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance in) override {
    return target_.register_instance(std::move(in));
  }
  Awaitable<Result<void>> deregister(std::string s, std::string id) override { return target_.deregister(s, id); }
  Awaitable<Result<void>> renew(std::string s, std::string id) override { return target_.renew(s, id); }
  Awaitable<Result<void>> set_status(std::string s, std::string id, InstanceStatus st) override {
    return target_.set_status(s, id, st);
  }
  Awaitable<Result<ServiceInstance>> get(std::string s, std::string id) override { return target_.get(s, id); }
  Awaitable<Result<std::vector<ServiceInstance>>> list(std::string s, InstanceFilter f) override {
    return target_.list(s, f);
  }
  Awaitable<Result<std::vector<ServiceSummary>>> list_services() override { return target_.list_services(); }
  Awaitable<Result<WatchResult>> watch(WatchRequest r) override { return target_.watch(std::move(r)); }

 private:
  Registry& target_;
};

/// One backend under test: its server (when it has one) and the URL clients connect with.
struct Backend {
  std::string url;
  std::unique_ptr<Registry> shared;  // memory:// only: every client talks to this one
  std::unique_ptr<SvckitdProcess> daemon;
  ChildProcess server;
};

struct BackendCase {
  std::string name;
  std::function<void(Backend&, const std::filesystem::path&)> start;
  /// The backend's watch reads states, not a change log (Consul's blocking queries): changes
  /// between two answers are coalesced and one answer's events share its index. Such a backend
  /// must still deliver every difference once, in order, and converge to the registry's state.
  bool coalesces = false;
  // NOLINTNEXTLINE(readability-identifier-naming): the name GoogleTest looks up
  friend void PrintTo(const BackendCase& c, std::ostream* os) { *os << c.name; }
};

void start_memory(Backend& b, const std::filesystem::path&) {
  b.url = std::string("memory://?sweep=") + kSweep + "&grace=" + kGrace;
}

void start_svckitd(Backend& b, const std::filesystem::path& dir) {
  b.daemon = SvckitdProcess::start(dir, {"--sweep-interval", kSweep, "--expiry-grace", kGrace});
  ASSERT_NE(b.daemon, nullptr);
  b.url = b.daemon->url() + "?timeout=5s";
}

void start_redis_backend(Backend& b, const std::filesystem::path& dir) {
  int port = 0;
  auto server = start_redis(dir, port);
  ASSERT_TRUE(server) << server.error().message;
  b.server = std::move(*server);
  b.url = "redis://127.0.0.1:" + std::to_string(port) + "/0?sweep=" + kSweep + "&grace=" + kGrace;
}

void start_etcd_backend(Backend& b, const std::filesystem::path& dir) {
  int port = 0;
  auto server = start_etcd(dir, port);
  ASSERT_TRUE(server) << server.error().message;
  b.server = std::move(*server);
  // etcd leases are whole seconds with a floor of about 2s, so its grace must be longer than
  // the 600ms the others use for an expired instance to be seen as down before it goes.
  b.url = "etcd://127.0.0.1:" + std::to_string(port) + "?grace=3s";
}

void start_consul_backend(Backend& b, const std::filesystem::path& dir) {
  b.daemon = SvckitdProcess::start(dir, {"--sweep-interval", kSweep, "--expiry-grace", kGrace});
  ASSERT_NE(b.daemon, nullptr);
  b.url = "consul://127.0.0.1:" + std::to_string(b.daemon->port) + "?timeout=5s&grace=" + kGrace;
}

void start_eureka_backend(Backend& b, const std::filesystem::path& dir) {
  b.daemon = SvckitdProcess::start(dir, {"--sweep-interval", kSweep, "--expiry-grace", kGrace});
  ASSERT_NE(b.daemon, nullptr);
  b.url = "eureka://127.0.0.1:" + std::to_string(b.daemon->port) + "/eureka?timeout=5s&poll=100ms";
}

void start_nacos_backend(Backend& b, const std::filesystem::path& dir) {
  b.daemon = SvckitdProcess::start(dir, {"--sweep-interval", kSweep, "--expiry-grace", kGrace});
  ASSERT_NE(b.daemon, nullptr);
  b.url = "nacos://127.0.0.1:" + std::to_string(b.daemon->port) + "?timeout=5s&poll=100ms";
}

void start_nats_backend(Backend& b, const std::filesystem::path& dir) {
  int port = 0;
  auto server = start_nats(dir, port);
  ASSERT_TRUE(server) << server.error().message;
  b.server = std::move(*server);
  b.url = "nats://127.0.0.1:" + std::to_string(port) + "?sweep=" + kSweep + "&grace=" + kGrace;
}

class RegistryConformance : public ::testing::TestWithParam<BackendCase> {
 protected:
  void SetUp() override {
    RegistryPlugins::Builder builder;
    register_builtin_plugins(builder);
    plugins = std::make_unique<RegistryPlugins>(std::move(builder).build());
    GetParam().start(backend, dir.path());
    if (HasFatalFailure()) return;
    if (GetParam().name == "memory") {
      auto made = plugins->create(backend.url, RegistryDeps{io.executor(), time, random});
      ASSERT_TRUE(made) << made.error().message;
      backend.shared = std::move(*made);
    }
    registry = &open();
  }
  void TearDown() override {
    clients.clear();
    io.stop();
  }

  /// A new client of the backend (its own connections).
  Registry& open() {
    if (backend.shared) {
      clients.push_back(std::make_unique<SharedRegistry>(*backend.shared));
    } else {
      auto made = plugins->create(backend.url, RegistryDeps{io.executor(), time, random});
      EXPECT_TRUE(made) << made.error().message;
      if (!made) throw std::runtime_error("cannot open " + backend.url);
      clients.push_back(std::move(*made));
    }
    return *clients.back();
  }

  static ServiceInstance instance(const std::string& service, int port, std::chrono::milliseconds ttl = 0ms) {
    return test_instance(service, port, ttl);
  }

  Result<ServiceInstance> add(Registry& r, ServiceInstance in) {
    return io.run([&]() -> Awaitable<Result<ServiceInstance>> { co_return co_await r.register_instance(in); });
  }
  Result<ServiceInstance> add(ServiceInstance in) { return add(*registry, std::move(in)); }
  Result<void> remove(const std::string& s, const std::string& id) {
    return io.run([&]() -> Awaitable<Result<void>> { co_return co_await registry->deregister(s, id); });
  }
  Result<void> renew(const std::string& s, const std::string& id) {
    return io.run([&]() -> Awaitable<Result<void>> { co_return co_await registry->renew(s, id); });
  }
  Result<void> set_status(const std::string& s, const std::string& id, InstanceStatus st) {
    return io.run([&]() -> Awaitable<Result<void>> { co_return co_await registry->set_status(s, id, st); });
  }
  Result<ServiceInstance> get(const std::string& s, const std::string& id) {
    return io.run([&]() -> Awaitable<Result<ServiceInstance>> { co_return co_await registry->get(s, id); });
  }
  std::vector<ServiceInstance> list(const std::string& s, InstanceFilter f = {}) {
    auto r =
        io.run([&]() -> Awaitable<Result<std::vector<ServiceInstance>>> { co_return co_await registry->list(s, f); });
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : std::vector<ServiceInstance>{};
  }
  std::vector<ServiceSummary> services() {
    auto r = io.run(
        [&]() -> Awaitable<Result<std::vector<ServiceSummary>>> { co_return co_await registry->list_services(); });
    EXPECT_TRUE(r) << r.error().message;
    return r ? *r : std::vector<ServiceSummary>{};
  }
  Result<WatchResult> watch(const std::string& s, std::uint64_t after, std::chrono::milliseconds wait = 0ms) {
    return io.run([&]() -> Awaitable<Result<WatchResult>> { co_return co_await registry->watch({s, after, wait}); });
  }
  /// The registry's index now (a watch from 0 answers with a snapshot and the index).
  std::uint64_t index_now() {
    auto r = watch("", 0);
    EXPECT_TRUE(r) << r.error().message;
    return r ? r->index : 0;
  }
  /// Every event after `after` for `service`, by repeated watches until `count` arrived.
  std::vector<RegistryEvent> events_after(std::uint64_t after, std::size_t count, const std::string& service = "") {
    std::vector<RegistryEvent> out;
    for (int round = 0; round < 100 && out.size() < count; ++round) {
      auto r = watch(service, after, 2s);
      EXPECT_TRUE(r) << r.error().message;
      if (!r) break;
      EXPECT_FALSE(r->reset) << "the log still reaches back to " << after;
      for (auto& e : r->events) out.push_back(std::move(e));
      after = r->index;
    }
    return out;
  }

  TempDir dir;
  RealTimeSource time;
  FakeRandom random;
  IoThread io;
  std::unique_ptr<RegistryPlugins> plugins;
  Backend backend;
  std::vector<std::unique_ptr<Registry>> clients;
  Registry* registry = nullptr;
};

std::string describe(const RegistryEvent& e) { return std::string(to_string(e.type)) + " " + e.instance.id; }

TEST_P(RegistryConformance, RegistersGetsListsAndDeregisters) {
  auto added = add(instance("orders", 9001));
  ASSERT_TRUE(added) << added.error().message;
  EXPECT_EQ(added->id, "127.0.0.1:9001") << "the id defaults to host:port";
  EXPECT_NE(added->registered_at, SystemTime{});
  ASSERT_TRUE(add(instance("orders", 9002)));
  ASSERT_TRUE(add(instance("users", 9003)));

  auto got = get("orders", "127.0.0.1:9001");
  ASSERT_TRUE(got) << got.error().message;
  EXPECT_EQ(got->port, 9001);
  EXPECT_EQ(got->status, InstanceStatus::healthy);
  const auto orders = list("orders");
  ASSERT_EQ(orders.size(), 2u);
  EXPECT_EQ(orders[0].id, "127.0.0.1:9001") << "ordered by id";
  EXPECT_TRUE(list("nobody").empty()) << "an unknown service lists empty";
  const auto all = services();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "orders");
  EXPECT_EQ(all[0].instances, 2u);
  EXPECT_EQ(all[0].healthy, 2u);

  ASSERT_TRUE(remove("orders", "127.0.0.1:9001"));
  EXPECT_EQ(get("orders", "127.0.0.1:9001").error().code, ErrorCode::not_found);
  EXPECT_EQ(remove("orders", "127.0.0.1:9001").error().code, ErrorCode::not_found);
  EXPECT_EQ(renew("orders", "nope").error().code, ErrorCode::not_found);
  EXPECT_EQ(set_status("orders", "nope", InstanceStatus::down).error().code, ErrorCode::not_found);
  ASSERT_TRUE(remove("orders", "127.0.0.1:9002"));
  EXPECT_EQ(services().size(), 1u) << "a service with no instance left is gone";
}

TEST_P(RegistryConformance, InvalidInputIsRejectedAndChangesNothing) {
  const auto before = index_now();
  auto bad_name = instance("bad name", 9001);
  EXPECT_EQ(add(bad_name).error().code, ErrorCode::invalid_argument);
  auto bad_port = instance("orders", 70000);
  auto refused = add(bad_port);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(refused.error().field, "port");
  EXPECT_TRUE(services().empty());
  EXPECT_EQ(index_now(), before);
}

TEST_P(RegistryConformance, ReRegisteringIdenticalDataOnlyRefreshesTheHeartbeat) {
  auto first = add(instance("orders", 9001));
  ASSERT_TRUE(first);
  const auto index = index_now();
  auto again = add(instance("orders", 9001));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->registered_at, first->registered_at);
  EXPECT_GE(again->last_heartbeat, first->last_heartbeat);
  EXPECT_EQ(index_now(), index) << "nothing a reader sees changed";

  auto heavier = instance("orders", 9001);
  heavier.weight = 300;
  ASSERT_TRUE(add(heavier));
  const auto events = events_after(index, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::updated);
  EXPECT_EQ(events[0].instance.weight, 300);
}

TEST_P(RegistryConformance, StatusChangesAndFiltersNarrowTheList) {
  auto a = instance("orders", 9001);
  a.tags = {"v2", "canary"};
  a.zone = "eu-1";
  a.metadata = {{"version", "2"}};
  auto b = instance("orders", 9002);
  b.tags = {"v2"};
  b.zone = "eu-2";
  auto c = instance("orders", 9003);
  for (const auto& in : {a, b, c}) ASSERT_TRUE(add(in));
  const auto index = index_now();
  ASSERT_TRUE(set_status("orders", "127.0.0.1:9003", InstanceStatus::down));
  ASSERT_TRUE(set_status("orders", "127.0.0.1:9003", InstanceStatus::down)) << "the same status again is no change";
  const auto events = events_after(index, 1);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].type, EventType::status_changed);
  EXPECT_EQ(events[0].previous_status, InstanceStatus::healthy);
  EXPECT_EQ(events[0].instance.status, InstanceStatus::down);
  EXPECT_EQ(index_now(), events[0].index);

  InstanceFilter healthy;
  healthy.status = InstanceStatus::healthy;
  EXPECT_EQ(list("orders", healthy).size(), 2u);
  InstanceFilter tagged;
  tagged.tags = {"v2"};
  EXPECT_EQ(list("orders", tagged).size(), 2u);
  tagged.tags = {"v2", "canary"};
  EXPECT_EQ(list("orders", tagged).size(), 1u);
  InstanceFilter zone;
  zone.zone = "eu-2";
  ASSERT_EQ(list("orders", zone).size(), 1u);
  EXPECT_EQ(list("orders", zone)[0].port, 9002);
  InstanceFilter meta;
  meta.metadata = {{"version", "2"}};
  ASSERT_EQ(list("orders", meta).size(), 1u);
  EXPECT_EQ(list("orders", meta)[0].metadata.at("version"), "2");
  EXPECT_EQ(services()[0].healthy, 2u);
}

TEST_P(RegistryConformance, ATtlInstanceExpiresWithoutHeartbeatsAndARenewBringsItBack) {
  auto added = add(instance("orders", 9001, 1s));  // the shortest TTL a registry accepts
  ASSERT_TRUE(added) << added.error().message;
  const auto index = index_now();
  // Heartbeats keep it healthy well past its TTL.
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(renew("orders", "127.0.0.1:9001"));
    std::this_thread::sleep_for(400ms);  // the heartbeat period of a live client, not a wait for an event
  }
  EXPECT_EQ(get("orders", "127.0.0.1:9001")->status, InstanceStatus::healthy);
  // Silent: it expires (listed as down), and a heartbeat brings it back.
  auto expired = events_after(index, 1);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].type, EventType::expired);
  EXPECT_EQ(expired[0].previous_status, InstanceStatus::healthy);
  EXPECT_EQ(get("orders", "127.0.0.1:9001")->status, InstanceStatus::down);
  ASSERT_TRUE(renew("orders", "127.0.0.1:9001"));
  auto back = events_after(expired[0].index, 1);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].type, EventType::status_changed);
  EXPECT_EQ(back[0].instance.status, InstanceStatus::healthy);
  // Silent again: expired, then removed once the grace has passed.
  auto gone = events_after(back[0].index, 2);
  ASSERT_EQ(gone.size(), 2u);
  EXPECT_EQ(gone[0].type, EventType::expired);
  EXPECT_EQ(gone[1].type, EventType::deregistered);
  EXPECT_EQ(get("orders", "127.0.0.1:9001").error().code, ErrorCode::not_found);
}

TEST_P(RegistryConformance, AHeartbeatKeepsTheStatusItFinds) {
  ASSERT_TRUE(add(instance("orders", 9001, 5s)));
  ASSERT_TRUE(set_status("orders", "127.0.0.1:9001", InstanceStatus::maintenance));
  auto renewed = renew("orders", "127.0.0.1:9001");
  ASSERT_TRUE(renewed) << renewed.error().message;
  EXPECT_EQ(get("orders", "127.0.0.1:9001")->status, InstanceStatus::maintenance);
  ASSERT_TRUE(set_status("orders", "127.0.0.1:9001", InstanceStatus::unhealthy));
  ASSERT_TRUE(renew("orders", "127.0.0.1:9001"));
  EXPECT_EQ(get("orders", "127.0.0.1:9001")->status, InstanceStatus::unhealthy);
  ASSERT_TRUE(set_status("orders", "127.0.0.1:9001", InstanceStatus::healthy));
  ASSERT_TRUE(renew("orders", "127.0.0.1:9001"));
  EXPECT_EQ(get("orders", "127.0.0.1:9001")->status, InstanceStatus::healthy);
}

TEST_P(RegistryConformance, AWatchDeliversEveryChangeInOrderExactlyOnceFromAnyIndex) {
  const auto start = index_now();
  std::vector<std::string> expected;
  std::vector<std::string> expected_users;
  for (int i = 0; i < 20; ++i) {
    const std::string service = i % 2 == 0 ? "orders" : "users";
    const auto port = 9000 + i;
    const std::string id = "127.0.0.1:" + std::to_string(port);
    ASSERT_TRUE(add(instance(service, port)));
    expected.push_back("registered " + id);
    if (i % 3 == 0) {
      ASSERT_TRUE(set_status(service, id, InstanceStatus::maintenance));
      expected.push_back("status_changed " + id);
    }
    if (i % 4 == 0) {
      ASSERT_TRUE(remove(service, id));
      expected.push_back("deregistered " + id);
    }
    if (service == "users") {
      expected_users.push_back("registered " + id);
      if (i % 3 == 0) expected_users.push_back("status_changed " + id);
    }
  }
  if (GetParam().coalesces) {
    // States, not a log: replaying what the watch delivers onto the start must give the registry's
    // state now, every delivered event must be a real difference, and indices must not go back.
    std::map<std::string, ServiceInstance> replay;
    std::uint64_t after = start;
    for (int round = 0; round < 100 && after < index_now(); ++round) {
      auto r = watch("", after, 2s);
      ASSERT_TRUE(r) << r.error().message;
      ASSERT_FALSE(r->reset);
      for (const auto& e : r->events) {
        EXPECT_GE(e.index, after);
        if (e.type == EventType::deregistered) {
          EXPECT_EQ(replay.erase(e.instance.id), 1u) << describe(e);
        } else {
          if (e.type == EventType::registered) {
            EXPECT_EQ(replay.count(e.instance.id), 0u) << describe(e);
          }
          replay[e.instance.id] = e.instance;
        }
      }
      after = r->index;
    }
    std::map<std::string, InstanceStatus> now;
    for (const auto& s : {"orders", "users"}) {
      for (const auto& in : list(s)) now[in.id] = in.status;
    }
    std::map<std::string, InstanceStatus> replayed;
    for (const auto& [id, in] : replay) replayed[id] = in.status;
    EXPECT_EQ(replayed, now);
    EXPECT_EQ(replayed.size(), 15u) << "20 registered, 5 removed";
    return;
  }
  const auto events = events_after(start, expected.size());
  std::vector<std::string> seen;
  for (std::size_t i = 0; i < events.size(); ++i) {
    seen.push_back(describe(events[i]));
    if (i > 0) {
      EXPECT_GT(events[i].index, events[i - 1].index) << "indices increase";
    }
  }
  EXPECT_EQ(seen, expected);
  EXPECT_EQ(index_now(), events.back().index);

  // A watcher resuming from the middle gets exactly the rest.
  const auto middle = events[9].index;
  std::vector<std::string> rest;
  for (const auto& e : events_after(middle, expected.size() - 10)) rest.push_back(describe(e));
  EXPECT_EQ(rest, std::vector<std::string>(expected.begin() + 10, expected.end()));

  // A watch of one service sees only its events, in the same order.
  std::vector<std::string> users;
  for (const auto& e : events_after(start, expected_users.size(), "users")) users.push_back(describe(e));
  EXPECT_EQ(users, expected_users);

  // Nothing new: a short wait runs out with no events and the same index.
  auto idle = watch("", events.back().index, 100ms);
  ASSERT_TRUE(idle);
  EXPECT_FALSE(idle->reset);
  EXPECT_TRUE(idle->events.empty());
}

TEST_P(RegistryConformance, AWaitingWatchWakesUpOnAChangeFromAnotherClient) {
  const auto start = index_now();
  Registry& other = open();
  auto waiting = boost::asio::co_spawn(
      io.io(),
      [&]() -> Awaitable<Result<WatchResult>> {
        co_return co_await registry->watch({"orders", start, 20s});
      },
      boost::asio::use_future);
  ASSERT_TRUE(add(other, instance("users", 9001))) << "another service does not end the wait";
  ASSERT_TRUE(add(other, instance("orders", 9002)));
  ASSERT_EQ(waiting.wait_for(10s), std::future_status::ready) << "the watch saw the change long before 20s";
  auto woken = waiting.get();
  ASSERT_TRUE(woken) << woken.error().message;
  ASSERT_EQ(woken->events.size(), 1u);
  EXPECT_EQ(woken->events[0].instance.id, "127.0.0.1:9002");
}

TEST_P(RegistryConformance, AWaitingWatchCanBeCancelled) {
  const auto start = index_now();
  auto cancel = std::make_shared<CancelToken>();
  auto waiting = boost::asio::co_spawn(
      io.io(),
      [&]() -> Awaitable<Result<WatchResult>> {
        co_return co_await registry->watch({"orders", start, 20s, cancel});
      },
      boost::asio::use_future);
  ASSERT_EQ(waiting.wait_for(200ms), std::future_status::timeout);
  cancel->cancel();
  ASSERT_EQ(waiting.wait_for(10s), std::future_status::ready);
  auto answer = waiting.get();
  EXPECT_TRUE(!answer || answer->events.empty()) << "cancelled: an error or an empty answer";
  ASSERT_TRUE(add(instance("orders", 9001))) << "the registry still works after a cancelled watch";
}

TEST_P(RegistryConformance, ManyClientsRegisterConcurrentlyAndNothingIsLost) {
  constexpr std::size_t kClients = 8;
  constexpr std::size_t kEach = 25;
  const auto start = index_now();
  std::vector<Registry*> registries;
  registries.reserve(kClients);
  for (std::size_t c = 0; c < kClients; ++c) registries.push_back(&open());
  std::vector<std::future<Result<ServiceInstance>>> pending;
  for (std::size_t i = 0; i < kEach; ++i) {
    for (std::size_t c = 0; c < kClients; ++c) {
      auto in = instance("orders", static_cast<int>(10'000 + c * 100 + i));
      pending.push_back(boost::asio::co_spawn(
          io.io(),
          [r = registries[c], in]() -> Awaitable<Result<ServiceInstance>> {
            co_return co_await r->register_instance(in);
          },
          boost::asio::use_future));
    }
  }
  for (auto& p : pending) {
    auto r = p.get();
    EXPECT_TRUE(r) << r.error().message;
  }
  EXPECT_EQ(list("orders").size(), kClients * kEach);
  const auto events = events_after(start, kClients * kEach);
  std::set<std::string> ids;
  std::set<std::uint64_t> indices;
  for (const auto& e : events) {
    EXPECT_EQ(e.type, EventType::registered);
    ids.insert(e.instance.id);
    indices.insert(e.index);
  }
  EXPECT_EQ(ids.size(), kClients * kEach) << "every registration, once";
  if (!GetParam().coalesces) {
    EXPECT_EQ(indices.size(), events.size()) << "no two changes share an index";
  }
}

INSTANTIATE_TEST_SUITE_P(All, RegistryConformance,
                         ::testing::Values(BackendCase{"memory", start_memory}, BackendCase{"svckitd", start_svckitd},
                                           BackendCase{"redis", start_redis_backend},
                                           BackendCase{"etcd", start_etcd_backend},
                                           BackendCase{"consul", start_consul_backend, true},
                                           BackendCase{"eureka", start_eureka_backend, true},
                                           BackendCase{"nacos", start_nacos_backend, true},
                                           BackendCase{"nats", start_nats_backend}),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace svckit::testing
