// AclGuard: svckitd's authorization, installed as the router's guard when acl.enabled. Every
// route has a rule in one table (acl_guard.cpp); a route without one is refused (fail closed, and
// AclGuard::uncovered() lets a test prove there is none). The guard resolves the caller's token —
// `Authorization: Bearer <secret>`, `X-Svckit-Token`, `X-Consul-Token` or `?token=` — to an
// AclPrincipal (no token: the anonymous policy) and either refuses the request or hands the
// principal to the handler (RouteContext::principal), which filters lists and checks what only it
// can name (the service in a registration body, the service behind a Consul ID).
//
// Statuses: 401 (unauthenticated, with WWW-Authenticate) for a missing, unknown or revoked token
// the request needed; 403 (permission_denied) for a valid token that lacks the access. A resource
// the caller may not read is refused the same way whether it exists or not.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "daemon/acl_tokens.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/http/router.hpp"

namespace svckit::daemon {

/// Thread-safe once constructed. `tokens` and `metrics` must outlive it.
class AclGuard {
 public:
  AclGuard(AclTokenStore& tokens, AclRules anonymous, MetricsRegistry& metrics);

  /// The router guard (Router::set_guard).
  std::optional<http::Response> operator()(http::RouteContext& ctx) const;

  /// The token's accessor for the audit log: "anonymous" without a token, "unknown" for a secret
  /// no token has. Never the secret.
  std::string accessor_of(const http::Request& request) const;

  /// "METHOD /pattern" of every route of `router` the rule table does not cover.
  static std::vector<std::string> uncovered(const http::Router& router);

  /// The secret a request presents (first of Authorization: Bearer, X-Svckit-Token,
  /// X-Consul-Token, ?token=, ?accessToken=, and on Nacos's paths a `password` parameter), empty
  /// when none.
  static std::string presented_secret(const http::Request& request);

 private:
  std::shared_ptr<const AclPrincipal> principal_for(const http::Request& request, bool& unknown) const;

  AclTokenStore& tokens_;
  std::shared_ptr<const AclPrincipal> anonymous_;
  Family<Counter>& refusals_;
};

// ---- For handlers. Each takes the RouteContext the guard saw; without a principal (ACLs off)
// ---- everything is allowed.

const AclPrincipal* acl_principal(const http::RouteContext& ctx);
bool may_access_service(const http::RouteContext& ctx, const std::string& service, Access need);
/// nullopt when allowed; otherwise the 401/403 answer naming the permission.
std::optional<http::Response> require_service(const http::RouteContext& ctx, const std::string& service, Access need);
/// For resources found by an ID that names no service (Consul's service and check IDs), with
/// `service` the one found (null: none). A service the caller may not read is answered as if the
/// ID were unknown — `not_found` (401 instead for a caller without a token that may not read every
/// service) — so IDs probe nothing; one it may read but lacks `need` on gets 403.
std::optional<http::Response> require_found_service(const http::RouteContext& ctx, const std::string* service,
                                                    Access need, const Error& not_found);
bool may_access_key(const http::RouteContext& ctx, const std::string& key, Access need);
/// nullopt when allowed; otherwise the 401/403 answer naming the permission.
std::optional<http::Response> require_key(const http::RouteContext& ctx, const std::string& key, Access need);
/// The configuration document as the caller may read it: keys it may not read are left out.
nlohmann::json visible_config(const http::RouteContext& ctx, const nlohmann::json& tree, const std::string& prefix);
/// A cancel token for a long poll: cancelled when the client goes away or its token is revoked.
std::shared_ptr<CancelToken> long_poll_cancel(const http::RouteContext& ctx);
/// After a long poll: 401 when the caller's token was revoked meanwhile.
std::optional<http::Response> refuse_if_revoked(const http::RouteContext& ctx);

}  // namespace svckit::daemon
