// The cache's Redis second tier against a real redis-server: what one process loaded, another
// reads from Redis; one loader per key under concurrency; an update in one process drops the
// other's L1 copy; with Redis gone the loader serves and nothing fails.
#include "svckit/cache/redis_cache_tier.hpp"

#include <gtest/gtest.h>

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>

#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/servers.hpp"

namespace svckit::cache {
namespace {

using namespace std::chrono_literals;
using testing::wait_until;

struct Product {
  std::string name;
  int price = 0;
};
void to_json(nlohmann::json& j, const Product& p) { j = {{"name", p.name}, {"price", p.price}}; }
void from_json(const nlohmann::json& j, Product& p) {
  p.name = j.at("name").get<std::string>();
  p.price = j.at("price").get<int>();
}

/// One "process": its own Redis client, L1 cache and tier.
struct Node {
  Node(boost::asio::any_io_executor executor, int port, testing::FakeRandom& random, const TimeSource& time,
       std::size_t compress_above = 0)
      : redis(std::make_shared<redis::RedisClient>(executor, options(port))),
        local(make_local(time)),
        tier(redis, tier_options(compress_above), random),
        products(*local, tier) {}
  static redis::RedisOptions options(int port) {
    redis::RedisOptions o;
    o.server = {"127.0.0.1", static_cast<std::uint16_t>(port), false};
    o.connect_timeout = 300ms;
    return o;
  }
  static std::unique_ptr<Cache<std::string, Product>> make_local(const TimeSource& time) {
    CacheOptions o;
    o.max_entries = 1000;
    auto made = Cache<std::string, Product>::create(o, time);
    return std::move(*made);
  }
  static RedisTierOptions tier_options(std::size_t compress_above) {
    RedisTierOptions o;
    o.name = "products";
    o.ttl = 60s;
    o.compress_above = compress_above;
    return o;
  }
  std::shared_ptr<redis::RedisClient> redis;
  std::unique_ptr<Cache<std::string, Product>> local;
  RedisCacheTier tier;
  TieredCache<Product> products;
};

class RedisCacheTierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = testing::start_redis(dir.path(), port);
    ASSERT_TRUE(started) << started.error().message;
    server = std::move(*started);
  }
  void TearDown() override {
    stop->cancel();
    io.stop();
  }
  TieredCache<Product>::Loader loader(const std::string& tag) {
    return [this, tag](const std::string& key) -> Awaitable<Result<Product>> {
      ++loads;
      co_return Product{tag + ":" + key, 42};
    };
  }
  Result<Product> get(Node& node, const std::string& key, const std::string& tag) {
    auto load = loader(tag);
    return io.run([&]() -> Awaitable<Result<Product>> { co_return co_await node.products.get_or_load(key, load); });
  }

  testing::TempDir dir;
  int port = 0;
  testing::ChildProcess server;
  RealTimeSource time;
  testing::FakeRandom random;
  testing::IoThread io;
  std::atomic<int> loads{0};
  std::shared_ptr<CancelToken> stop = std::make_shared<CancelToken>();
};

TEST_F(RedisCacheTierTest, WhatOneProcessLoadedAnotherReadsFromRedis) {
  Node a(io.executor(), port, random, time);
  Node b(io.executor(), port, random, time);
  auto first = get(a, "sku-1", "a");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->name, "a:sku-1");
  auto second = get(b, "sku-1", "b");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->name, "a:sku-1") << "b found a's value in Redis";
  EXPECT_EQ(loads, 1);
  EXPECT_EQ(b.tier.stats().hits, 1u);
  EXPECT_EQ(get(b, "sku-1", "b")->name, "a:sku-1");
  EXPECT_EQ(b.tier.stats().hits, 1u) << "the second read is an L1 hit";
  // The Redis copy expires with the tier's TTL.
  redis::RedisClient probe(io.executor(), Node::options(port));
  auto ttl = io.run([&]() -> Awaitable<Result<redis::Reply>> {
    auto args = redis::command_args("PTTL", "svckit:cache:products:sku-1");
    co_return co_await probe.command(std::move(args));
  });
  ASSERT_TRUE(ttl);
  EXPECT_GT(ttl->integer, 50'000);
  EXPECT_LE(ttl->integer, 60'000);
}

TEST_F(RedisCacheTierTest, LargeValuesAreStoredCompressedAndEveryProcessReadsThem) {
  Node a(io.executor(), port, random, time, 1024);
  Node b(io.executor(), port, random, time);  // compression off: it still reads a's values
  std::string long_name;
  for (int i = 0; i < 400; ++i) long_name += "blue ceramic mug, 350 ml; ";
  const auto big = [&](const std::string& key) -> Awaitable<Result<Product>> { co_return Product{long_name + key, 7}; };
  auto stored =
      io.run([&]() -> Awaitable<Result<Product>> { co_return co_await a.products.get_or_load("sku-9", big); });
  ASSERT_TRUE(stored);
  EXPECT_EQ(a.tier.stats().compressed, 1U);
  redis::RedisClient probe(io.executor(), Node::options(port));
  auto length = io.run([&]() -> Awaitable<Result<redis::Reply>> {
    auto args = redis::command_args("STRLEN", "svckit:cache:products:sku-9");
    co_return co_await probe.command(std::move(args));
  });
  ASSERT_TRUE(length);
  EXPECT_LT(length->integer, static_cast<long long>(long_name.size()) / 10) << "stored deflated";
  auto read = get(b, "sku-9", "b");
  ASSERT_TRUE(read) << read.error().describe();
  EXPECT_EQ(read->name, long_name + "sku-9") << "b, without compression, decodes it";
  EXPECT_EQ(b.tier.stats().hits, 1U);
  // Small values stay as they are.
  ASSERT_TRUE(get(a, "sku-1", "a"));
  EXPECT_EQ(a.tier.stats().compressed, 1U);
}

TEST_F(RedisCacheTierTest, ConcurrentMissesOnOneKeyLoadItOnce) {
  Node a(io.executor(), port, random, time);
  std::atomic<int> slow_loads{0};
  TieredCache<Product>::Loader slow = [&](const std::string& key) -> Awaitable<Result<Product>> {
    ++slow_loads;
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, 100ms);
    co_await timer.async_wait(boost::asio::use_awaitable);
    co_return Product{key, 1};
  };
  std::vector<std::future<Result<Product>>> calls;
  const std::string key = "hot";
  for (int i = 0; i < 20; ++i) {
    calls.push_back(boost::asio::co_spawn(io.io(), a.products.get_or_load(key, slow), boost::asio::use_future));
  }
  for (auto& c : calls) {
    auto r = c.get();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->name, "hot");
  }
  EXPECT_EQ(slow_loads, 1);
  EXPECT_EQ(a.tier.stats().loads, 1u);
}

// Before: a leader whose loader threw left its flight behind, and every later load of the key
// (and the callers already waiting) waited 24 h.
TEST_F(RedisCacheTierTest, ALoaderThatThrowsReleasesItsWaitersAndTheNextLoadRunsAgain) {
  Node a(io.executor(), port, random, time);
  std::atomic<int> attempts{0};
  const WakeableWait gate(io.executor());  // holds the leader's load until the follower waits
  RedisCacheTier::StringLoader throwing = [&](const std::string&) -> Awaitable<Result<std::string>> {
    ++attempts;
    co_await gate.wait_until(std::chrono::steady_clock::now() + 10s);
    throw std::runtime_error("database driver crashed");
  };
  const std::string key = "cursed";
  auto leader = boost::asio::co_spawn(io.io(), a.tier.get_or_load(key, throwing), boost::asio::use_future);
  ASSERT_TRUE(wait_until([&] { return attempts.load() == 1; }, 10s));
  auto follower = boost::asio::co_spawn(io.io(), a.tier.get_or_load(key, throwing), boost::asio::use_future);
  // The follower's miss and its joining the flight run in one handler on the one I/O thread: once
  // the miss is counted, the leader cannot finish before the follower waits.
  ASSERT_TRUE(wait_until([&] { return a.tier.stats().misses == 2; }, 10s));
  gate.wake();
  EXPECT_THROW((void)leader.get(), std::runtime_error);
  ASSERT_EQ(follower.wait_for(10s), std::future_status::ready) << "the follower is released at once";
  const auto followed = follower.get();
  ASSERT_FALSE(followed);
  EXPECT_EQ(followed.error().code, ErrorCode::internal);
  EXPECT_EQ(attempts, 1) << "the follower shared the leader's load";

  RedisCacheTier::StringLoader fine = [&](const std::string&) -> Awaitable<Result<std::string>> {
    ++attempts;
    co_return std::string("blessed");
  };
  auto again = boost::asio::co_spawn(io.io(), a.tier.get_or_load(key, fine), boost::asio::use_future);
  ASSERT_EQ(again.wait_for(10s), std::future_status::ready) << "no flight was left behind";
  EXPECT_EQ(again.get().value(), "blessed");
}

TEST_F(RedisCacheTierTest, AnUpdateInOneProcessDropsTheOthersL1Copy) {
  Node a(io.executor(), port, random, time);
  Node b(io.executor(), port, random, time);
  auto following = boost::asio::co_spawn(io.io(), b.tier.follow_invalidations(stop), boost::asio::use_future);
  ASSERT_EQ(get(b, "sku-2", "b")->price, 42);  // b holds it in L1
  // b's subscription must be up before a publishes (pub/sub keeps no history).
  ASSERT_TRUE(wait_until(
      [&] {
        auto n = io.run([&]() -> Awaitable<Result<redis::Reply>> {
          auto args = redis::command_args("PUBSUB", "NUMSUB", "svckit:cache:products:invalidate");
          co_return co_await a.redis->command(std::move(args));
        });
        return n && n->elements.size() == 2 && n->elements[1].integer == 1;
      },
      10s));
  const std::string key = "sku-2";
  const Product cheaper{"b:sku-2", 30};
  ASSERT_TRUE(io.run([&]() -> Awaitable<Result<void>> { co_return co_await a.products.put(key, cheaper); }));
  ASSERT_TRUE(wait_until([&] { return b.tier.stats().invalidations == 1; }, 10s));
  EXPECT_EQ(get(b, "sku-2", "b")->price, 30) << "b dropped its L1 copy and read the new value from Redis";
  EXPECT_EQ(a.tier.stats().invalidations, 0u) << "a skips its own messages";

  ASSERT_TRUE(io.run([&]() -> Awaitable<Result<void>> { co_return co_await a.products.invalidate(key); }));
  ASSERT_TRUE(wait_until([&] { return b.tier.stats().invalidations == 2; }, 10s));
  loads = 0;
  EXPECT_EQ(get(b, "sku-2", "b")->price, 42) << "gone from both tiers: loaded again";
  EXPECT_EQ(loads, 1);
  stop->cancel();  // the loop uses b.tier: end it before b goes
  following.wait();
}

TEST_F(RedisCacheTierTest, WithRedisGoneTheLoaderServesAndNothingFails) {
  Node a(io.executor(), port, random, time);
  server.stop(SIGKILL);
  auto r = get(a, "sku-3", "a");
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->name, "a:sku-3");
  EXPECT_GE(a.tier.stats().errors, 1u);
  EXPECT_EQ(get(a, "sku-3", "a")->name, "a:sku-3") << "L1 still works";
  EXPECT_EQ(loads, 1);
}

TEST(RedisCacheTierOptions, ABadNameIsRefusedNamingIt) {
  testing::FakeRandom random;
  RedisTierOptions o;
  EXPECT_EQ(RedisCacheTier(nullptr, o, random).validate().error().field, "name");
  o.name = "has space";
  EXPECT_EQ(RedisCacheTier(nullptr, o, random).validate().error().field, "name");
  o.name = "products";
  o.ttl = -1ms;
  EXPECT_EQ(RedisCacheTier(nullptr, o, random).validate().error().field, "ttl");
}

}  // namespace
}  // namespace svckit::cache
