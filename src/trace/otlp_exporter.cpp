#include "svckit/trace/otlp_exporter.hpp"

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <deque>
#include <mutex>

#include "svckit/core/sleeper.hpp"
#include "svckit/http/client.hpp"
#include "svckit/net/backend_url.hpp"
#include "svckit/trace/otlp_json.hpp"

namespace svckit::trace {

namespace asio = boost::asio;

constexpr std::size_t kMaxSpareBytes = std::size_t{4} << 20;

struct OtlpHttpExporter::State {
  State(asio::any_io_executor executor, OtlpExporterOptions o, net::HostPort where, std::string path,
        MetricsRegistry* metrics)
      : executor(executor),
        options(std::move(o)),
        endpoint(std::move(where)),
        target(std::move(path)),
        client(executor) {
    if (metrics != nullptr) {
      auto& family =
          metrics->counter("svckit_trace_spans_total",
                           "Spans handed to the OTLP exporter, by result (exported, dropped, failed).", {"result"});
      exported_series = family.handle({"exported"});
      dropped_series = family.handle({"dropped"});
      failed_series = family.handle({"failed"});
    }
  }

  asio::any_io_executor executor;
  OtlpExporterOptions options;
  net::HostPort endpoint;
  std::string target;
  http::HttpClient client;
  std::shared_ptr<Counter> exported_series, dropped_series, failed_series;

  mutable std::mutex mutex;
  // The queued spans, each already encoded (OTLP JSON objects, comma-separated) by the thread that
  // ended it: the SpanData is freed where it was made, and a batch is one string. `ends[i]` is
  // where span i's text ends in `queue` (its comma excluded).
  std::string queue;                          // guarded by mutex
  std::string spare;                          // guarded by mutex: a sent batch's buffer, for the next queue
  std::deque<std::size_t> ends;               // guarded by mutex
  std::atomic<std::size_t> queued{0};         // ends.size(), written under mutex, read without it
  bool stopping = false;                      // guarded by mutex
  OtlpExporterStats stats;                    // guarded by mutex
  std::shared_ptr<CancelToken> loop_waiting;  // guarded by mutex: ends the loop's wait, while it waits
  AsioSleeper sleeper;

  /// Takes the loop's wait to end (cancel it after the lock), if it waits: a full batch is
  /// queued, or the exporter stops.
  std::shared_ptr<CancelToken> wake_loop_locked() { return std::exchange(loop_waiting, nullptr); }

  /// Waits up to `interval`, or until a full batch is queued or the exporter stops.
  asio::awaitable<void> wait_for_batch() {
    auto wait = std::make_shared<CancelToken>();
    {
      std::lock_guard lock(mutex);
      if (stopping || ends.size() >= options.max_batch) co_return;
      loop_waiting = wait;
    }
    (void)co_await sleeper.sleep_for(options.interval, wait.get());
    std::lock_guard lock(mutex);
    if (loop_waiting == wait) loop_waiting.reset();
  }

  /// Up to max_batch queued spans: their text and how many. Empty when none wait.
  std::pair<std::string, std::size_t> take_batch() {
    std::lock_guard lock(mutex);
    const auto n = std::min(ends.size(), options.max_batch);
    if (n == 0) return {};
    if (n == ends.size()) {
      ends.clear();
      queued.store(0, std::memory_order_relaxed);
      // The queue goes on in the last sent batch's buffer: no regrowth from empty (a copy of
      // everything queued so far at each doubling) and no fresh pages to fault in, per batch.
      std::string taken = std::exchange(queue, std::move(spare));
      queue.clear();
      spare = std::string();
      return {std::move(taken), n};
    }
    const auto cut = ends[n - 1];
    std::pair<std::string, std::size_t> batch{queue.substr(0, cut), n};
    queue.erase(0, cut + 1);  // and the comma after it
    for (std::size_t i = 0; i < n; ++i) ends.pop_front();
    queued.store(ends.size(), std::memory_order_relaxed);
    for (auto& end : ends) end -= cut + 1;
    return batch;
  }

  asio::awaitable<void> send(std::pair<std::string, std::size_t> batch) {
    if (batch.second == 0) co_return;
    http::Request request{http::Verb::post, target, 11};
    request.set(http::beast_http::field::content_type, "application/json");
    request.body() = otlp_json_around(options.service, batch.first);
    auto answer = co_await client.send(endpoint, std::move(request), options.timeout);
    const bool ok = answer && answer->result_int() < 300;
    {
      std::lock_guard lock(mutex);
      (ok ? stats.exported : stats.failed) += batch.second;
      // Kept unless it is large (a batch of huge spans): memory held for nothing when spans are few.
      if (batch.first.capacity() > spare.capacity() && batch.first.capacity() <= kMaxSpareBytes) {
        spare = std::move(batch.first);
      }
    }
    if (auto& series = ok ? exported_series : failed_series) series->inc(batch.second);
  }

  bool stopped() const {
    std::lock_guard lock(mutex);
    return stopping;
  }
};

Result<std::unique_ptr<OtlpHttpExporter>> OtlpHttpExporter::create(asio::any_io_executor executor,
                                                                   OtlpExporterOptions options,
                                                                   MetricsRegistry* metrics) {
  auto url = net::parse_backend_url(options.endpoint, 4318);
  if (!url || (url->scheme != "http" && url->scheme != "https") || url->hosts.size() != 1) {
    return make_error(
        ErrorCode::invalid_argument,
        "the OTLP endpoint must be an http(s) URL like http://127.0.0.1:4318/v1/traces, not '" + options.endpoint + "'",
        "endpoint");
  }
  if (options.service.empty()) return make_error(ErrorCode::invalid_argument, "a service name is needed", "service");
  if (options.max_queue == 0) return make_error(ErrorCode::invalid_argument, "must be at least 1", "max_queue");
  if (options.max_batch == 0) return make_error(ErrorCode::invalid_argument, "must be at least 1", "max_batch");
  auto where = url->hosts.front();
  where.tls = url->scheme == "https";
  std::string path = url->path.empty() ? "/v1/traces" : url->path;
  auto state = std::make_shared<State>(executor, std::move(options), std::move(where), std::move(path), metrics);
  return std::unique_ptr<OtlpHttpExporter>(new OtlpHttpExporter(std::move(state)));
}

OtlpHttpExporter::~OtlpHttpExporter() {
  std::shared_ptr<CancelToken> to_wake;
  {
    std::lock_guard lock(state_->mutex);
    state_->stopping = true;
    to_wake = state_->wake_loop_locked();
  }
  if (to_wake) to_wake->cancel();
}

void OtlpHttpExporter::on_end(SpanData span) {
  // Never sends from here: the span is encoded (~0.3 us) and queued, and a full batch wakes the
  // loop, which sends it on its executor.
  // A full queue (a collector that is down or slow) drops the span: it is not encoded for nothing.
  const bool room = state_->queued.load(std::memory_order_relaxed) < state_->options.max_queue;
  thread_local std::string text;
  text.clear();
  if (room) append_otlp_span(text, span);
  bool dropped = false;
  std::shared_ptr<CancelToken> to_wake;
  {
    std::lock_guard lock(state_->mutex);
    if (!room || state_->stopping || state_->ends.size() >= state_->options.max_queue) {
      ++state_->stats.dropped;
      dropped = true;
    } else {
      if (!state_->ends.empty()) state_->queue += ',';
      state_->queue += text;
      state_->ends.push_back(state_->queue.size());
      state_->queued.store(state_->ends.size(), std::memory_order_relaxed);
      if (state_->ends.size() >= state_->options.max_batch) to_wake = state_->wake_loop_locked();
    }
  }
  if (text.capacity() > 64 * 1024) std::string().swap(text);  // a huge span: do not keep its buffer
  if (to_wake) to_wake->cancel();
  if (dropped && state_->dropped_series) state_->dropped_series->inc();
}

void OtlpHttpExporter::start() {
  asio::co_spawn(
      state_->executor,
      [](std::shared_ptr<State> state) -> asio::awaitable<void> {
        while (!state->stopped()) {
          co_await state->wait_for_batch();
          if (state->stopped()) break;
          co_await state->send(state->take_batch());
        }
      }(state_),
      asio::detached);
}

asio::awaitable<void> OtlpHttpExporter::shutdown() {
  std::shared_ptr<CancelToken> to_wake;
  {
    std::lock_guard lock(state_->mutex);
    if (state_->stopping) co_return;
    state_->stopping = true;
    to_wake = state_->wake_loop_locked();
  }
  if (to_wake) to_wake->cancel();
  for (auto batch = state_->take_batch(); batch.second > 0; batch = state_->take_batch()) {
    co_await state_->send(std::move(batch));
  }
}

OtlpExporterStats OtlpHttpExporter::stats() const {
  std::lock_guard lock(state_->mutex);
  return state_->stats;
}

}  // namespace svckit::trace
