// JWT (RFC 7519) verification for the gateway: compact JWS tokens signed with HS256, RS256 or
// ES256 (RFC 7518), checked against keys from a JWKS document (RFC 7517), PEM public keys or an
// HMAC secret. Signatures are OpenSSL's; this file only frames them. `alg: none` and every other
// algorithm are refused, and a key is used only with its own algorithm (no RS256 key as an HMAC
// secret).
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"

struct evp_pkey_st;

namespace svckit::daemon {

/// One verification key. Immutable; thread-safe to share.
struct JwtKey {
  std::string kid;                          // empty: matches any token's kid
  std::string alg;                          // "HS256", "RS256" or "ES256"
  std::shared_ptr<evp_pkey_st> public_key;  // RS256 / ES256
  std::string secret;                       // HS256. Never logged.
};

/// Keys from a file: a JWKS document ({"keys": [...]} with kty RSA or EC P-256) or one or more PEM
/// public keys (RSA → RS256, EC P-256 → ES256). Errors name `field`.
Result<std::vector<JwtKey>> load_jwt_keys(const std::filesystem::path& file, const std::string& field);
/// The HS256 key whose secret is the file's content (trailing newlines dropped; at least 32 bytes).
Result<std::vector<JwtKey>> load_jwt_secret(const std::filesystem::path& file, const std::string& field);

struct JwtChecks {
  std::string issuer;               // required `iss` when set
  std::string audience;             // required in `aud` (a string or an array) when set
  std::chrono::seconds leeway{60};  // clock skew allowed for exp and nbf
  bool require_exp = true;
};

/// The token's claims if its signature verifies with one of `keys` and its claims pass `checks`
/// at `now`; otherwise an unauthenticated error saying why (never echoing the token).
Result<nlohmann::json> verify_jwt(std::string_view token, const std::vector<JwtKey>& keys, const JwtChecks& checks,
                                  SystemTime now);

/// base64url without padding (RFC 4648 §5), as JWS uses it; nullopt-like error on bad input.
Result<std::string> base64url_decode(std::string_view text);
std::string base64url_encode(std::string_view bytes);

}  // namespace svckit::daemon
