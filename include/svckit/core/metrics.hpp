// Prometheus-style metrics: counters, gauges and histograms grouped in labelled families.
//
// Thread-safety: every type here is thread-safe. Updating an existing series is lock-free
// (atomics); `Family::with()` takes a mutex only to find or create the series, so hot paths
// should look a series up once and keep the reference (references stay valid for the life
// of the registry, until `Family::clear()`).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
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

class FamilyBase {
 public:
  FamilyBase(std::string name, std::string help, std::vector<std::string> label_names, MetricType type)
      : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)), type_(type) {}
  virtual ~FamilyBase() = default;
  virtual void render(std::string& out) const = 0;
  const std::string& name() const { return name_; }

 protected:
  std::string header() const;
  std::string labels(const std::vector<std::string>& values, const std::string& extra = {}) const;

  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
  MetricType type_;
};

/// All series of one metric name. REQUIRES: with() gets exactly label_names.size() values.
template <class M>
class Family final : public FamilyBase {
 public:
  Family(std::string name, std::string help, std::vector<std::string> label_names, MetricType type,
         std::vector<double> bounds = {})
      : FamilyBase(std::move(name), std::move(help), std::move(label_names), type), bounds_(std::move(bounds)) {}

  M& with(const std::vector<std::string>& label_values) {
    std::lock_guard lock(mutex_);
    auto it = series_.find(label_values);
    if (it == series_.end()) it = series_.emplace(label_values, make()).first;
    return *it->second;
  }
  M& get() { return with({}); }

  /// Drops every series (e.g. before re-publishing per-service gauges). Invalidates references.
  void clear() {
    std::lock_guard lock(mutex_);
    series_.clear();
  }

  void render(std::string& out) const override;

 private:
  std::unique_ptr<M> make() const {
    if constexpr (std::is_same_v<M, Histogram>) {
      return std::make_unique<M>(bounds_);
    } else {
      return std::make_unique<M>();
    }
  }

  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::map<std::vector<std::string>, std::unique_ptr<M>> series_;
};

/// Owns metric families and renders them in the Prometheus text exposition format (0.0.4).
/// Creating a family with a name already in use returns the existing one.
class MetricsRegistry {
 public:
  Family<Counter>& counter(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family<Gauge>& gauge(const std::string& name, const std::string& help, std::vector<std::string> labels = {});
  Family<Histogram>& histogram(const std::string& name, const std::string& help, std::vector<std::string> labels = {},
                               std::vector<double> bounds = default_latency_buckets());

  std::string render_prometheus() const;

 private:
  template <class M>
  Family<M>& add(const std::string& name, const std::string& help, std::vector<std::string> labels, MetricType type,
                 std::vector<double> bounds);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<FamilyBase>> families_;
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

}  // namespace svckit
