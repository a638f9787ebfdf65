// svckitd's config API (/v1/config): keys, whole documents, ETags, long-poll watches, history and
// rollback, persistence beside the snapshot file — and svckitd:// as a RemoteConfig source, the
// embedded default, including a start from the local cache while svckitd is down.
#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <future>

#include "svckit/config/config_manager.hpp"
#include "svckit/config/remote_config.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class SvckitdConfigTest : public ::testing::Test {
 protected:
  TempDir dir;
};

TEST_F(SvckitdConfigTest, KeysDocumentsETagsHistoryAndRollback) {
  auto d = SvckitdProcess::start(dir.path());
  ASSERT_TRUE(d);
  auto empty = d->call("GET", "/v1/config");
  EXPECT_EQ(empty.status, 200);
  EXPECT_EQ(empty.body, "{}");
  EXPECT_EQ(empty.header("X-Svckit-Config-Version"), "0");

  EXPECT_EQ(d->json("PUT", "/v1/config/keys/database.pool", "10")["version"], 1);
  EXPECT_EQ(d->json("PUT", "/v1/config/keys/database.url", R"("postgres://db/shop")")["version"], 2);
  EXPECT_EQ(d->json("PUT", "/v1/config/keys/features", R"({"search": true})")["version"], 3);
  auto doc = d->call("GET", "/v1/config");
  EXPECT_EQ(json::parse(doc.body), json::parse(R"({"database":{"pool":10,"url":"postgres://db/shop"},
                                                   "features":{"search":true}})"));
  EXPECT_EQ(doc.header("ETag"), "\"3\"");
  EXPECT_EQ(http_call(d->port, "GET", "/v1/config", "", {"If-None-Match: \"3\""}).status, 304);
  EXPECT_EQ(d->json("GET", "/v1/config/keys/database.pool")["value"], 10);

  // Bad input names the field and changes nothing.
  auto bad_json = d->call("PUT", "/v1/config/keys/database.pool", "{nope");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(json::parse(bad_json.body)["error"]["field"], "body");
  auto bad_key = d->call("PUT", "/v1/config/keys/database..pool", "1");
  EXPECT_EQ(bad_key.status, 400);
  EXPECT_EQ(json::parse(bad_key.body)["error"]["field"], "key");
  auto under_value = d->call("PUT", "/v1/config/keys/database.pool.max", "5");
  EXPECT_EQ(under_value.status, 400);
  EXPECT_EQ(json::parse(under_value.body)["error"]["field"], "key");
  auto not_object = d->call("PUT", "/v1/config", "[1,2]");
  EXPECT_EQ(json::parse(not_object.body)["error"]["field"], "body");
  auto missing = d->call("GET", "/v1/config/keys/nothing.here");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body)["error"]["field"], "key");
  EXPECT_EQ(d->call("GET", "/v1/config").header("X-Svckit-Config-Version"), "3");

  EXPECT_EQ(d->json("DELETE", "/v1/config/keys/features")["version"], 4);
  EXPECT_EQ(d->json("POST", "/v1/config/rollback/3")["version"], 5) << "a rollback is a new version";
  EXPECT_TRUE(d->json("GET", "/v1/config")["features"]["search"].get<bool>());
  const auto history = d->json("GET", "/v1/config/history")["versions"];
  ASSERT_EQ(history.size(), 6u) << history.dump();
  EXPECT_EQ(history[4]["reason"], "delete features");
  EXPECT_EQ(history[5]["reason"], "rollback to 3");
  // Each version's whole document stays readable (the dashboard's diff): 4 has no features, 5 does.
  const auto v4 = d->json("GET", "/v1/config/history/4");
  EXPECT_EQ(v4["reason"], "delete features");
  EXPECT_FALSE(v4["document"].contains("features")) << v4.dump();
  EXPECT_TRUE(d->json("GET", "/v1/config/history/5")["document"]["features"]["search"].get<bool>());
  EXPECT_EQ(d->call("GET", "/v1/config/history/99").status, 404);
  EXPECT_EQ(json::parse(d->call("GET", "/v1/config/history/x").body)["error"]["field"], "version");
  EXPECT_EQ(d->call("POST", "/v1/config/rollback/99").status, 404);
  EXPECT_EQ(json::parse(d->call("POST", "/v1/config/rollback/x").body)["error"]["field"], "version");
}

TEST_F(SvckitdConfigTest, ALongPollAnswersWhenANewerVersionExistsOr304WhenTheWaitEnds) {
  auto d = SvckitdProcess::start(dir.path());
  ASSERT_TRUE(d);
  ASSERT_EQ(d->json("PUT", "/v1/config/keys/a", "1")["version"], 1);
  auto quiet = d->call("GET", "/v1/config?index=1&wait=200ms");
  EXPECT_EQ(quiet.status, 304);
  EXPECT_EQ(quiet.header("X-Svckit-Config-Version"), "1");
  auto waiting = std::async(std::launch::async, [&] { return d->call("GET", "/v1/config?index=1&wait=20s"); });
  EXPECT_EQ(waiting.wait_for(300ms), std::future_status::timeout) << "it waits for a change";
  ASSERT_EQ(d->json("PUT", "/v1/config/keys/a", "2")["version"], 2);
  auto answer = waiting.get();
  EXPECT_EQ(answer.status, 200);
  EXPECT_EQ(json::parse(answer.body)["a"], 2);
  EXPECT_EQ(d->call("GET", "/v1/config?index=0").status, 200) << "already newer: at once";
  EXPECT_EQ(d->call("GET", "/v1/config?index=999&wait=20s").status, 200)
      << "a version the store never had (a lost timeline): the document at once, no wait";
  EXPECT_EQ(json::parse(d->call("GET", "/v1/config?index=x").body)["error"]["field"], "index");
}

TEST_F(SvckitdConfigTest, TheStoreSurvivesARestartBesideTheSnapshotFile) {
  const auto snapshot = (dir.path() / "registry.snapshot").string();
  {
    auto d = SvckitdProcess::start(dir.path(), {"--snapshot-file", snapshot});
    ASSERT_TRUE(d);
    ASSERT_EQ(d->json("PUT", "/v1/config/keys/database.pool", "10")["version"], 1);
    ASSERT_EQ(d->json("PUT", "/v1/config/keys/database.pool", "12")["version"], 2);
    d->process.stop(SIGTERM);
  }
  auto again = SvckitdProcess::start(dir.path(), {"--snapshot-file", snapshot});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->json("GET", "/v1/config")["database"]["pool"], 12);
  EXPECT_EQ(again->call("GET", "/v1/config").header("X-Svckit-Config-Version"), "2") << "versions continue";
  EXPECT_EQ(again->json("PUT", "/v1/config/keys/x", "1")["version"], 3);
}

TEST_F(SvckitdConfigTest, SvckitdIsARemoteSourceAndAStartWhileItIsDownUsesTheCache) {
  auto d = SvckitdProcess::start(dir.path());
  ASSERT_TRUE(d);
  ASSERT_EQ(d->json("PUT", "/v1/config/keys/database.pool", "10")["version"], 1);
  IoThread io;
  RealTimeSource time;
  AsioSleeper sleeper;
  config::RemoteConfigOptions options;
  options.cache_file = dir.path() / "config.cache.json";
  const auto open = [&]() {
    auto backend = config::connect_config_backend(d->url(), io.executor());
    EXPECT_TRUE(backend);
    return io.run([&]() -> config::Awaitable<Result<std::shared_ptr<config::RemoteConfig>>> {
      co_return co_await config::RemoteConfig::open(std::move(*backend), options, sleeper);
    });
  };
  auto remote = open();
  ASSERT_TRUE(remote) << remote.error().message;
  std::vector<std::unique_ptr<config::ConfigSource>> sources;
  sources.push_back((*remote)->source());
  auto config = config::ConfigManager::create(std::move(sources), config::ConfigOptions{}, time);
  ASSERT_TRUE(config);
  EXPECT_EQ((*config)->get<int>("database.pool", 0), 10);
  auto stop = std::make_shared<CancelToken>();
  auto following = boost::asio::co_spawn(io.io(), (*remote)->follow(stop), boost::asio::use_future);
  ASSERT_EQ(d->json("PUT", "/v1/config/keys/database.pool", "20")["version"], 2);
  ASSERT_TRUE(wait_until([&] { return (*remote)->version() == "2"; }, 10s)) << "the long poll brings it";
  EXPECT_TRUE((*config)->reload_if_changed());
  EXPECT_EQ((*config)->get<int>("database.pool", 0), 20);

  d->process.stop(SIGTERM);
  auto cold = open();
  ASSERT_TRUE(cold) << "svckitd is down and the cache has the last good content";
  EXPECT_TRUE((*cold)->from_cache());
  EXPECT_EQ((*cold)->tree()["database"]["pool"], 20);
  stop->cancel();
  following.wait();
  io.stop();
}

}  // namespace
}  // namespace svckit::testing
