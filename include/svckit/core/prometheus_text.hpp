// Reading Prometheus's text exposition format (version 0.0.4, what every /metrics endpoint
// serves and what MetricsRegistry::render_prometheus() writes): the samples, and the quantiles of
// histograms the way PromQL's histogram_quantile() computes them. Used by `svckit metrics` and
// by tests that read a process's /metrics.
//
//   auto samples = parse_prometheus_text(body);          // errors name the line
//   auto p99 = histogram_quantile(0.99, buckets_of(*samples, "svckit_gateway_request_duration_seconds",
//                                                  {{"service", "product-service"}}));
//
// Pure functions; no state.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "svckit/core/result.hpp"

namespace svckit {

struct MetricSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // in the order written, escapes undone
  double value = 0;

  /// The label's value; "" when the sample has no such label.
  std::string_view label(std::string_view key) const noexcept;
};

/// Every sample of the text, in order. `# HELP` / `# TYPE` / other comments and blank lines are
/// skipped; a sample's optional timestamp is accepted and dropped. Values may be floats, `+Inf`,
/// `-Inf` or `NaN`. Errors (invalid_argument) name the line: field "line N" and what was expected
/// there. At most `max_samples` samples are read (invalid_argument past it).
Result<std::vector<MetricSample>> parse_prometheus_text(std::string_view text, std::size_t max_samples = 1'000'000);

/// The `<name>_bucket` samples whose labels include every pair of `match` (other labels, such as
/// `le`, may vary), summed per upper bound and sorted by it: (le, cumulative count). Samples
/// with an `le` that is not a number are skipped.
std::vector<std::pair<double, double>> buckets_of(const std::vector<MetricSample>& samples, std::string_view name,
                                                  const std::vector<std::pair<std::string, std::string>>& match);

/// The q-quantile (0..1) of cumulative buckets, interpolated linearly inside the bucket it falls
/// in, as PromQL's histogram_quantile(): nullopt for no observations or q outside 0..1; a quantile
/// in the +Inf bucket is the highest finite bound.
std::optional<double> histogram_quantile(double q, const std::vector<std::pair<double, double>>& buckets);

}  // namespace svckit
