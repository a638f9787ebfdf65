#include "svckit/cache/cache.hpp"
#include "svckit/cache/cache_metrics.hpp"
#include "svckit/cache/expire_periodically.hpp"

#include <gtest/gtest.h>

#include <future>
#include <string>
#include <thread>

#include "svckit/testing/metric_value.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/simulated_clock.hpp"
#include "svckit/testing/virtual_time.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

namespace svckit::cache {
namespace {

using namespace std::chrono_literals;
using testing::SimulatedClock;

template <class V = int>
std::unique_ptr<Cache<std::string, V>> make(const SimulatedClock& clock, CacheOptions o,
                                            typename Cache<std::string, V>::Weigher w = {}) {
  auto made = Cache<std::string, V>::create(o, clock, std::move(w));
  EXPECT_TRUE(made) << made.error().message;
  return std::move(*made);
}

CacheOptions bounded(std::size_t entries, Eviction eviction = Eviction::lru) {
  CacheOptions o;
  o.max_entries = entries;
  o.eviction = eviction;
  o.shards = 1;
  return o;
}

TEST(Cache, LruEvictsTheLeastRecentlyUsed) {
  SimulatedClock clock;
  auto c = make(clock, bounded(3));
  c->put("a", 1);
  c->put("b", 2);
  c->put("c", 3);
  EXPECT_EQ(c->get("a"), 1);  // a is now the most recent
  c->put("d", 4);
  EXPECT_FALSE(c->get("b")) << "b was the least recently used";
  EXPECT_EQ(c->get("a"), 1);
  EXPECT_EQ(c->get("c"), 3);
  EXPECT_EQ(c->get("d"), 4);
  const auto s = c->stats();
  EXPECT_EQ(s.evictions, 1u);
  EXPECT_EQ(s.entries, 3u);
  EXPECT_EQ(s.hits, 4u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_DOUBLE_EQ(s.hit_rate(), 0.8);
}

TEST(Cache, ItsStatsReachPrometheusAtEachScrape) {
  SimulatedClock clock;
  auto c = make(clock, bounded(2));
  MetricsRegistry metrics;
  auto exported = export_cache_metrics(metrics, "products", *c);
  c->put("a", 1);
  c->put("b", 2);
  c->put("c", 3);  // evicts a
  EXPECT_EQ(c->get("b"), 2);
  EXPECT_FALSE(c->get("a"));
  auto text = metrics.render_prometheus();
  auto value = [&](const std::string& name) { return testing::metric_value(text, name + "{cache=\"products\"}"); };
  EXPECT_EQ(value("svckit_cache_hits_total"), 1.0) << text;
  EXPECT_EQ(value("svckit_cache_misses_total"), 1.0);
  EXPECT_EQ(value("svckit_cache_puts_total"), 3.0);
  EXPECT_EQ(value("svckit_cache_evictions_total"), 1.0);
  EXPECT_EQ(value("svckit_cache_entries"), 2.0);
  EXPECT_EQ(c->get("c"), 3);
  text = metrics.render_prometheus();
  EXPECT_EQ(value("svckit_cache_hits_total"), 2.0) << "counters follow the cache between scrapes";
  exported.reset();
  c.reset();  // the cache may go once its handle has
  EXPECT_NO_THROW(metrics.render_prometheus());
}

TEST(Cache, FifoEvictsTheOldestWhateverWasRead) {
  SimulatedClock clock;
  auto c = make(clock, bounded(3, Eviction::fifo));
  c->put("a", 1);
  c->put("b", 2);
  c->put("c", 3);
  EXPECT_EQ(c->get("a"), 1);
  c->put("a", 10);  // an update keeps its place too
  c->put("d", 4);
  EXPECT_FALSE(c->get("a")) << "a was inserted first";
  EXPECT_EQ(c->get("b"), 2);
}

TEST(Cache, EntriesExpireByDefaultOrOwnTtlOnTheInjectedClock) {
  SimulatedClock clock;
  auto o = bounded(100);
  o.default_ttl = 100ms;
  auto c = make(clock, o);
  c->put("short", 1);
  c->put("long", 2, 1s);
  c->put("forever", 3, 0ms);
  clock.advance(99ms);
  EXPECT_EQ(c->get("short"), 1);
  clock.advance(1ms);
  EXPECT_FALSE(c->get("short")) << "expires exactly at its TTL";
  EXPECT_EQ(c->get("long"), 2);
  clock.advance(900ms);
  EXPECT_EQ(c->purge_expired(), 1u);
  EXPECT_EQ(c->get("forever"), 3);
  const auto s = c->stats();
  EXPECT_EQ(s.expirations, 2u);
  EXPECT_EQ(s.entries, 1u);
}

TEST(Cache, ByteBoundEvictsByWeightAndRefusesWhatCannotFit) {
  SimulatedClock clock;
  CacheOptions o;
  o.max_entries = 0;
  o.max_bytes = 100;
  o.shards = 1;
  auto c = make<std::string>(clock, o, [](const std::string&, const std::string& v) { return v.size(); });
  EXPECT_TRUE(c->put("a", std::string(60, 'a')));
  EXPECT_TRUE(c->put("b", std::string(30, 'b')));
  EXPECT_TRUE(c->put("c", std::string(30, 'c')));  // 120 > 100: a goes
  EXPECT_FALSE(c->get("a"));
  EXPECT_EQ(c->stats().bytes, 60u);
  EXPECT_FALSE(c->put("huge", std::string(101, 'h'))) << "heavier than the whole bound";
  EXPECT_EQ(c->stats().rejections, 1u);
  EXPECT_TRUE(c->put("b", std::string(90, 'B')));  // a bigger replacement evicts c, not itself
  EXPECT_FALSE(c->get("c"));
  EXPECT_EQ(c->get("b")->size(), 90u);
  EXPECT_EQ(c->stats().bytes, 90u);
}

TEST(Cache, TinyLfuKeepsTheHotSetAgainstOneHitWonders) {
  SimulatedClock clock;
  auto o = bounded(2);
  o.tinylfu_admission = true;
  auto c = make(clock, o);
  for (const std::string hot : {"x", "y"}) {
    for (int i = 0; i < 5; ++i) (void)c->get(hot);
    EXPECT_TRUE(c->put(hot, 1));
  }
  for (int i = 0; i < 20; ++i) {
    EXPECT_FALSE(c->put("scan" + std::to_string(i), 0)) << "a key seen once is colder than the victim";
  }
  EXPECT_EQ(c->get("x"), 1);
  EXPECT_EQ(c->get("y"), 1);
  EXPECT_EQ(c->stats().rejections, 20u);
  for (int i = 0; i < 12; ++i) (void)c->get("z");  // now hotter than either
  EXPECT_TRUE(c->put("z", 3));
  EXPECT_EQ(c->stats().evictions, 1u);
  EXPECT_EQ(c->get("z"), 3);
}

TEST(Cache, BatchOperationsAndWarmUp) {
  SimulatedClock clock;
  auto c = make(clock, bounded(10));
  EXPECT_EQ(c->put_many({{"a", 1}, {"b", 2}}), 2u);
  const auto got = c->get_many({"a", "nope", "b"});
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0], 1);
  EXPECT_FALSE(got[1]);
  EXPECT_EQ(got[2], 2);
  const auto loaded = c->warm_up({"a", "c", "d", "bad"}, [](const std::string& k) -> Result<int> {
    if (k == "bad") return make_error(ErrorCode::unavailable, "no such row");
    return static_cast<int>(k[0]);
  });
  EXPECT_EQ(loaded, 3u) << "a from the cache, c and d loaded, bad failed";
  EXPECT_EQ(c->get("c"), 'c');
  EXPECT_EQ(c->stats().loads, 3u);
  EXPECT_EQ(c->stats().load_failures, 1u);
}

TEST(Cache, GetOrLoadRunsOneLoaderPerKeyUnderTwoThreads) {
  SimulatedClock clock;
  auto c = make(clock, bounded(10));
  std::promise<void> release;
  auto gate = release.get_future().share();
  std::atomic<int> calls{0};
  const auto loader = [&](const std::string& key) -> Result<int> {
    ++calls;
    gate.wait();  // hold the load until the other caller is waiting for it
    clock.advance(5ms);
    return static_cast<int>(key.size());
  };
  auto first = std::async(std::launch::async, [&] { return c->get_or_load("abc", loader); });
  ASSERT_TRUE(testing::wait_until([&] { return calls.load() == 1; }, 5s));
  auto second = std::async(std::launch::async, [&] { return c->get_or_load("abc", loader); });
  ASSERT_TRUE(testing::wait_until([&] { return c->stats().load_waits == 1; }, 5s));
  release.set_value();
  const auto a = first.get();
  const auto b = second.get();
  ASSERT_TRUE(a);
  ASSERT_TRUE(b);
  EXPECT_EQ(*a, 3);
  EXPECT_EQ(*b, 3);
  EXPECT_EQ(calls.load(), 1);
  const auto s = c->stats();
  EXPECT_EQ(s.loads, 1u);
  EXPECT_EQ(s.load_time, 5ms);
  EXPECT_EQ(c->get_or_load("abc", loader).value(), 3) << "cached now";
  EXPECT_EQ(calls.load(), 1);
}

TEST(Cache, LoaderErrorsAndExceptionsAreReturnedNotCached) {
  SimulatedClock clock;
  auto c = make(clock, bounded(10));
  int calls = 0;
  const auto failing = [&](const std::string&) -> Result<int> {
    ++calls;
    return make_error(ErrorCode::unavailable, "database down");
  };
  EXPECT_EQ(c->get_or_load("k", failing).error().code, ErrorCode::unavailable);
  EXPECT_EQ(c->get_or_load("k", failing).error().code, ErrorCode::unavailable);
  EXPECT_EQ(calls, 2) << "a failure is not cached";
  const auto throwing = [](const std::string&) -> Result<int> { throw std::runtime_error("boom"); };
  const auto thrown = c->get_or_load("t", throwing);
  ASSERT_FALSE(thrown);
  EXPECT_EQ(thrown.error().code, ErrorCode::internal);
  EXPECT_NE(thrown.error().message.find("boom"), std::string::npos);
  EXPECT_EQ(c->get_or_load("t", [](const std::string&) -> Result<int> { return 7; }).value(), 7)
      << "the key is not stuck after a throw";
}

TEST(Cache, OptionsAreValidatedNamingTheField) {
  SimulatedClock clock;
  CacheOptions o;
  o.max_bytes = 10;
  EXPECT_EQ((Cache<std::string, int>::create(o, clock).error().field), "max_bytes");
  o = {};
  o.max_entries = 0;
  o.tinylfu_admission = true;
  EXPECT_EQ((Cache<std::string, int>::create(o, clock).error().field), "tinylfu_admission");
  o = {};
  o.shards = 0;
  EXPECT_EQ((Cache<std::string, int>::create(o, clock).error().field), "shards");
  o = {};
  o.max_entries = 100;
  EXPECT_EQ((Cache<std::string, int>::create(o, clock).value()->options().shards), 1u) << "≥ 64 entries per shard";
}

TEST(Cache, ShardedCacheStaysWithinItsBoundUnderConcurrentUse) {
  SimulatedClock clock;
  CacheOptions o;
  o.max_entries = 4096;
  o.tinylfu_admission = true;
  auto made = Cache<int, int>::create(o, clock);
  auto& c = **made;
  EXPECT_EQ(c.options().shards, 64u);
  std::vector<std::thread> threads;
  threads.reserve(2);
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&c, t] {
      for (int i = 0; i < 50'000; ++i) {
        const int key = (i * 7919 + t) % 10'000;
        if (!c.get(key)) c.put(key, key);
        if (i % 97 == 0) (void)c.get_or_load(key % 50, [](const int& k) -> Result<int> { return k; });
      }
    });
  }
  for (auto& t : threads) t.join();
  const auto s = c.stats();
  EXPECT_LE(s.entries, 4096u);
  EXPECT_GT(s.hits, 0u);
  EXPECT_EQ(s.hits + s.misses, 2u * (50'000 + 516)) << "every get and get_or_load counts once";
  for (int k = 0; k < 50; ++k) {
    if (auto v = c.get(k)) {
      EXPECT_EQ(*v, k);
    }
  }
}

TEST(CacheBackgroundExpiry, ExpiredEntriesGoWithoutBeingReadAndTheLoopStops) {
  boost::asio::io_context io;
  testing::VirtualTime time(io);
  CacheOptions options;
  options.default_ttl = 10s;
  auto cache = Cache<std::string, int>::create(options, time).value();
  cache->put("short", 1);
  cache->put("long", 2, 60s);
  cache->put("forever", 3, 0ms);
  auto stop = std::make_shared<CancelToken>();
  std::optional<std::uint64_t> removed;
  boost::asio::co_spawn(io, expire_periodically(*cache, time, 5s, stop),
                        [&](const std::exception_ptr&, std::uint64_t n) { removed = n; });
  const auto start = time.steady_now();
  time.run_until(start + 9s);
  EXPECT_EQ(cache->stats().entries, 3U) << "nothing expired yet";
  time.run_until(start + 15s);
  EXPECT_EQ(cache->stats().entries, 2U) << "'short' removed by the loop at 15 s, never read";
  EXPECT_EQ(cache->stats().expirations, 1U);
  EXPECT_EQ(cache->stats().misses, 0U) << "no read was needed";
  time.run_until(start + 65s);
  EXPECT_EQ(cache->stats().entries, 1U);
  stop->cancel();
  time.run_until(start + 70s);
  ASSERT_TRUE(removed.has_value()) << "the loop ended when stopped";
  EXPECT_EQ(*removed, 2U);
  EXPECT_EQ(time.sleepers(), 0U);
}

}  // namespace
}  // namespace svckit::cache
