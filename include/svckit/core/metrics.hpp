// Prometheus-style metrics: counters, gauges and histograms grouped in labelled families.
//
// Thread-safety: every type here is thread-safe. Updating an existing series is lock-free
// (atomics); `Family::with()` takes a mutex only to find or create the series.
//
// Series lifetime: a family holds a series until it is removed — by `Family::clear()` or by
// `MetricsRegistry::remove_series()` (per-service series of services that are gone). Every way to
// reach a labelled series shares its ownership: `family.with({...}).inc()` holds it for the
// expression (a scrape removing the series on another thread meanwhile cannot free it under the
// update), and code that keeps a series across calls keeps a `handle()` and looks it up again
// when `MetricsRegistry::generation()` moved (updates to a removed series are no longer
// exported). `get()` of a family without labels returns a plain reference: removal by label never
// touches that series, only `clear()` does.
//
// Cardinality: each family holds at most `MetricsOptions::max_series_per_family` series (the
// OpenTelemetry SDK's cardinality limit). Past it, updates for new label sets go to one overflow
// series whose every label reads "_overflow", so a flood of label values (service names from the
// network) cannot grow memory or the exposition without bound.
//
// Collectors: figures a component keeps by itself (a cache's, a subscription's, a worker pool's
// stats) reach the exposition through a collector — a function run at the start of every
// render_prometheus() that copies them into series (Prometheus's client libraries call it a
// Collector). Nothing is added to the component's hot path; the series are as fresh as the scrape.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace svckit {

class Counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept;
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0};
};

/// Cumulative histogram with fixed upper bounds (seconds for latencies).
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v) noexcept;
  const std::vector<double>& bounds() const noexcept { return bounds_; }
  /// Count of observations <= bounds()[i] (non-cumulative per bucket; the renderer accumulates).
  std::uint64_t bucket_count(std::size_t i) const noexcept { return counts_[i].load(std::memory_order_relaxed); }
  std::uint64_t count() const noexcept { return count_.load(std::memory_order_relaxed); }
  double sum() const noexcept { return sum_.load(std::memory_order_relaxed); }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;  // bounds_.size() + 1 (+Inf)
  std::atomic<std::uint64_t> count_{0};
  std::atomic<double> sum_{0};
};

/// Default latency buckets: 0.5 ms .. 10 s.
std::vector<double> default_latency_buckets();

enum class MetricType { counter, gauge, histogram };

using LabelValues = std::set<std::string, std::less<>>;

/// The value used for every label of a family's overflow series.
inline constexpr const char* kOverflowLabelValue = "_overflow";

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names, MetricType type,
             std::size_t max_series)
      : name_(std::move(name)),
        help_(std::move(help)),
        label_names_(std::move(label_names)),
        type_(type),
        max_series_(max_series) {}
  virtual ~FamilyBase() = default;
  virtual void render(std::string& out) const = 0;
  /// Removes the series whose label `label` reads one of `values` (none when the family has no
  /// such label); holders of a removed series keep it until they let go. Returns how many.
  virtual std::size_t remove_series(std::string_view label, const LabelValues& values) = 0;
  /// Adds, per value of `label`, an activity figure: the sum over its series of the counter or
  /// gauge value or the histogram count. Unchanged between two calls = no update in between
  /// (barring updates that cancel out).
  virtual void add_activity(std::string_view label, std::map<std::string, double, std::less<>>& out) const = 0;
  virtual std::size_t series_count() const = 0;
  const std::string& name() const { return name_; }

 protected:
  std::string header() const;
  std::string labels(const std::vector<std::string>& values, const std::string& extra = {}) const;

  std::string name_;
  std::string help_;
  /// Index of `label` in label_names_, or -1.
  int label_index(std::string_view label) const;

  std::vector<std::string> label_names_;
  MetricType type_;
  std::size_t max_series_;
};

/// One series held for as long as this value lives (see the lifetime rules above); forwards the
/// series' own operations, so `family.with({...}).inc()` reads as on the series itself.
template <class M>
class SeriesRef {
 public:
  explicit SeriesRef(std::shared_ptr<M> series) : series_(std::move(series)) {}
  template <class... A>
  void inc(A... a) const noexcept {
    series_->inc(a...);
  }
  void set(double v) const noexcept { series_->set(v); }
  void add(double d) const noexcept { series_->add(d); }
  void observe(double v) const noexcept { series_->observe(v); }
  auto value() const noexcept { return series_->value(); }
  auto count() const noexcept { return series_->count(); }
  auto sum() const noexcept { return series_->sum(); }
  const std::shared_ptr<M>& handle() const noexcept { return series_; }

 private:
  std::shared_ptr<M> series_;
};

/// All series of one metric name. REQUIRES: with() gets exactly label_names.size() values.
template <class M>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names, MetricType type,
         std::vector<double> bounds = {}, std::size_t max_series = 10'000)
      : FamilyBase(std::move(name), std::move(help), std::move(label_names), type, max_series),
        bounds_(std::move(bounds)) {}

  /// The series for these label values (created on first use; the overflow series once the
  /// family is full). See the lifetime rules at the top of this header.
  SeriesRef<M> with(const std::vector<std::string>& label_values) { return SeriesRef<M>(handle(label_values)); }
  /// The series of a family without labels (valid until clear()).
  M& get() { return *handle({}); }
  /// Shared ownership of the series: stays valid after the series is removed.
  std::shared_ptr<M> handle(const std::vector<std::string>& label_values) {
    std::lock_guard lock(mutex_);
    auto it = series_.find(label_values);
    if (it != series_.end()) return it->second;
    if (series_.size() >= max_series_ && !label_values.empty()) {
      if (!overflow_) overflow_ = make();
      return overflow_;
    }
    return series_.emplace(label_values, make()).first->second;
  }

  /// Drops every series (e.g. before re-publishing per-service gauges). Invalidates references.
  void clear() {
    std::lock_guard lock(mutex_);
    series_.clear();
    overflow_.reset();
  }

  void render(std::string& out) const override;
  std::size_t remove_series(std::string_view label, const LabelValues& values) override;
  void add_activity(std::string_view label, std::map<std::string, double, std::less<>>& out) const override;
  std::size_t series_count() const override {
    std::lock_guard lock(mutex_);
    return series_.size() + (overflow_ ? 1 : 0);
  }

 private:
  void render_one(std::string& out, const std::vector<std::string>& values, const M& m) const;

  std::unique_ptr<M> make() const {
    if constexpr (std::is_same_v<M, Histogram>) {
      return std::make_unique<M>(bounds_);
    } else {
      return std::make_unique<M>();
    }
  }

  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::shared_ptr<M>> series_;
  std::shared_ptr<M> overflow_;  // null until the family first overflows
};

struct MetricsOptions {
  /// Series per family before new label sets share the overflow series.
  std::size_t max_series_per_family = 10'000;
};

/// Owns metric families and renders them in the Prometheus text exposition format (0.0.4).
/// Creating a family with a name already in use returns the existing one.
class MetricsRegistry;

/// Keeps a collector registered; destroying (or reset()) removes it, waiting for a run in progress,
/// so what the collector reads may be destroyed right after. Move-only. Must not outlive the registry.
class CollectorHandle {
 public:
  CollectorHandle() = default;
  CollectorHandle(CollectorHandle&& other) noexcept { *this = std::move(other); }
  CollectorHandle& operator=(CollectorHandle&& other) noexcept;
  CollectorHandle(const CollectorHandle&) = delete;
  CollectorHandle& operator=(const CollectorHandle&) = delete;
  ~CollectorHandle() { reset(); }
  void reset();
  explicit operator bool() const { return registry_ != nullptr; }

 private:
  friend class MetricsRegistry;
  using Entry = std::list<std::function<void()>>::iterator;
  CollectorHandle(MetricsRegistry* registry, Entry entry) : registry_(registry), entry_(entry) {}
  MetricsRegistry* registry_ = nullptr;
  Entry entry_{};
};

/// Adds to `counter` what `total` (a monotonic figure kept elsewhere) grew by since the previous
/// call with the same `last` (the figure's last seen value), so several sources may share a series.
inline void advance_counter(Counter& counter, std::uint64_t total, std::uint64_t& last) noexcept {
  if (total > last) counter.inc(total - last);
  last = total;
}

class MetricsRegistry {
 public:
  explicit MetricsRegistry(MetricsOptions options = {}) : options_(options) {}
  MetricsRegistry(const MetricsRegistry&) = delete;
  MetricsRegistry& operator=(const MetricsRegistry&) = delete;

  /// Runs `collect` at the start of every render_prometheus() until the handle goes. Collectors
  /// run one at a time, in the order added; `collect` may create and update series but must not
  /// render, add or remove collectors.
  [[nodiscard]] CollectorHandle add_collector(std::function<void()> collect);

  Family<Counter>& counter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help, std::vector<std::string> labels = {},
                               std::vector<double> bounds = default_latency_buckets());

  std::string render_prometheus() const;

  /// Removes, in every family, the series whose label `label` reads one of `values` (e.g. every
  /// series of services that are gone) and bumps generation() when any was removed. One call is
  /// one removal pass (see the lifetime rules above). Returns how many were removed.
  std::size_t remove_series(std::string_view label, const LabelValues& values);
  /// Per value of `label` across all families: an activity figure (see FamilyBase::add_activity).
  std::map<std::string, double, std::less<>> label_activity(std::string_view label) const;
  /// Moves whenever remove_series() removed something: holders of handles look them up again.
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_acquire); }
  std::size_t series_count() const;

 private:
  template <class M>
  Family<M>& add(const std::string& name, const std::string& help, std::vector<std::string> labels, MetricType type,
                 std::vector<double> bounds);

  friend class CollectorHandle;

  const MetricsOptions options_;
  mutable std::mutex collectors_mutex_;  // held while collectors run and while one is removed
  mutable std::list<std::function<void()>> collectors_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
  std::atomic<std::uint64_t> generation_{0};
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

}  // namespace svckit
