// NacosConfigApi: the config part of Nacos's Open API (v1) over svckitd's config store, so that a
// Nacos config client (Java, Go, Python, the npm `nacos`) reads, publishes and listens to configs
// kept in svckitd — versioned, with history and rollback like every other change of the store, and
// replicated in cluster mode.
//
//   GET    /nacos/v1/cs/configs?dataId=&group=&tenant=   the content (text), 404 when not set
//   POST   /nacos/v1/cs/configs  dataId, group, content, tenant      publish: "true"
//   DELETE /nacos/v1/cs/configs?dataId=&group=&tenant=   remove: "true"
//   POST   /nacos/v1/cs/configs/listener  Listening-Configs=dataId^2group^2md5[^2tenant]^1...
//          long poll (header Long-Pulling-Timeout, ms): answers at once with the configs whose MD5
//          differs from the client's, else when one changes or the time runs out (empty answer)
//
// A config lives in the store's document at nacos -> <tenant, "public" by default> -> <group> ->
// <dataId>, a string: `GET /v1/config` shows it, and `/v1/config/rollback` takes it back. Under
// ACLs, reading needs `key:read` on `nacos`, publishing and removing `key:write` on `nacos`.
//
// Thread-safety: routes are added before serving; handlers are thread-safe.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include "daemon/config_api.hpp"
#include "daemon/config_store.hpp"
#include "daemon/watch_slots.hpp"
#include "svckit/http/router.hpp"

namespace svckit::daemon {

class NacosConfigApi {
 public:
  /// Every argument must outlive the API. `max_wait`: the longest a listener is held.
  NacosConfigApi(ConfigStore& store, ConfigApi& writer, WatchSlots& watches, std::chrono::milliseconds max_wait)
      : store_(store), writer_(writer), watches_(watches), max_wait_(max_wait) {}

  void add_routes(http::Router& router);

 private:
  http::Awaitable<http::Response> get(http::RouteContext& ctx);
  http::Awaitable<http::Response> publish(http::RouteContext& ctx);
  http::Awaitable<http::Response> remove(http::RouteContext& ctx);
  http::Awaitable<http::Response> listen(http::RouteContext& ctx);

  ConfigStore& store_;
  ConfigApi& writer_;
  WatchSlots& watches_;
  const std::chrono::milliseconds max_wait_;
};

}  // namespace svckit::daemon
