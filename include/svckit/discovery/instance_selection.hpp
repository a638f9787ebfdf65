// Picking one instance of a service for a caller that wants a URL, not a balanced call
// (DiscoveryClient::get_service / service_url, and the free functions in default_discovery.hpp).
// Calls through ServiceClient use the balancer plugins instead (least_request, maglev, ...).
//
//   weighted     nginx's smooth weighted round robin: over any run of picks each healthy instance
//                gets its share of the weights, spread evenly (weights 5,1,1 -> a a b a c a a);
//                equal weights are plain round robin. The default.
//   round_robin  every healthy instance in turn, weights ignored.
//   random       weighted random from the injected Random.
//
// Only healthy instances with a weight above 0 are picked. Thread-safe (one mutex for the
// weighted state; the others take none).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/core/random.hpp"
#include "svckit/core/result.hpp"
#include "svckit/core/service_instance.hpp"

namespace svckit {

enum class InstanceSelection { weighted, round_robin, random };
std::string_view to_string(InstanceSelection selection) noexcept;
/// "weighted", "round_robin" or "random"; errors name `field`.
Result<InstanceSelection> parse_instance_selection(std::string_view text, const std::string& field = "selection");

class InstanceSelector {
 public:
  /// `random` must outlive the selector and be thread-safe when picks come from several threads.
  InstanceSelector(InstanceSelection selection, Random& random) : selection_(selection), random_(random) {}

  /// One of `instances` (all of `service`) chosen by the selection; nullptr when none is healthy
  /// with a weight above 0.
  const ServiceInstance* pick(const std::string& service, const std::vector<ServiceInstance>& instances);

 private:
  const InstanceSelection selection_;
  Random& random_;
  std::atomic<std::uint64_t> turn_{0};
  std::mutex mutex_;
  std::map<std::string, std::map<std::string, std::int64_t>, std::less<>> current_;  // service -> id -> weight
};

}  // namespace svckit
