// AclApi: token management over HTTP, on Consul's paths and field names so Consul's clients and
// CLI habits carry over:
//   PUT    /v1/acl/token               create: {"Description", "Rules", "SecretID"?, "ServiceIdentities"?}
//   GET    /v1/acl/tokens              list (never secrets)
//   GET    /v1/acl/token/self          the caller's own token
//   GET    /v1/acl/token/{accessor}    one token
//   DELETE /v1/acl/token/{accessor}    revoke: at once, long polls included
// Differences from Consul: rules live on the token (no named policies), and a SecretID is shown
// only in the answer that created it (only its SHA-256 digest is kept).
#pragma once

#include "daemon/acl_replica.hpp"
#include "daemon/acl_tokens.hpp"
#include "svckit/http/router.hpp"

namespace svckit::daemon {

/// Thread-safe (the store is). `tokens` must outlive it.
class AclApi {
 public:
  explicit AclApi(AclTokenStore& tokens) : tokens_(tokens) {}
  void add_routes(http::Router& router);
  /// Cluster mode: creations and revocations are stored in etcd through `replica` (null: in the
  /// store itself). Set-up only.
  void set_replica(AclReplica* replica) { replica_ = replica; }

  /// A token-creation body → description, rules and optional secret. Errors name the field.
  struct Request {
    std::string description;
    AclRules rules;
    std::string secret;
  };
  static Result<Request> parse_create(const nlohmann::json& body);

 private:
  http::Awaitable<http::Response> create(http::RouteContext& ctx);
  http::Awaitable<http::Response> list(http::RouteContext& ctx);
  http::Awaitable<http::Response> self(http::RouteContext& ctx);
  http::Awaitable<http::Response> read(http::RouteContext& ctx);
  http::Awaitable<http::Response> revoke(http::RouteContext& ctx);

  AclTokenStore& tokens_;
  AclReplica* replica_ = nullptr;
};

}  // namespace svckit::daemon
