// Remote configuration sources against real servers: an etcd prefix (watch), a Redis hash
// (pub/sub), an HTTP document (ETag polling) — each a ConfigManager layer that reloads when the
// store changes — start-up from the local cache while etcd is down, and inotify file reloads.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <fstream>
#include <future>
#include <mutex>

#include "svckit/config/follow_changes.hpp"
#include "svckit/config/remote_config.hpp"
#include "svckit/http/server.hpp"
#include "svckit/redis/redis_client.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/servers.hpp"
#include "svckitd_process.hpp"

namespace svckit::config {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using testing::ChildProcess;
using testing::wait_until;

class RemoteConfigTest : public ::testing::Test {
 protected:
  void TearDown() override {
    // The loops use the managers: end them before the fixture's members go.
    stop->cancel();
    follow_stop.cancel();
    for (auto& f : loops) f.wait();
    io.stop();
  }

  std::shared_ptr<RemoteConfig> open(const std::string& url, RemoteConfigOptions options = {}) {
    auto backend = connect_config_backend(url, io.executor());
    EXPECT_TRUE(backend) << backend.error().message;
    if (!backend) return nullptr;
    auto remote = io.run([&]() -> Awaitable<Result<std::shared_ptr<RemoteConfig>>> {
      co_return co_await RemoteConfig::open(std::move(*backend), options, sleeper);
    });
    EXPECT_TRUE(remote) << remote.error().message;
    return remote ? *remote : nullptr;
  }

  /// defaults < remote; follows the remote and reloads on its changes; records the changes.
  ConfigManager& manage(const std::shared_ptr<RemoteConfig>& remote) {
    std::vector<std::unique_ptr<ConfigSource>> sources;
    sources.push_back(static_source("defaults", json{{"database", {{"pool", 4}, {"timeout_ms", 500}}}}));
    sources.push_back(remote->source());
    auto made = ConfigManager::create(std::move(sources), ConfigOptions{}, time);
    EXPECT_TRUE(made) << made.error().message;
    managers.push_back(std::move(*made));
    auto& config = managers.back();
    config->on_change([this](const ConfigSnapshot&, const std::vector<ConfigChange>& changes) {
      std::lock_guard lock(mutex);
      for (const auto& c : changes) {
        seen.push_back(c.key + ": " + (c.before ? c.before->dump() : "-") + " -> " + (c.after ? c.after->dump() : "-"));
      }
    });
    loops.push_back(boost::asio::co_spawn(io.io(), remote->follow(stop), boost::asio::use_future));
    FollowOptions follow;
    follow.interval = 1h;  // only the remote's signal reloads
    follow.remotes = {remote};
    loops.push_back(boost::asio::co_spawn(io.io(), follow_changes(*config, sleeper, std::move(follow), follow_stop),
                                          boost::asio::use_future));
    return *config;
  }
  bool saw(const std::string& change) {
    return wait_until(
        [&] {
          std::lock_guard lock(mutex);
          return std::find(seen.begin(), seen.end(), change) != seen.end();
        },
        10s);
  }
  std::string seen_text() {
    std::lock_guard lock(mutex);
    std::string out;
    for (const auto& s : seen) out += s + "\n";
    return out;
  }

  testing::TempDir dir;
  RealTimeSource time;
  AsioSleeper sleeper;
  testing::IoThread io;
  std::shared_ptr<CancelToken> stop = std::make_shared<CancelToken>();
  CancelToken follow_stop;
  std::mutex mutex;
  std::vector<std::string> seen;
  std::vector<std::unique_ptr<ConfigManager>> managers;
  std::vector<std::future<void>> loops;
};

bool etcdctl(int port, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"etcdctl", "--endpoints", "127.0.0.1:" + std::to_string(port)};
  argv.insert(argv.end(), args.begin(), args.end());
  auto child = ChildProcess::spawn(argv);
  return child && child->wait_exit(10s) == 0;
}

TEST_F(RemoteConfigTest, AnEtcdPrefixIsALayerThatReloadsOnAWatchAndAStartWhileEtcdIsDownUsesTheLocalCache) {
  int port = 0;
  auto etcd = testing::start_etcd(dir.path(), port);
  ASSERT_TRUE(etcd) << etcd.error().message;
  ASSERT_TRUE(etcdctl(port, {"put", "/app/config/database/pool", "10"}));
  ASSERT_TRUE(etcdctl(port, {"put", "/app/config/database/url", "postgres://db/shop"}));
  ASSERT_TRUE(etcdctl(port, {"put", "/app/config/features", R"({"search": true})"}));
  ASSERT_TRUE(etcdctl(port, {"put", "/other/key", "not ours"}));
  const auto url = "etcd://127.0.0.1:" + std::to_string(port) + "/app/config";
  RemoteConfigOptions options;
  options.cache_file = dir.path() / "app-config.cache.json";
  auto remote = open(url, options);
  ASSERT_TRUE(remote);
  EXPECT_FALSE(remote->from_cache());
  auto& config = manage(remote);
  auto snapshot = config.snapshot();
  EXPECT_EQ(snapshot->get<int>("database.pool", 0), 10) << "JSON values are typed";
  EXPECT_EQ(snapshot->get<int>("database.timeout_ms", 0), 500) << "the defaults layer below";
  EXPECT_EQ(snapshot->get<std::string>("database.url", ""), "postgres://db/shop") << "non-JSON text is a string";
  EXPECT_TRUE(snapshot->get<bool>("features.search", false));
  EXPECT_EQ(snapshot->find("key"), nullptr);

  ASSERT_TRUE(etcdctl(port, {"put", "/app/config/database/pool", "25"}));
  ASSERT_TRUE(saw("database.pool: 10 -> 25")) << seen_text();
  ASSERT_TRUE(etcdctl(port, {"del", "/app/config/features"}));
  ASSERT_TRUE(saw("features.search: true -> -")) << seen_text();
  {
    std::lock_guard lock(mutex);
    EXPECT_EQ(seen.size(), 2u) << "exactly the changed keys:\n" << seen_text();
  }

  // etcd goes away; a new process starts from the cache file.
  etcd->stop(SIGTERM);
  auto cached = open(url, options);
  ASSERT_TRUE(cached) << "started while etcd is down";
  EXPECT_TRUE(cached->from_cache());
  EXPECT_NE(cached->last_error().find("started from the local cache"), std::string::npos) << cached->last_error();
  std::vector<std::unique_ptr<ConfigSource>> sources;
  sources.push_back(cached->source());
  auto from_cache = ConfigManager::create(std::move(sources), ConfigOptions{}, time);
  ASSERT_TRUE(from_cache);
  EXPECT_EQ((*from_cache)->get<int>("database.pool", 0), 25) << "the last good content";
  EXPECT_EQ((*from_cache)->snapshot()->find("features"), nullptr);

  // Without a cache, the same start fails, naming the store.
  auto backend = connect_config_backend(url, io.executor());
  ASSERT_TRUE(backend);
  const RemoteConfigOptions without_cache;
  auto no_cache = io.run([&]() -> Awaitable<Result<std::shared_ptr<RemoteConfig>>> {
    co_return co_await RemoteConfig::open(std::move(*backend), without_cache, sleeper);
  });
  ASSERT_FALSE(no_cache);
  EXPECT_EQ(no_cache.error().code, ErrorCode::unavailable);
}

TEST_F(RemoteConfigTest, ARedisHashIsALayerThatReloadsOnItsChannelAndABrokenWriteKeepsTheLastGood) {
  int port = 0;
  auto server = testing::start_redis(dir.path(), port);
  ASSERT_TRUE(server) << server.error().message;
  redis::RedisOptions redis_options;
  redis_options.server = {"127.0.0.1", static_cast<std::uint16_t>(port), false};
  redis::RedisClient client(io.executor(), redis_options);
  const auto command = [&](std::vector<std::string> args) {
    return io.run([&]() -> Awaitable<Result<redis::Reply>> { co_return co_await client.command(std::move(args)); });
  };
  ASSERT_TRUE(command({"HSET", "app:config", "database.pool", "10", "database.url", "postgres://db/shop"}));
  auto remote = open("redis://127.0.0.1:" + std::to_string(port) + "?key=app:config");
  ASSERT_TRUE(remote);
  auto& config = manage(remote);
  EXPECT_EQ(config.get<int>("database.pool", 0), 10);

  ASSERT_TRUE(command({"HSET", "app:config", "database.pool", "30"}));
  ASSERT_TRUE(command({"PUBLISH", "app:config:changed", "database.pool"}));
  ASSERT_TRUE(saw("database.pool: 10 -> 30")) << seen_text();

  // A field that is both a value and a parent cannot be applied: the last good content stays.
  ASSERT_TRUE(command({"HSET", "app:config", "database.pool.max", "5"}));
  ASSERT_TRUE(command({"PUBLISH", "app:config:changed", "x"}));
  ASSERT_TRUE(wait_until([&] { return !remote->last_error().empty(); }, 10s));
  EXPECT_NE(remote->last_error().find("database.pool"), std::string::npos) << remote->last_error();
  EXPECT_EQ(config.get<int>("database.pool", 0), 30);
  ASSERT_TRUE(command({"HDEL", "app:config", "database.pool.max"}));
  ASSERT_TRUE(command({"HSET", "app:config", "database.pool", "40"}));
  ASSERT_TRUE(command({"PUBLISH", "app:config:changed", "x"}));
  ASSERT_TRUE(saw("database.pool: 30 -> 40")) << seen_text();
  EXPECT_TRUE(remote->last_error().empty());
}

TEST_F(RemoteConfigTest, AnHttpDocumentIsPolledWithETagsAndAnUnchangedOneCostsA304) {
  std::mutex doc_mutex;
  std::string body = R"({"database": {"pool": 10}})";
  int version = 1;
  std::atomic<int> not_modified{0};
  http::HttpServer server(io.io(), http::ServerOptions{}, [&](http::Request& request) -> Awaitable<http::Response> {
    http::Response response;
    std::lock_guard lock(doc_mutex);
    const auto etag = "\"v" + std::to_string(version) + "\"";
    if (request["If-None-Match"] == etag) {
      ++not_modified;
      response.result(304);
    } else {
      response.result(200);
      response.set("Content-Type", "application/json");
      response.body() = body;
    }
    response.set("ETag", etag);
    co_return response;
  });
  ASSERT_TRUE(server.listen());
  auto remote = open("http://127.0.0.1:" + std::to_string(server.port()) + "/app.json?interval=50ms");
  ASSERT_TRUE(remote);
  EXPECT_EQ(remote->version(), "\"v1\"");
  auto& config = manage(remote);
  EXPECT_EQ(config.get<int>("database.pool", 0), 10);
  ASSERT_TRUE(wait_until([&] { return not_modified >= 3; }, 10s)) << "polls answered 304";
  {
    std::lock_guard lock(doc_mutex);
    body = R"({"database": {"pool": 12}})";
    version = 2;
  }
  ASSERT_TRUE(saw("database.pool: 10 -> 12")) << seen_text();
  EXPECT_EQ(remote->version(), "\"v2\"");
}

// nacos:// reads one config of Nacos's config API — here svckitd's — and reloads when Nacos's
// MD5 long-polling listener says it changed.
TEST_F(RemoteConfigTest, ANacosConfigIsALayerThatReloadsWhenNacossListenerSaysItChanged) {
  std::filesystem::create_directories(dir.path() / "svckitd");
  auto daemon = testing::SvckitdProcess::start(dir.path() / "svckitd");
  ASSERT_NE(daemon, nullptr);
  const auto publish = [&](const std::string& data_id, const std::string& encoded_content) {
    return testing::http_call(
               daemon->port, "POST",
               "/nacos/v1/cs/configs?dataId=" + data_id + "&group=DEFAULT_GROUP&content=" + encoded_content)
        .status;
  };
  ASSERT_EQ(publish("shop.yaml", "database%3A%0A%20%20pool%3A%2010%0A"), 200);
  auto remote = open("nacos://127.0.0.1:" + std::to_string(daemon->port) + "?dataId=shop.yaml");
  ASSERT_TRUE(remote);
  EXPECT_EQ(remote->version().size(), 32u) << "the content's MD5";
  auto& config = manage(remote);
  EXPECT_EQ(config.get<int>("database.pool", 0), 10);
  ASSERT_EQ(publish("shop.yaml", "database%3A%0A%20%20pool%3A%2012%0A"), 200);
  ASSERT_TRUE(saw("database.pool: 10 -> 12")) << seen_text();
}

// One remote per test: the fixture's stop token wakes one follow loop (a token has one hook).
TEST_F(RemoteConfigTest, ANacosPropertiesConfigNestsItsDottedKeysAndAnUnpublishedOneIsEmpty) {
  std::filesystem::create_directories(dir.path() / "svckitd");
  auto daemon = testing::SvckitdProcess::start(dir.path() / "svckitd");
  ASSERT_NE(daemon, nullptr);
  ASSERT_EQ(testing::http_call(daemon->port, "POST",
                               "/nacos/v1/cs/configs?dataId=flags.properties&group=DEFAULT_GROUP&content="
                               "%23%20flags%0Afeature.beta%3Dtrue%0Afeature.colour%20%3A%20blue%0A")
                .status,
            200);
  auto flags = open("nacos://127.0.0.1:" + std::to_string(daemon->port) + "?dataId=flags.properties");
  ASSERT_TRUE(flags);
  auto& flag_config = manage(flags);
  EXPECT_EQ(flag_config.get<std::string>("feature.beta", ""), "true");
  EXPECT_EQ(flag_config.get<std::string>("feature.colour", ""), "blue");
  auto unpublished = connect_config_backend(
      "nacos://127.0.0.1:" + std::to_string(daemon->port) + "?dataId=unpublished.json", io.executor());
  ASSERT_TRUE(unpublished);
  const auto content = io.run([&]() -> Awaitable<Result<RemoteContent>> { co_return co_await (*unpublished)->read(); });
  ASSERT_TRUE(content) << content.error().message;
  EXPECT_TRUE(content->tree.empty());
  EXPECT_EQ(connect_config_backend("nacos://127.0.0.1:1", io.executor()).error().field, "dataId");
  EXPECT_EQ(connect_config_backend("nacos://127.0.0.1:1?dataId=a.xml", io.executor()).error().field, "format");
  EXPECT_EQ(connect_config_backend("nacos://127.0.0.1:1?dataId=a&colour=red", io.executor()).error().field, "colour");
}

TEST_F(RemoteConfigTest, AFileRenamedIntoPlaceIsReloadedByInotifyNotByThePoll) {
  const auto file = dir.path() / "app.yaml";
  {
    std::ofstream out(file);
    out << "database:\n  pool: 10\n";
  }
  std::vector<std::unique_ptr<ConfigSource>> sources;
  sources.push_back(file_source(file));
  auto made = ConfigManager::create(std::move(sources), ConfigOptions{}, time);
  ASSERT_TRUE(made);
  managers.push_back(std::move(*made));
  auto& config = *managers.back();
  FollowOptions follow;
  follow.interval = 1h;
  loops.push_back(boost::asio::co_spawn(io.io(), follow_changes(config, sleeper, std::move(follow), follow_stop),
                                        boost::asio::use_future));
  // An editor's save: write a new file, rename it over the old one. (follow_changes looks once
  // after installing its watch, so a change racing its start is not missed either.)
  const auto next = dir.path() / "app.yaml.new";
  {
    std::ofstream out(next);
    out << "database:\n  pool: 20\n";
  }
  std::filesystem::rename(next, file);
  ASSERT_TRUE(wait_until([&] { return config.get<int>("database.pool", 0) == 20; }, 10s));
  // And an in-place write.
  {
    std::ofstream out(file, std::ios::trunc);
    out << "database:\n  pool: 30\n";
  }
  ASSERT_TRUE(wait_until([&] { return config.get<int>("database.pool", 0) == 30; }, 10s));
  EXPECT_EQ(config.history().size(), 3u);
}

TEST_F(RemoteConfigTest, BadUrlsAreRefusedNamingTheOption) {
  EXPECT_EQ(connect_config_backend("etcd://127.0.0.1:1/app?colour=red", io.executor()).error().field, "colour");
  EXPECT_EQ(connect_config_backend("etcd://127.0.0.1:1", io.executor()).error().field, "path");
  EXPECT_EQ(connect_config_backend("redis://127.0.0.1:1", io.executor()).error().field, "key");
  EXPECT_EQ(connect_config_backend("http://h:1/a.json?interval=soon", io.executor()).error().field, "interval");
  EXPECT_EQ(connect_config_backend("zk://h:1/x", io.executor()).error().field, "url");
}

}  // namespace
}  // namespace svckit::config
