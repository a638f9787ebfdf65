// ConsulHealthCache: the text of /v1/health/service answers, built from per-instance pieces kept
// between answers. A Consul health entry is a function of the instance, the agent's node and the
// answer's index (its CreateIndex/ModifyIndex); building it as a nlohmann::json DOM and printing it
// cost ~20 µs per instance, which made a blocking query on a 2,000-instance service cost tens of
// milliseconds on every change. The cache keeps each instance's entry printed with a placeholder
// index and where the index stands in it (found by printing it twice, with two placeholders that
// differ in their last digit, so text in the instance's own data is never mistaken for it), reuses
// it while the instance is unchanged, and splices the answer's index in. "Unchanged" is told by the
// instance's JSON record in the registry (RegistryStore keeps one per instance and makes it anew on
// every change): one text comparison while the registry is visited, and no copy of an unchanged
// instance.
//
// Thread-safety: thread-safe. The entries of a service are an immutable snapshot, swapped under one
// mutex; lookups and builds happen outside it.
#pragma once

#include <cstdint>
#include <functional>
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

  /// One instance as the registry holds it: the instance and its JSON record.
  using Visit = std::function<void(const ServiceInstance& instance, const std::string& record)>;
  /// Calls its argument for each instance of the answer (in the registry's id order, as
  /// MemoryRegistry::for_each does, under the registry's lock: what it is given is read at once).
  using ForEach = std::function<void(const Visit&)>;

  /// The JSON array of the instances `for_each` visits, as health entries at `index` — byte for
  /// byte what nlohmann::json(array of consul::health_entry(in, node, index)).dump() prints.
  /// `complete`: the instances are all of `service` (no filter), so entries of others are dropped.
  std::string answer(const std::string& service, const ForEach& for_each, std::uint64_t index, bool complete);

 private:
  struct Piece {
    std::string id;
    std::string record;           // the instance's JSON record it was built from
    std::string text;             // the entry printed at kPlaceholder
    std::vector<std::size_t> at;  // where the index starts in it
  };
  using Pieces = std::vector<std::shared_ptr<const Piece>>;                     // sorted by id
  static constexpr std::uint64_t kPlaceholder = 18'446'744'073'709'551'557ULL;  // 20 digits: never an index
  static constexpr std::uint64_t kPlaceholderToo = kPlaceholder - 1;            // differs in the last digit
  std::shared_ptr<const Piece> build(const ServiceInstance& instance, std::string record) const;

  consul::Node node_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<const Pieces>> pieces_;  // service -> its entries; guarded
  std::size_t count_ = 0;                                        // pieces held; guarded by mutex_
};

}  // namespace svckit::daemon
