// ConsulHealthCache: the text of /v1/health/service answers, built from per-instance pieces kept
// between answers. A Consul health entry is a function of the instance, the agent's node and the
// answer's index (its CreateIndex/ModifyIndex); building it as a nlohmann::json DOM and printing it
// cost ~20 µs per instance, which made a blocking query on a 2,000-instance service cost tens of
// milliseconds on every change. The cache keeps each instance's entry printed with a placeholder
// index and where the index stands in it (found by printing it twice, with two placeholders that
// differ in their last digit, so text in the instance's own data is never mistaken for it), reuses
// it while the instance is unchanged (one ServiceInstance comparison), and splices the answer's
// index in.
//
// Thread-safety: thread-safe (one mutex; entries are built outside it).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "svckit/core/service_instance.hpp"
#include "svckit/registry/consul_json.hpp"

namespace svckit::daemon {

class ConsulHealthCache {
 public:
  explicit ConsulHealthCache(consul::Node node) : node_(std::move(node)) {}

  /// The JSON array of `instances`' health entries at `index` — byte for byte what
  /// nlohmann::json(array of consul::health_entry(in, node, index)).dump() prints. `complete`: the
  /// instances are all of `service` (no filter), so entries of others are dropped.
  std::string answer(const std::string& service, const std::vector<ServiceInstance>& instances, std::uint64_t index,
                     bool complete);

 private:
  struct Piece {
    ServiceInstance instance;
    std::string text;             // the entry printed at kPlaceholder
    std::vector<std::size_t> at;  // where the index starts in it
  };
  static constexpr std::uint64_t kPlaceholder = 18'446'744'073'709'551'557ULL;  // 20 digits: never an index
  static constexpr std::uint64_t kPlaceholderToo = kPlaceholder - 1;            // differs in the last digit
  std::shared_ptr<const Piece> build(const ServiceInstance& instance) const;

  consul::Node node_;
  std::mutex mutex_;
  std::map<std::string, std::map<std::string, std::shared_ptr<const Piece>>> pieces_;  // service -> id; guarded
  std::size_t count_ = 0;                                                              // pieces held; guarded by mutex_
};

}  // namespace svckit::daemon
