// SharedRoutes: the gateway routes every svckitd node of a cluster serves, kept in etcd (cluster
// mode) and set over the API (`PUT /v1/gateway/routes`) — one key under the cluster's prefix P:
//
//   P/gateway/routes  {"routes": [{"prefix": "/orders", "service": "order-service", ...}, ...],
//                      "updated_at": "<RFC 3339>", "reason": "..."}
//
// The routes have the fields of the config file's gateway.routes (docs/gateway.md) and are checked
// the same way before they are stored: a bad entry is refused naming it (`routes[1].service`),
// nothing stored. Each node follows the key with one etcd watch and hands every new version to
// `on_change`, which puts the shared routes after the node's own file routes. A write is answered
// once this node applies it. A node that cannot parse a stored version (a key file a route names
// is missing on it) keeps the routes it had and logs the error.
//
// Thread-safety: write() and current() from any thread; follow() runs as one coroutine.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <atomic>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "daemon/gateway_routes.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/core/wait_list.hpp"
#include "svckit/etcd/etcd_client.hpp"
#include "svckit/etcd/prefix_follower.hpp"

namespace svckit::daemon {

/// Checks a JSON array of routes (the config file's fields). Errors name the entry and field
/// ("routes[1].service").
Result<std::vector<GatewayRoute>> parse_json_routes(const nlohmann::json& routes);

class SharedRoutes {
 public:
  using OnChange = std::function<void(std::vector<GatewayRoute> routes)>;
  /// `etcd` must outlive this object.
  SharedRoutes(etcd::EtcdClient& etcd, const std::string& prefix, const TimeSource& time, OnChange on_change);

  /// Reads the stored routes (before the node serves). Errors: etcd unreachable.
  http::Awaitable<Result<void>> load();
  /// Follows the key until stop(), reconnecting after failures.
  http::Awaitable<void> follow() { co_await follower_.run(revision_.load()); }
  void stop();
  void reopen() { follower_.reopen(); }
  void reload() { follower_.reload(); }

  /// Checks and stores `routes` (a JSON array) as the cluster's routes; answers with the etcd
  /// revision once this node applied it. Errors: invalid routes (field named), etcd's (503).
  http::Awaitable<Result<std::uint64_t>> write(nlohmann::json routes, std::string reason);
  /// The stored document ({"routes": [], ...} when none) and the revision it was written at (0: never).
  std::pair<nlohmann::json, std::uint64_t> current() const;

 private:
  void apply(const nlohmann::json& kv, bool deleted, std::int64_t revision);

  etcd::EtcdClient& etcd_;
  const std::string key_;  // P/gateway/routes
  const TimeSource& time_;
  OnChange on_change_;
  mutable std::mutex mutex_;
  nlohmann::json document_ = {{"routes", nlohmann::json::array()}};  // guarded by mutex_
  std::uint64_t written_at_ = 0;                                     // guarded by mutex_
  std::atomic<std::int64_t> revision_{0};                            // the last etcd revision applied
  std::atomic<bool> stopped_{false};
  WaitList applied_;  // woken after every change applied
  AsioSleeper sleeper_;
  etcd::PrefixFollower follower_;
};

}  // namespace svckit::daemon
