#include "daemon/gateway_access.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "daemon/acl_tokens.hpp"
#include "daemon/ascii.hpp"
#include "daemon/gateway_internal.hpp"

namespace svckit::daemon {

namespace {

http::Response unauthorized(const GatewayRoute& route, const std::string& message, bool jwt) {
  auto response = gateway_error(http::Status::unauthorized, "unauthenticated", message, route.service);
  // RFC 6750: a bare challenge when no credential came, error="invalid_token" for a bad one.
  std::string challenge = jwt ? "Bearer realm=\"svckit-gateway\"" : "ApiKey realm=\"svckit-gateway\"";
  if (jwt && message != "no token") challenge += ", error=\"invalid_token\"";
  response.set(http::beast_http::field::www_authenticate, challenge);
  return response;
}

std::string claim_text(const nlohmann::json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

/// What a verified token grants on a route, kept per I/O thread so that a client sending the same
/// token again (the usual case: one token until it expires) costs a lookup, not a signature check
/// and two JSON parses (Envoy's jwt_authn keeps such a cache too). Keyed by the exact token text:
/// a different byte is a different token. exp and nbf are checked again on every use.
struct VerifiedToken {
  std::uint64_t auth_id = 0;
  double exp = 0;
  double nbf = 0;
  std::vector<std::pair<std::string, std::string>> add_headers;
  std::string identity;
  std::string limit_client;  // the rate-limit key when limited by a claim
};

double claim_time(const nlohmann::json& claims, const char* name, double fallback) {
  return claims.contains(name) && claims[name].is_number() ? claims[name].get<double>() : fallback;
}

/// The grant for a bearer token on `route`: from the cache when still valid, else verified.
Result<const VerifiedToken*> verified(const GatewayRoute& route, const RouteAuth& auth, std::string_view token,
                                      SystemTime now) {
  thread_local std::unordered_map<std::string, VerifiedToken> cache;
  const double seconds = std::chrono::duration<double>(now.time_since_epoch()).count();
  const auto leeway = static_cast<double>(auth.jwt_checks.leeway.count());
  if (auto it = cache.find(std::string(token)); it != cache.end()) {
    const auto& t = it->second;
    if (t.auth_id == auth.id && seconds < t.exp + leeway && seconds + leeway >= t.nbf) return &t;
    cache.erase(it);  // expired, not yet valid, or verified under keys that were reloaded since
  }
  auto claims = verify_jwt(token, auth.jwt_keys, auth.jwt_checks, now);
  if (!claims) return claims.error();
  VerifiedToken t;
  t.auth_id = auth.id;
  t.exp = claim_time(*claims, "exp", std::numeric_limits<double>::infinity());
  t.nbf = claim_time(*claims, "nbf", -std::numeric_limits<double>::infinity());
  for (const auto& [claim, name] : auth.forward_claims) {
    if (claims->contains(claim)) t.add_headers.emplace_back(name, claim_text((*claims)[claim]));
  }
  t.identity = claims->contains("sub") ? claim_text((*claims)["sub"]) : std::string();
  if (route.limit.by.starts_with("claim:")) {
    const auto name = route.limit.by.substr(6);
    if (claims->contains(name)) t.limit_client = "claim:" + claim_text((*claims)[name]);
  }
  if (cache.size() >= 4096) cache.clear();  // bounded: tokens come from the network
  return &cache.insert_or_assign(std::string(token), std::move(t)).first->second;
}

}  // namespace

std::optional<http::Response> check_access(const GatewayRoute& route, PeerRateLimiter* limiter,
                                           const http::RequestHead& head, const std::string& peer, SystemTime now,
                                           AccessGrant& grant) {
  std::string client = peer;
  if (const auto* auth = route.auth.get()) {
    for (const auto& [claim, header] : auth->forward_claims) grant.drop_headers.push_back(header);
    if (auth->kind == RouteAuth::Kind::jwt) {
      const std::string_view header = head[http::beast_http::field::authorization];
      if (header.size() < 7 || ascii_lower(header.substr(0, 7)) != "bearer ")
        return unauthorized(route, "no token", true);
      auto token = verified(route, *auth, header.substr(7), now);
      if (!token) return unauthorized(route, token.error().message, true);
      grant.add_headers = (*token)->add_headers;
      grant.identity = (*token)->identity;
      if (!auth->forward_credentials) grant.drop_headers.emplace_back("Authorization");
      if (route.limit.by.starts_with("claim:")) {
        client = (*token)->limit_client.empty() ? "claim-missing:" + peer : (*token)->limit_client;
      }
    } else if (auth->kind == RouteAuth::Kind::api_key) {
      const std::string_view key = head[auth->api_key_header];
      if (key.empty()) return unauthorized(route, "no API key (" + auth->api_key_header + ")", false);
      const auto found = auth->api_key_names.find(AclTokenStore::digest(key));
      if (found == auth->api_key_names.end()) return unauthorized(route, "unknown API key", false);
      grant.identity = found->second;
      if (!auth->forward_credentials) grant.drop_headers.push_back(auth->api_key_header);
      if (route.limit.by == "api_key") client = "key:" + found->second;
    }
  }
  if (limiter != nullptr) {
    if (const auto wait = limiter->admit(client)) {
      auto response = gateway_error(
          http::Status::too_many_requests, "rate_limited",
          "over this route's rate of " + std::to_string(route.limit.per_second) + " requests/s per client; retry later",
          route.service);
      const auto seconds = std::max<std::int64_t>(1, (wait->count() + 999) / 1000);
      response.set(http::beast_http::field::retry_after, std::to_string(seconds));
      // draft-ietf-httpapi-ratelimit-headers: the quota, what is left of it, when it refills.
      response.set("RateLimit-Limit", std::to_string(static_cast<std::int64_t>(limiter->burst())));
      response.set("RateLimit-Remaining", "0");
      response.set("RateLimit-Reset", std::to_string(seconds));
      return response;
    }
  }
  return std::nullopt;
}

void apply_grant(http::beast_http::fields& fields, const AccessGrant& grant) {
  for (const auto& dropped : grant.drop_headers) fields.erase(dropped);  // every field of that name, any case
  for (const auto& [name, value] : grant.add_headers) fields.insert(name, value);
}

}  // namespace svckit::daemon
