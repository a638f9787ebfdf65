// Router: maps "METHOD /v1/services/{service}/instances/{id}" patterns to handlers.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "svckit/http/types.hpp"
#include "svckit/http/url.hpp"

namespace svckit::http {

using PathParams = std::map<std::string, std::string>;

struct RouteContext {
  Request& request;
  Target target;                               // decoded path and query
  PathParams params;                           // {name} segments
  const std::string& route;                    // the pattern that matched, e.g. "/v1/services/{service}" (for metrics)
  const RequestContext* connection = nullptr;  // who sent it; null when dispatched without one
  /// Set by the router's guard (Router::set_guard) for the handler: who the caller is, in the
  /// guard's own type (svckitd: its ACL principal). Null without a guard.
  std::shared_ptr<const void> principal;

  /// The connection's close token (RequestContext::watch_close), or null when there is none.
  std::shared_ptr<CancelToken> client_gone() const {
    return connection != nullptr && connection->watch_close ? connection->watch_close() : nullptr;
  }
  /// The peer's address, empty when unknown.
  std::string peer() const { return connection != nullptr ? connection->remote_address : std::string(); }
};

using RouteHandler = std::function<Awaitable<Response>(RouteContext&)>;
/// Runs after a route matched and before its handler: an answer refuses the request (the handler
/// does not run); nullopt lets it through. It may set RouteContext::principal.
using RouteGuard = std::function<std::optional<Response>(RouteContext&)>;

/// Immutable after set-up: add() routes before serving; dispatch() is then thread-safe.
class Router {
 public:
  void add(Verb method, std::string pattern, RouteHandler handler);
  /// Set-up only: one guard for every route (authorization). Replaces any earlier guard.
  void set_guard(RouteGuard guard) { guard_ = std::move(guard); }
  /// Every route added, as (method, pattern) — for checks that each one is covered by a policy.
  std::vector<std::pair<Verb, std::string>> routes() const;

  /// Calls the matching handler. No matching path: 404; path matches but not the method: 405 with
  /// Allow; undecodable target: 400. All errors have JSON bodies. `route` receives the pattern
  /// matched (or "unmatched") for metrics.
  /// `connection` (optional) reaches the handler as RouteContext::connection.
  Awaitable<Response> dispatch(Request& request, std::string& route, const RequestContext* connection = nullptr) const;

 private:
  struct Route {
    Verb method;
    std::string pattern;
    std::vector<std::string> segments;
    RouteHandler handler;
  };
  static bool match(const Route& route, const std::vector<std::string>& segments, PathParams& params);

  std::vector<Route> routes_;
  RouteGuard guard_;
};

}  // namespace svckit::http
