#include "svckit/core/metrics.hpp"

#include <utility>

#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace svckit {
namespace {

void add_double(std::atomic<double>& target, double d) noexcept {
  double old = target.load(std::memory_order_relaxed);
  while (!target.compare_exchange_weak(old, old + d, std::memory_order_relaxed)) {
  }
}

std::string format_number(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  for (int precision : {15, 17}) {  // shortest form that reads back exactly
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

std::string escape_label(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

void Gauge::add(double d) noexcept { add_double(value_, d); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::observe(double v) noexcept {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  count_.fetch_add(1, std::memory_order_relaxed);
  add_double(sum_, v);
}

std::vector<double> default_latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

std::string FamilyBase::header() const {
  const char* type = type_ == MetricType::counter ? "counter" : type_ == MetricType::gauge ? "gauge" : "histogram";
  return "# HELP " + name_ + " " + help_ + "\n# TYPE " + name_ + " " + type + "\n";
}

std::string FamilyBase::labels(const std::vector<std::string>& values, const std::string& extra) const {
  if (values.empty() && extra.empty()) return {};
  std::string out = "{";
  for (std::size_t i = 0; i < values.size() && i < label_names_.size(); ++i) {
    if (i > 0) out += ',';
    out += label_names_[i] + "=\"" + escape_label(values[i]) + "\"";
  }
  if (!extra.empty()) {
    if (!values.empty()) out += ',';
    out += extra;
  }
  out += '}';
  return out;
}

int FamilyBase::label_index(std::string_view label) const {
  for (std::size_t i = 0; i < label_names_.size(); ++i) {
    if (label_names_[i] == label) return static_cast<int>(i);
  }
  return -1;
}

template <class M>
void Family<M>::render_one(std::string& out, const std::vector<std::string>& values, const M& m) const {
  if constexpr (std::is_same_v<M, Counter>) {
    out += name_ + labels(values) + " " + std::to_string(m.value()) + "\n";
  } else if constexpr (std::is_same_v<M, Gauge>) {
    out += name_ + labels(values) + " " + format_number(m.value()) + "\n";
  } else {
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= m.bounds().size(); ++i) {
      cumulative += m.bucket_count(i);
      const double le = i < m.bounds().size() ? m.bounds()[i] : INFINITY;
      out += name_ + "_bucket" + labels(values, "le=\"" + format_number(le) + "\"") + " " + std::to_string(cumulative) +
             "\n";
    }
    out += name_ + "_sum" + labels(values) + " " + format_number(m.sum()) + "\n";
    out += name_ + "_count" + labels(values) + " " + std::to_string(m.count()) + "\n";
  }
}

template <class M>
void Family<M>::render(std::string& out) const {
  std::lock_guard lock(mutex_);
  out += header();
  for (const auto& [values, m] : series_) render_one(out, values, *m);
  if (overflow_) render_one(out, std::vector<std::string>(label_names_.size(), kOverflowLabelValue), *overflow_);
}

template <class M>
std::size_t Family<M>::remove_series(std::string_view label, const LabelValues& values) {
  const int index = label_index(label);
  if (index < 0) return 0;
  std::lock_guard lock(mutex_);
  std::size_t removed = 0;
  for (auto it = series_.begin(); it != series_.end();) {
    if (values.count(it->first[static_cast<std::size_t>(index)]) > 0) {
      it = series_.erase(it);
      ++removed;
    } else {
      ++it;
    }
  }
  if (overflow_ && values.count(kOverflowLabelValue) > 0) {
    overflow_.reset();
    ++removed;
  }
  return removed;
}

template <class M>
void Family<M>::add_activity(std::string_view label, std::map<std::string, double, std::less<>>& out) const {
  const int index = label_index(label);
  if (index < 0) return;
  std::lock_guard lock(mutex_);
  for (const auto& [values, m] : series_) {
    double figure = 0;
    if constexpr (std::is_same_v<M, Histogram>) {
      figure = static_cast<double>(m->count());
    } else {
      figure = static_cast<double>(m->value());
    }
    out[values[static_cast<std::size_t>(index)]] += figure;
  }
  if (overflow_) {
    if constexpr (std::is_same_v<M, Histogram>) {
      out[kOverflowLabelValue] += static_cast<double>(overflow_->count());
    } else {
      out[kOverflowLabelValue] += static_cast<double>(overflow_->value());
    }
  }
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <class M>
Family<M>& MetricsRegistry::add(const std::string& name, const std::string& help, std::vector<std::string> labels,
                                MetricType type, std::vector<double> bounds) {
  std::lock_guard lock(mutex_);
  for (auto& f : families_) {
    if (f->name() == name) return dynamic_cast<Family<M>&>(*f);
  }
  auto family = std::make_unique<Family<M>>(name, help, std::move(labels), type, std::move(bounds),
                                            options_.max_series_per_family);
  auto& ref = *family;
  families_.push_back(std::move(family));
  return ref;
}

Family<Counter>& MetricsRegistry::counter(const std::string& name, const std::string& help,
                                          std::vector<std::string> labels) {
  return add<Counter>(name, help, std::move(labels), MetricType::counter, {});
}
Family<Gauge>& MetricsRegistry::gauge(const std::string& name, const std::string& help,
                                      std::vector<std::string> labels) {
  return add<Gauge>(name, help, std::move(labels), MetricType::gauge, {});
}
Family<Histogram>& MetricsRegistry::histogram(const std::string& name, const std::string& help,
                                              std::vector<std::string> labels, std::vector<double> bounds) {
  return add<Histogram>(name, help, std::move(labels), MetricType::histogram, std::move(bounds));
}

CollectorHandle& CollectorHandle::operator=(CollectorHandle&& other) noexcept {
  if (this != &other) {
    reset();
    registry_ = std::exchange(other.registry_, nullptr);
    entry_ = other.entry_;
  }
  return *this;
}

void CollectorHandle::reset() {
  if (registry_ == nullptr) return;
  std::lock_guard lock(registry_->collectors_mutex_);
  registry_->collectors_.erase(entry_);
  registry_ = nullptr;
}

CollectorHandle MetricsRegistry::add_collector(std::function<void()> collect) {
  std::lock_guard lock(collectors_mutex_);
  collectors_.push_back(std::move(collect));
  return CollectorHandle(this, std::prev(collectors_.end()));
}

std::string MetricsRegistry::render_prometheus() const {
  {
    std::lock_guard collecting(collectors_mutex_);
    for (const auto& collect : collectors_) collect();
  }
  std::lock_guard lock(mutex_);
  std::string out;
  for (const auto& f : families_) f->render(out);
  return out;
}

std::size_t MetricsRegistry::remove_series(std::string_view label, const LabelValues& values) {
  std::lock_guard lock(mutex_);
  std::size_t removed = 0;
  for (const auto& f : families_) removed += f->remove_series(label, values);
  if (removed > 0) generation_.fetch_add(1, std::memory_order_acq_rel);
  return removed;
}

std::map<std::string, double, std::less<>> MetricsRegistry::label_activity(std::string_view label) const {
  std::lock_guard lock(mutex_);
  std::map<std::string, double, std::less<>> out;
  for (const auto& f : families_) f->add_activity(label, out);
  return out;
}

std::size_t MetricsRegistry::series_count() const {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (const auto& f : families_) n += f->series_count();
  return n;
}

}  // namespace svckit
