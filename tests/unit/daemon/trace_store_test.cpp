#include "daemon/trace_store.hpp"

#include <gtest/gtest.h>

#include <thread>

namespace svckit::daemon {
namespace {

trace::ReceivedSpan span(std::uint8_t trace, std::uint8_t id, std::size_t attribute_bytes = 0) {
  trace::ReceivedSpan r;
  r.service = "s";
  r.span.context.trace_id[15] = trace;
  r.span.context.trace_id[0] = 1;
  r.span.context.span_id[7] = id;
  r.span.context.sampled = true;
  r.span.name = "GET /x";
  r.span.start_unix_ns = 1000 * trace + id;
  r.span.end_unix_ns = r.span.start_unix_ns + 10;
  if (attribute_bytes > 0) r.span.attributes.set("big", std::string(attribute_bytes, 'x'));
  return r;
}

TEST(TraceStore, KeepsAtMostItsSpansAndBytesDroppingTheOldestTracesWhole) {
  MetricsRegistry metrics;
  TraceStore store(6, 20'000, "svckitd", metrics);
  for (std::uint8_t t = 1; t <= 4; ++t) store.add({span(t, 1), span(t, 2)});
  EXPECT_EQ(store.span_count(), 6U);  // trace 1 went, whole
  EXPECT_TRUE(store.trace("01000000000000000000000000000001").empty());
  EXPECT_EQ(store.trace("01000000000000000000000000000004").size(), 2U);
  const auto recent = store.recent(10, "");
  ASSERT_EQ(recent.size(), 3U);
  EXPECT_EQ(recent[0].trace_id, "01000000000000000000000000000004");  // newest first

  // Bytes: one span heavier than the whole bound is dropped; heavy ones push the oldest out.
  store.add({span(9, 1, 30'000)});
  EXPECT_TRUE(store.trace("01000000000000000000000000000009").empty());
  store.add({span(10, 1, 9'000), span(11, 1, 9'000)});
  EXPECT_LE(store.byte_count(), 20'000U);
  EXPECT_EQ(store.trace("0100000000000000000000000000000b").size(), 1U);
  EXPECT_TRUE(store.trace("01000000000000000000000000000002").empty());
  EXPECT_TRUE(store.trace("not hex").empty());
  const auto text = metrics.render_prometheus();
  EXPECT_NE(text.find("svckit_traces_spans_dropped_total 1\n"), std::string::npos) << text;
}

// Evictions subtract each trace's remembered weight: after any churn the count is what a fresh
// store holding the same spans counts.
TEST(TraceStore, ItsByteCountAfterEvictionsIsWhatTheKeptSpansWeigh) {
  MetricsRegistry metrics;
  TraceStore churned(4, 1'000'000, "svckitd", metrics);
  for (std::uint8_t t = 1; t <= 50; ++t) churned.add({span(t, 1, t), span(t, 2, 2 * t)});
  churned.on_end(span(60, 1, 7).span);  // svckitd's own span: pushes trace 49 out
  TraceStore fresh(4, 1'000'000, "svckitd", metrics);
  fresh.add({span(50, 1, 50), span(50, 2, 100)});
  fresh.on_end(span(60, 1, 7).span);
  EXPECT_EQ(churned.span_count(), 3U);
  EXPECT_EQ(churned.byte_count(), fresh.byte_count());
  EXPECT_EQ(churned.trace("01000000000000000000000000000032").size(), 2U);  // trace 50
  EXPECT_EQ(churned.trace("0100000000000000000000000000003c")[0].service, "svckitd");
}

// svckitd's own spans come from the gateway's threads at once: every one is kept (within the
// bounds) and seen by the next read.
TEST(TraceStore, OwnSpansEndedOnManyThreadsAreAllSeenByTheNextRead) {
  MetricsRegistry metrics;
  TraceStore store(100'000, 100'000'000, "svckitd", metrics);
  constexpr int kThreads = 4;
  constexpr int kPerThread = 1'000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&store, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto s = span(static_cast<std::uint8_t>(t + 1), 1).span;
        s.context.trace_id[14] = static_cast<std::uint8_t>(i % 250);
        s.context.span_id[6] = static_cast<std::uint8_t>(i / 250);
        store.on_end(std::move(s));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(store.span_count(), static_cast<std::size_t>(kThreads * kPerThread));
  EXPECT_EQ(store.recent(100'000, "svckitd").size(), static_cast<std::size_t>(kThreads * 250));
  EXPECT_EQ(store.trace("01000000000000000000000000000701").size(), 4U) << "i = 7, 257, 507, 757 on thread 0";

  TraceStore small(10, 100'000'000, "svckitd", metrics);
  for (std::uint8_t t = 1; t <= 40; ++t) small.on_end(span(t, 1).span);
  EXPECT_EQ(small.span_count(), 10U) << "the bound holds";
  EXPECT_EQ(small.recent(100, "")[0].trace_id, "01000000000000000000000000000028");
}

// A store large enough to be split into shards keeps its bounds and its reads whole: every kept
// trace is found, the newest come first, and what goes is among the oldest.
TEST(TraceStore, AShardedStoreKeepsItsBoundsAndAnswersAcrossItsShards) {
  MetricsRegistry metrics;
  TraceStore store(16'000, 1'000'000'000, "svckitd", metrics);  // 4 shards of 4,000 spans
  constexpr int kTraces = 20'000;
  const auto id_of = [](int n) {
    auto s = span(1, 1).span;
    s.context.trace_id[13] = static_cast<std::uint8_t>(n >> 8);  // sequential ids, as some senders make
    s.context.trace_id[14] = static_cast<std::uint8_t>(n);
    s.start_unix_ns = 1'000'000 + n;
    return s;
  };
  for (int n = 0; n < kTraces; ++n) store.on_end(id_of(n));
  EXPECT_LE(store.span_count(), 16'000U);
  EXPECT_GE(store.span_count(), 15'000U) << "each shard full, give or take the last eviction";
  const auto newest = store.recent(3, "");
  ASSERT_EQ(newest.size(), 3U);
  EXPECT_EQ(newest[0].start_unix_ns, 1'000'000 + kTraces - 1);
  EXPECT_EQ(newest[2].start_unix_ns, 1'000'000 + kTraces - 3);
  // The 1,000 newest are all kept (each shard evicted only its own oldest), the 1,000 oldest gone.
  for (int n = kTraces - 1'000; n < kTraces; ++n) {
    ASSERT_EQ(store.trace(trace::to_hex(id_of(n).context.trace_id)).size(), 1U) << n;
  }
  for (int n = 0; n < 1'000; ++n) ASSERT_TRUE(store.trace(trace::to_hex(id_of(n).context.trace_id)).empty()) << n;
  EXPECT_EQ(store.recent(100'000, "").size(), store.span_count());

  // One trace's spans, sent in one batch with others, stay together and in order.
  std::vector<trace::ReceivedSpan> batch;
  for (std::uint8_t t = 100; t < 140; ++t) {
    for (std::uint8_t i = 1; i <= 3; ++i) batch.push_back(span(t, i));
  }
  store.add(std::move(batch));
  const auto one = store.trace("01000000000000000000000000000077");  // trace 119
  ASSERT_EQ(one.size(), 3U);
  EXPECT_EQ(one[2].span.context.span_id[7], 3);
}

}  // namespace
}  // namespace svckit::daemon
