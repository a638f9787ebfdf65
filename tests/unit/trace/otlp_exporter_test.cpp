// OtlpHttpExporter against a collector in the same process (an HttpServer on loopback, port 0).
#include "svckit/trace/otlp_exporter.hpp"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_future.hpp>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "svckit/core/metrics.hpp"
#include "svckit/http/server.hpp"
#include "svckit/testing/io_thread.hpp"
#include "svckit/trace/otlp_json.hpp"

namespace svckit::trace {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

/// Counts the spans of every batch it is sent.
class Collector {
 public:
  explicit Collector(asio::io_context& io)
      : server_(io, {}, [this](http::Request& request) -> http::Awaitable<http::Response> {
          auto spans = parse_otlp_json(request.body());
          {
            std::lock_guard lock(mutex_);
            ++batches_;
            if (spans) received_ += spans->size();
            if (spans) {
              for (const auto& s : *spans) names_.insert(s.span.name);
            }
          }
          changed_.notify_all();
          http::Response response{spans ? http::Status::ok : http::Status::bad_request, 11};
          response.body() = "{}";
          co_return response;
        }) {
    EXPECT_TRUE(server_.listen().ok());
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(server_.port()) + "/v1/traces"; }
  /// True when `n` spans arrived within `timeout`.
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return received_ >= n; });
  }
  std::size_t received() {
    std::lock_guard lock(mutex_);
    return received_;
  }
  std::set<std::string> names() {
    std::lock_guard lock(mutex_);
    return names_;
  }
  std::size_t batches() {
    std::lock_guard lock(mutex_);
    return batches_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::size_t received_ = 0;     // guarded by mutex_
  std::size_t batches_ = 0;      // guarded by mutex_
  std::set<std::string> names_;  // guarded by mutex_: every span's name received
  http::HttpServer server_;
};

SpanData span(std::uint8_t n) {
  SpanData s;
  s.context.trace_id[15] = n;
  s.context.span_id[7] = n;
  s.context.sampled = true;
  s.name = "GET /" + std::to_string(n);
  s.start_unix_ns = 1'000;
  s.end_unix_ns = 2'000;
  return s;
}

void shut_down(testing::IoThread& io, OtlpHttpExporter& exporter) {
  asio::co_spawn(io.io(), exporter.shutdown(), asio::use_future).get();
}

// OpenTelemetry's BatchSpanProcessor: a full batch is exported as soon as it is full, not at the
// next scheduled turn (an hour away here) — spans ended meanwhile would be dropped for nothing.
TEST(OtlpHttpExporter, AFullBatchGoesOutAtOnceAndTheRestAtShutdown) {
  testing::IoThread io;
  Collector collector(io.io());
  asio::io_context exporter_io;  // run by hand first, so that the loop surely waits
  auto exporter = OtlpHttpExporter::create(exporter_io.get_executor(), {.endpoint = collector.url(),
                                                                        .service = "svc",
                                                                        .max_queue = 64,
                                                                        .max_batch = 4,
                                                                        .interval = std::chrono::hours(1)})
                      .value();
  exporter->start();
  exporter_io.poll();  // every ready handler has run: the loop waits on its hour-long timer
  auto work = asio::make_work_guard(exporter_io);
  std::thread runner([&exporter_io] { exporter_io.run(); });
  for (std::uint8_t i = 1; i <= 4; ++i) exporter->on_end(span(i));
  EXPECT_TRUE(collector.wait_for(4, 10s)) << "the full batch waited for the interval";
  for (std::uint8_t i = 5; i <= 11; ++i) exporter->on_end(span(i));  // one more full batch, and 3
  EXPECT_TRUE(collector.wait_for(8, 10s));
  asio::co_spawn(exporter_io, exporter->shutdown(), asio::use_future).get();
  exporter_io.stop();  // the pooled connection's idle timer would keep run() going for a while
  runner.join();
  EXPECT_EQ(collector.received(), 11U);
  EXPECT_EQ(collector.batches(), 3U);
  // Each batch after the first is queued in the buffer of the one sent before it: every span
  // arrives once and whole.
  std::set<std::string> expected;
  for (int i = 1; i <= 11; ++i) expected.insert("GET /" + std::to_string(i));
  EXPECT_EQ(collector.names(), expected);
  EXPECT_EQ(exporter->stats().exported, 11U);
  EXPECT_EQ(exporter->stats().dropped, 0U);
}

// on_end() never waits: past max_queue a span is dropped and counted, on the metric too.
TEST(OtlpHttpExporter, AFullQueueDropsAndCountsWithoutWaiting) {
  testing::IoThread io;
  Collector collector(io.io());
  MetricsRegistry metrics;
  auto exporter = OtlpHttpExporter::create(io.executor(),
                                           {.endpoint = collector.url(),
                                            .service = "svc",
                                            .max_queue = 4,
                                            .max_batch = 100,
                                            .interval = std::chrono::hours(1)},
                                           &metrics)
                      .value();
  for (std::uint8_t i = 1; i <= 6; ++i) exporter->on_end(span(i));  // not started: nothing leaves
  EXPECT_EQ(exporter->stats().dropped, 2U);
  exporter->start();
  shut_down(io, *exporter);
  EXPECT_EQ(collector.received(), 4U);
  EXPECT_EQ(exporter->stats().exported, 4U);
  const auto text = metrics.render_prometheus();
  EXPECT_NE(text.find(R"(svckit_trace_spans_total{result="dropped"} 2)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"(svckit_trace_spans_total{result="exported"} 4)"), std::string::npos) << text;
  exporter->on_end(span(7));  // after shutdown: dropped, never queued
  EXPECT_EQ(exporter->stats().dropped, 3U);
}

// A collector that is not there costs the batch (counted as failed), not the exporter.
TEST(OtlpHttpExporter, ABatchANoCollectorTakesIsCountedAsFailed) {
  testing::IoThread io;
  std::string url;
  {
    Collector gone(io.io());
    url = gone.url();
  }
  auto exporter =
      OtlpHttpExporter::create(
          io.executor(),
          {.endpoint = url, .service = "svc", .max_batch = 2, .interval = std::chrono::hours(1), .timeout = 2s})
          .value();
  exporter->start();
  for (std::uint8_t i = 1; i <= 3; ++i) exporter->on_end(span(i));
  shut_down(io, *exporter);
  EXPECT_EQ(exporter->stats().failed, 3U);
  EXPECT_EQ(exporter->stats().exported, 0U);
}

// Destroyed while its loop waits (an hour): the loop ends at once, leaving no work behind.
TEST(OtlpHttpExporter, DestroyedWhileWaitingItsLoopEnds) {
  asio::io_context io;
  auto exporter = OtlpHttpExporter::create(
                      io.get_executor(),
                      {.endpoint = "http://127.0.0.1:9/v1/traces", .service = "svc", .interval = std::chrono::hours(1)})
                      .value();
  exporter->start();
  exporter->on_end(span(1));
  io.poll();  // every ready handler has run: the loop now waits on its hour-long timer
  EXPECT_FALSE(io.stopped()) << "the loop should be waiting";
  exporter.reset();
  auto ran = std::async(std::launch::async, [&io] { return io.run(); });
  const bool ended = ran.wait_for(10s) == std::future_status::ready;
  if (!ended) io.stop();
  EXPECT_TRUE(ended) << "the loop went on waiting after its exporter was destroyed";
}

}  // namespace
}  // namespace svckit::trace
