// Expiry of per-service metric series: the series of a service that is gone are removed once
// nothing has updated them for a while, so /metrics does not keep every service that ever existed
// (2,000 services registered and deregistered used to leave 6.8 MB of series behind for good).
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "svckit/core/metrics.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit::daemon {

/// Removes the series labelled service="X" of every service X that (a) is not live — no registered
/// instance — and (b) whose series did not change for `after` (traffic through the gateway to a
/// service routed by URL keeps its series). "_unknown" (requests refused before a service was
/// known) never expires. Not thread-safe: call sweep() from one strand.
class MetricExpiry {
 public:
  /// `after` = 0: never expire.
  MetricExpiry(MetricsRegistry& metrics, const TimeSource& time, std::chrono::nanoseconds after)
      : metrics_(metrics), time_(time), after_(after) {}

  /// `live`: the services that exist now. Returns the services whose series were removed.
  std::vector<std::string> sweep(const LabelValues& live);

 private:
  struct Idle {
    double activity;   // the activity figure when first seen idle, or when it last changed
    SteadyTime since;  // when that was
  };

  MetricsRegistry& metrics_;
  const TimeSource& time_;
  const std::chrono::nanoseconds after_;
  std::map<std::string, Idle, std::less<>> idle_;  // services that are not live, with series
};

}  // namespace svckit::daemon
