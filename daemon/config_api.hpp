// svckitd's config API over a ConfigStore:
//   GET    /v1/config                     the document; ETag "<version>" (If-None-Match -> 304);
//                                         ?index=N&wait=30s waits for a version above N (watch)
//   PUT    /v1/config                     replaces the document (a JSON object)
//   GET    /v1/config/keys/{key}          {"key","value","version"}
//   PUT    /v1/config/keys/{key}          body = the JSON value; -> {"version"}
//   DELETE /v1/config/keys/{key}          -> {"version"}
//   GET    /v1/config/history             {"versions":[{"version","applied_at","reason"}]}
//   GET    /v1/config/history/{version}   {"version","applied_at","reason","document"}
//   POST   /v1/config/rollback/{version}  the old document as a new version -> {"version"}
// Errors are JSON bodies naming the field (key, body, version, index, wait).
#pragma once

#include <functional>

#include <chrono>

#include "daemon/config_store.hpp"
#include "daemon/watch_slots.hpp"
#include "svckit/http/router.hpp"

namespace svckit::daemon {

/// Thread-safe once its routes are added (the store is).
class ConfigApi {
 public:
  /// `watches` admits the long-poll watches (?index=); it must outlive the API.
  ConfigApi(ConfigStore& store, WatchSlots& watches, std::chrono::milliseconds default_wait,
            std::chrono::milliseconds max_wait)
      : store_(store), watches_(watches), default_wait_(default_wait), max_wait_(max_wait) {}
  void add_routes(http::Router& router);
  /// A change against the store's current version (ConfigStore::draft_*), made again on a retry.
  using Drafter = std::function<Result<ConfigStore::Draft>()>;
  /// Where a change goes and its new version: by default committed to the store here; cluster mode
  /// stores it in etcd (config_replica.hpp), and the store follows.
  using Writer = std::function<http::Awaitable<Result<std::uint64_t>>(Drafter)>;
  /// Set-up only.
  void set_writer(Writer writer) { writer_ = std::move(writer); }
  /// Applies a change through the writer (or here): its new version. For other APIs over the
  /// same store (Nacos's config API).
  http::Awaitable<Result<std::uint64_t>> write(Drafter drafter);

 private:
  http::Awaitable<http::Response> get_document(http::RouteContext& ctx);
  http::Awaitable<http::Response> replace_document(http::RouteContext& ctx);
  http::Awaitable<http::Response> get_key(http::RouteContext& ctx);
  http::Awaitable<http::Response> put_key(http::RouteContext& ctx);
  http::Awaitable<http::Response> delete_key(http::RouteContext& ctx);
  http::Awaitable<http::Response> history(http::RouteContext& ctx);
  http::Awaitable<http::Response> history_version(http::RouteContext& ctx);
  http::Awaitable<http::Response> rollback(http::RouteContext& ctx);

  ConfigStore& store_;
  WatchSlots& watches_;
  std::chrono::milliseconds default_wait_;
  std::chrono::milliseconds max_wait_;
  Writer writer_;  // empty: commit here
};

}  // namespace svckit::daemon
