// JWT verification (HS256, RS256, ES256; JWKS and PEM keys) and the gateway's access check
// (JWT and API-key routes, claims forwarded, rate limits per client), with keys made here by
// OpenSSL and a simulated clock.
#include <gtest/gtest.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <fstream>

#include "daemon/acl_tokens.hpp"
#include "daemon/gateway_access.hpp"
#include "daemon/jwt.hpp"
#include "svckit/testing/process.hpp"
#include "svckit/testing/simulated_clock.hpp"

namespace svckit::daemon {
namespace {

using nlohmann::json;

std::shared_ptr<evp_pkey_st> keygen(const char* type) {
  EVP_PKEY* key = std::string(type) == "RSA" ? EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", std::size_t{2048})
                                             : EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  return {key, EVP_PKEY_free};
}

std::string sign(EVP_PKEY* key, std::string_view data, bool ecdsa) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t len = 0;
  EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key);
  EVP_DigestSign(ctx, nullptr, &len, reinterpret_cast<const unsigned char*>(data.data()), data.size());
  std::string sig(len, '\0');
  EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(sig.data()), &len,
                 reinterpret_cast<const unsigned char*>(data.data()), data.size());
  sig.resize(len);
  EVP_MD_CTX_free(ctx);
  if (!ecdsa) return sig;
  const auto* der = reinterpret_cast<const unsigned char*>(sig.data());
  ECDSA_SIG* parsed = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(sig.size()));
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(parsed), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(parsed), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  ECDSA_SIG_free(parsed);
  return raw;
}

std::string hmac(const std::string& secret, std::string_view data) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  std::size_t len = 0;
  EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, secret.data(), secret.size(),
            reinterpret_cast<const unsigned char*>(data.data()), data.size(), mac, sizeof mac, &len);
  return std::string(reinterpret_cast<char*>(mac), len);
}

/// A compact JWS. `key` null: HS256 with `secret`.
std::string token(const json& header, const json& claims, EVP_PKEY* key, const std::string& secret = {}) {
  const auto signed_part = base64url_encode(header.dump()) + "." + base64url_encode(claims.dump());
  const auto alg = header.value("alg", "");
  const auto sig = alg == "HS256" ? hmac(secret, signed_part) : sign(key, signed_part, alg == "ES256");
  return signed_part + "." + base64url_encode(sig);
}

std::string pem_of(EVP_PKEY* key) {
  BIO* bio = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(bio, key);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  std::string out(data, static_cast<std::size_t>(len));
  BIO_free(bio);
  return out;
}

std::string bn_param(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  EVP_PKEY_get_bn_param(key, name, &bn);
  std::string out(static_cast<std::size_t>(BN_num_bytes(bn)), '\0');
  BN_bn2bin(bn, reinterpret_cast<unsigned char*>(out.data()));
  BN_free(bn);
  return out;
}

json jwk_of(EVP_PKEY* key, const std::string& kid) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    return json{{"kty", "RSA"},
                {"kid", kid},
                {"use", "sig"},
                {"n", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_N))},
                {"e", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_E))}};
  }
  unsigned char point[65];
  std::size_t len = 0;
  EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point, &len);
  const std::string raw(reinterpret_cast<char*>(point), len);
  return json{{"kty", "EC"},
              {"kid", kid},
              {"crv", "P-256"},
              {"x", base64url_encode(raw.substr(1, 32))},
              {"y", base64url_encode(raw.substr(33, 32))}};
}

class Jwt : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(dir.path() / "jwks.json") << json{{"keys", {jwk_of(rsa.get(), "r1"), jwk_of(ec.get(), "e1")}}}.dump();
    std::ofstream(dir.path() / "rsa.pem") << pem_of(rsa.get());
    std::ofstream(dir.path() / "secret") << secret << "\n";
    auto jwks = load_jwt_keys(dir.path() / "jwks.json", "jwt_keys_file");
    ASSERT_TRUE(jwks) << jwks.error().describe();
    keys = *jwks;
    checks.issuer = "https://auth.example";
    checks.audience = "orders";
  }
  json claims(std::int64_t exp_in = 300) const {
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(clock.system_now().time_since_epoch()).count();
    return json{
        {"sub", "alice"}, {"iss", "https://auth.example"}, {"aud", {"orders", "billing"}}, {"exp", now + exp_in}};
  }
  Result<json> verify(const std::string& t) const { return verify_jwt(t, keys, checks, clock.system_now()); }

  testing::TempDir dir;
  testing::SimulatedClock clock;
  std::shared_ptr<evp_pkey_st> rsa = keygen("RSA");
  std::shared_ptr<evp_pkey_st> ec = keygen("EC");
  std::shared_ptr<evp_pkey_st> stranger = keygen("RSA");
  std::string secret = "an-hs256-secret-of-at-least-32-bytes!!";
  std::vector<JwtKey> keys;
  JwtChecks checks;
};

TEST_F(Jwt, ValidRs256AndEs256TokensVerifyAgainstAJwks) {
  auto r = verify(token({{"alg", "RS256"}, {"kid", "r1"}}, claims(), rsa.get()));
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ((*r)["sub"], "alice");
  auto e = verify(token({{"alg", "ES256"}, {"kid", "e1"}}, claims(), ec.get()));
  ASSERT_TRUE(e) << e.error().describe();
  auto no_kid = verify(token({{"alg", "ES256"}}, claims(), ec.get()));
  EXPECT_TRUE(no_kid) << "without a kid every key of the algorithm is tried";
}

TEST_F(Jwt, PemKeysAndHmacSecretsLoad) {
  auto pem = load_jwt_keys(dir.path() / "rsa.pem", "jwt_keys_file");
  ASSERT_TRUE(pem) << pem.error().describe();
  EXPECT_TRUE(verify_jwt(token({{"alg", "RS256"}}, claims(), rsa.get()), *pem, checks, clock.system_now()));
  auto hs = load_jwt_secret(dir.path() / "secret", "jwt_secret_file");
  ASSERT_TRUE(hs) << hs.error().describe();
  EXPECT_TRUE(verify_jwt(token({{"alg", "HS256"}}, claims(), nullptr, secret), *hs, checks, clock.system_now()));
  std::ofstream(dir.path() / "short") << "too short";
  EXPECT_EQ(load_jwt_secret(dir.path() / "short", "jwt_secret_file").error().field, "jwt_secret_file");
  std::ofstream(dir.path() / "junk") << "{\"keys\": [{\"kty\": \"oct\", \"k\": \"abc\"}]}";
  EXPECT_EQ(load_jwt_keys(dir.path() / "junk", "f").error().field, "f");
}

TEST_F(Jwt, ExpiredEarlyWrongAudienceOrIssuerAreRefused) {
  clock.advance(std::chrono::seconds(0));
  EXPECT_FALSE(verify(token({{"alg", "RS256"}}, claims(-120), rsa.get()))) << "expired past the leeway";
  EXPECT_TRUE(verify(token({{"alg", "RS256"}}, claims(-30), rsa.get()))) << "expired within the 60 s leeway";
  auto early = claims();
  early["nbf"] = early["exp"];
  EXPECT_FALSE(verify(token({{"alg", "RS256"}}, early, rsa.get()))) << "not valid yet";
  auto other_aud = claims();
  other_aud["aud"] = "billing";
  EXPECT_FALSE(verify(token({{"alg", "RS256"}}, other_aud, rsa.get())));
  auto other_iss = claims();
  other_iss["iss"] = "https://evil.example";
  EXPECT_FALSE(verify(token({{"alg", "RS256"}}, other_iss, rsa.get())));
  auto no_exp = claims();
  no_exp.erase("exp");
  EXPECT_FALSE(verify(token({{"alg", "RS256"}}, no_exp, rsa.get())));
}

TEST_F(Jwt, WrongKeysAlgNoneAlgorithmConfusionAndTamperingAreRefused) {
  EXPECT_FALSE(verify(token({{"alg", "RS256"}}, claims(), stranger.get()))) << "signed by another key";
  const auto none = base64url_encode(R"({"alg":"none"})") + "." + base64url_encode(claims().dump()) + ".";
  auto refused = verify(none);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::unauthenticated);
  // HS256 "signed" with the RSA public key's PEM as the secret: the classic confusion attack.
  auto keys_with_pem = *load_jwt_keys(dir.path() / "rsa.pem", "f");
  EXPECT_FALSE(verify_jwt(token({{"alg", "HS256"}}, claims(), nullptr, pem_of(rsa.get())), keys_with_pem, checks,
                          clock.system_now()));
  auto good = token({{"alg", "RS256"}}, claims(), rsa.get());
  auto tampered_claims = claims();
  tampered_claims["sub"] = "mallory";
  const auto first = good.find('.');
  const auto second = good.find('.', first + 1);
  const auto tampered = good.substr(0, first + 1) + base64url_encode(tampered_claims.dump()) + good.substr(second);
  EXPECT_FALSE(verify(tampered));
  EXPECT_FALSE(verify("a.b"));
  EXPECT_FALSE(verify("###.###.###"));
  EXPECT_FALSE(verify(std::string(20000, 'a')));
  EXPECT_FALSE(verify(token({{"alg", "ES256"}, {"kid", "r1"}}, claims(), ec.get()))) << "a kid naming another key";
}

TEST_F(Jwt, TheGatewayAdmitsVerifiedCallsForwardsClaimsAndLimitsEachClient) {
  GatewayRoute route;
  route.service = "orders";
  auto auth = std::make_shared<RouteAuth>();
  auth->kind = RouteAuth::Kind::jwt;
  auth->jwt_keys = keys;
  auth->jwt_checks = checks;
  auth->forward_claims = {{"sub", "X-User-Id"}};
  route.auth = auth;
  route.limit = RouteLimit{1, 2, "claim:sub", 100};
  PeerRateLimiter limiter(PeerRateLimits{1, 2, 100}, clock);

  http::RequestHead head;
  AccessGrant grant;
  auto missing = check_access(route, &limiter, head, "10.0.0.1", clock.system_now(), grant);
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->result_int(), 401);
  EXPECT_EQ(missing->at(http::beast_http::field::www_authenticate), "Bearer realm=\"svckit-gateway\"");

  head.set(http::beast_http::field::authorization, "Bearer " + token({{"alg", "RS256"}}, claims(), rsa.get()));
  head.set("X-User-Id", "forged");
  for (int i = 0; i < 2; ++i) {
    grant = AccessGrant{};
    EXPECT_FALSE(check_access(route, &limiter, head, "10.0.0.1", clock.system_now(), grant)) << i;
  }
  ASSERT_EQ(grant.add_headers.size(), 1u);
  EXPECT_EQ(grant.add_headers[0], (std::pair<std::string, std::string>{"X-User-Id", "alice"}));
  EXPECT_NE(std::find(grant.drop_headers.begin(), grant.drop_headers.end(), "X-User-Id"), grant.drop_headers.end());
  EXPECT_NE(std::find(grant.drop_headers.begin(), grant.drop_headers.end(), "Authorization"), grant.drop_headers.end());
  auto over = check_access(route, &limiter, head, "10.0.0.9", clock.system_now(), grant);
  ASSERT_TRUE(over) << "the bucket is alice's, whatever address she calls from";
  EXPECT_EQ(over->result_int(), 429);
  EXPECT_EQ(over->at(http::beast_http::field::retry_after), "1");
  EXPECT_EQ(over->at("RateLimit-Limit"), "2");
  EXPECT_EQ(over->at("RateLimit-Remaining"), "0");
  auto bob = claims();
  bob["sub"] = "bob";
  head.set(http::beast_http::field::authorization, "Bearer " + token({{"alg", "RS256"}}, bob, rsa.get()));
  EXPECT_FALSE(check_access(route, &limiter, head, "10.0.0.1", clock.system_now(), grant)) << "bob is unaffected";
  clock.advance(std::chrono::seconds(1));
  head.set(http::beast_http::field::authorization, "Bearer " + token({{"alg", "RS256"}}, claims(), rsa.get()));
  EXPECT_FALSE(check_access(route, &limiter, head, "10.0.0.1", clock.system_now(), grant)) << "a second later";

  head.set(http::beast_http::field::authorization, "Bearer " + token({{"alg", "RS256"}}, claims(-3600), rsa.get()));
  auto expired = check_access(route, &limiter, head, "10.0.0.1", clock.system_now(), grant);
  ASSERT_TRUE(expired);
  EXPECT_EQ(expired->result_int(), 401);
  EXPECT_NE(std::string(expired->at(http::beast_http::field::www_authenticate)).find("invalid_token"),
            std::string::npos);
}

TEST_F(Jwt, AVerifiedTokenIsRememberedOnlyUntilItExpiresAndOnlyForTheKeysThatVerifiedIt) {
  const auto route_with = [&](std::vector<JwtKey> route_keys, std::uint64_t id) {
    GatewayRoute route;
    route.service = "orders";
    auto auth = std::make_shared<RouteAuth>();
    auth->kind = RouteAuth::Kind::jwt;
    auth->jwt_keys = std::move(route_keys);
    auth->jwt_checks = checks;
    auth->id = id;
    route.auth = auth;
    return route;
  };
  const auto before = route_with(keys, 1001);
  http::RequestHead head;
  head.set(http::beast_http::field::authorization, "Bearer " + token({{"alg", "RS256"}}, claims(120), rsa.get()));
  AccessGrant grant;
  EXPECT_FALSE(check_access(before, nullptr, head, "p", clock.system_now(), grant));
  EXPECT_FALSE(check_access(before, nullptr, head, "p", clock.system_now(), grant)) << "again, from the cache";
  // The keys were rotated (a reload makes a new RouteAuth): the same token must verify again.
  const auto after = route_with(*load_jwt_secret(dir.path() / "secret", "f"), 1002);
  auto rotated = check_access(after, nullptr, head, "p", clock.system_now(), grant);
  ASSERT_TRUE(rotated);
  EXPECT_EQ(rotated->result_int(), 401);
  // The remembered token still expires.
  clock.advance(std::chrono::seconds(120 + 61));
  auto expired = check_access(before, nullptr, head, "p", clock.system_now(), grant);
  ASSERT_TRUE(expired) << "a cached token past exp + leeway";
  EXPECT_EQ(expired->result_int(), 401);
}

TEST(GatewayGrant, UpstreamHeadersLoseCredentialsAndForgedClaimsAndGainVerifiedOnes) {
  http::beast_http::fields fields;
  fields.insert("authorization", "Bearer x");
  fields.insert("x-user-id", "mallory");
  fields.insert("Accept", "*/*");
  fields.insert("X-USER-ID", "again");
  AccessGrant grant;
  grant.drop_headers = {"Authorization", "X-User-Id"};
  grant.add_headers = {{"X-User-Id", "alice"}};
  apply_grant(fields, grant);
  std::vector<std::pair<std::string, std::string>> got;
  for (const auto& f : fields) got.emplace_back(std::string(f.name_string()), std::string(f.value()));
  const std::vector<std::pair<std::string, std::string>> want{{"Accept", "*/*"}, {"X-User-Id", "alice"}};
  EXPECT_EQ(got, want);
}

TEST_F(Jwt, ApiKeyRoutesKnowTheirKeysByDigest) {
  GatewayRoute route;
  route.service = "reports";
  auto auth = std::make_shared<RouteAuth>();
  auth->kind = RouteAuth::Kind::api_key;
  auth->api_key_names[AclTokenStore::digest("key-of-the-reporting-job")] = "reporting-job";
  route.auth = auth;
  http::RequestHead head;
  AccessGrant grant;
  EXPECT_EQ(check_access(route, nullptr, head, "p", clock.system_now(), grant)->result_int(), 401);
  head.set("X-Api-Key", "key-of-someone-else-entirely");
  EXPECT_EQ(check_access(route, nullptr, head, "p", clock.system_now(), grant)->result_int(), 401);
  head.set("X-Api-Key", "key-of-the-reporting-job");
  EXPECT_FALSE(check_access(route, nullptr, head, "p", clock.system_now(), grant));
  EXPECT_EQ(grant.identity, "reporting-job");
  EXPECT_NE(std::find(grant.drop_headers.begin(), grant.drop_headers.end(), "X-Api-Key"), grant.drop_headers.end());
}

}  // namespace
}  // namespace svckit::daemon
