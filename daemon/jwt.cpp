#include "daemon/jwt.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include <array>
#include <fstream>
#include <iterator>
#include <sstream>

#include "svckit/core/instance_json.hpp"

namespace svckit::daemon {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxToken = 16 * 1024;

Error unauthenticated(const std::string& why) { return make_error(ErrorCode::unauthenticated, why, "Authorization"); }
Error bad_file(const std::string& field, const std::string& why) {
  return make_error(ErrorCode::invalid_argument, why, field);
}

std::shared_ptr<evp_pkey_st> own(EVP_PKEY* key) { return {key, EVP_PKEY_free}; }

Result<std::string> read_text(const std::filesystem::path& file, const std::string& field) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return bad_file(field, "cannot read " + file.string());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (text.size() > (1 << 20)) return bad_file(field, file.string() + " is larger than 1 MiB");
  return text;
}

/// A public key's JWS algorithm: RSA (2048 bits or more) → RS256, EC P-256 → ES256.
Result<std::string> algorithm_of(EVP_PKEY* key, const std::string& field) {
  if (EVP_PKEY_is_a(key, "RSA")) {
    if (EVP_PKEY_get_bits(key) < 2048) return bad_file(field, "an RSA key shorter than 2048 bits");
    return std::string("RS256");
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    std::array<char, 64> group{};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(), &len) != 1 ||
        std::string_view(group.data(), len) != "prime256v1") {
      return bad_file(field, "an EC key on a curve other than P-256");
    }
    return std::string("ES256");
  }
  return bad_file(field, "a key that is neither RSA nor EC P-256");
}

struct BuiltParams {
  OSSL_PARAM_BLD* builder = OSSL_PARAM_BLD_new();
  OSSL_PARAM* params = nullptr;
  std::vector<BIGNUM*> numbers;
  ~BuiltParams() {
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(builder);
    for (auto* n : numbers) BN_free(n);
  }
};

Result<std::shared_ptr<evp_pkey_st>> key_from_params(const char* type, BuiltParams& built, const std::string& field) {
  built.params = OSSL_PARAM_BLD_to_param(built.builder);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr);
  EVP_PKEY* key = nullptr;
  const bool ok = ctx != nullptr && built.params != nullptr && EVP_PKEY_fromdata_init(ctx) == 1 &&
                  EVP_PKEY_fromdata(ctx, &key, EVP_PKEY_PUBLIC_KEY, built.params) == 1;
  EVP_PKEY_CTX_free(ctx);
  if (!ok) return bad_file(field, std::string("a ") + type + " key in the JWKS that OpenSSL does not accept");
  return own(key);
}

Result<std::string> jwk_bytes(const json& jwk, const char* name, const std::string& field) {
  if (!jwk.contains(name) || !jwk[name].is_string()) {
    return bad_file(field, std::string("a JWK without its \"") + name + "\"");
  }
  auto bytes = base64url_decode(jwk[name].get<std::string>());
  if (!bytes) return bad_file(field, std::string("a JWK whose \"") + name + "\" is not base64url");
  return bytes;
}

Result<JwtKey> key_from_jwk(const json& jwk, const std::string& field) {
  if (!jwk.is_object() || !jwk.contains("kty") || !jwk["kty"].is_string()) return bad_file(field, "a JWK without kty");
  const auto kty = jwk["kty"].get<std::string>();
  JwtKey out;
  out.kid = jwk.value("kid", "");
  BuiltParams built;
  if (kty == "RSA") {
    auto n = jwk_bytes(jwk, "n", field);
    if (!n) return n.error();
    auto e = jwk_bytes(jwk, "e", field);
    if (!e) return e.error();
    for (const auto* part : {&*n, &*e}) {
      built.numbers.push_back(
          BN_bin2bn(reinterpret_cast<const unsigned char*>(part->data()), static_cast<int>(part->size()), nullptr));
    }
    OSSL_PARAM_BLD_push_BN(built.builder, OSSL_PKEY_PARAM_RSA_N, built.numbers[0]);
    OSSL_PARAM_BLD_push_BN(built.builder, OSSL_PKEY_PARAM_RSA_E, built.numbers[1]);
    auto key = key_from_params("RSA", built, field);
    if (!key) return key.error();
    out.public_key = std::move(*key);
  } else if (kty == "EC") {
    if (jwk.value("crv", "") != "P-256") return bad_file(field, "an EC JWK on a curve other than P-256");
    auto x = jwk_bytes(jwk, "x", field);
    if (!x) return x.error();
    auto y = jwk_bytes(jwk, "y", field);
    if (!y) return y.error();
    if (x->size() != 32 || y->size() != 32) return bad_file(field, "an EC P-256 JWK whose x or y is not 32 bytes");
    std::string point = "\x04" + *x + *y;  // uncompressed point
    OSSL_PARAM_BLD_push_utf8_string(built.builder, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
    OSSL_PARAM_BLD_push_octet_string(built.builder, OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
    auto key = key_from_params("EC", built, field);
    if (!key) return key.error();
    out.public_key = std::move(*key);
  } else {
    return bad_file(field, "a JWK of kty '" + kty + "' (RSA and EC keys are supported)");
  }
  auto alg = algorithm_of(out.public_key.get(), field);
  if (!alg) return alg.error();
  if (jwk.contains("alg") && jwk["alg"] != *alg) return bad_file(field, "a JWK whose alg does not fit its key");
  out.alg = *alg;
  return out;
}

bool verify_signature(const JwtKey& key, std::string_view signed_part, const std::string& signature) {
  if (key.alg == "HS256") {
    std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
    std::size_t len = 0;
    if (EVP_Q_mac(nullptr, "HMAC", nullptr, "SHA256", nullptr, key.secret.data(), key.secret.size(),
                  reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size(), mac.data(),
                  mac.size(), &len) == nullptr) {
      return false;
    }
    return len == signature.size() && CRYPTO_memcmp(mac.data(), signature.data(), len) == 0;
  }
  std::string der;
  const std::string* sig = &signature;
  if (key.alg == "ES256") {  // JWS carries r || s; OpenSSL verifies DER
    if (signature.size() != 64) return false;
    ECDSA_SIG* ecdsa = ECDSA_SIG_new();
    BIGNUM* r = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()), 32, nullptr);
    BIGNUM* s = BN_bin2bn(reinterpret_cast<const unsigned char*>(signature.data()) + 32, 32, nullptr);
    ECDSA_SIG_set0(ecdsa, r, s);
    unsigned char* out = nullptr;
    const int len = i2d_ECDSA_SIG(ecdsa, &out);
    if (len > 0) der.assign(reinterpret_cast<char*>(out), static_cast<std::size_t>(len));
    OPENSSL_free(out);
    ECDSA_SIG_free(ecdsa);
    if (der.empty()) return false;
    sig = &der;
  }
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr &&
                  EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key.public_key.get()) == 1 &&
                  EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                                   reinterpret_cast<const unsigned char*>(signed_part.data()), signed_part.size()) == 1;
  EVP_MD_CTX_free(ctx);
  return ok;
}

Result<json> decode_part(std::string_view part, const char* what) {
  auto bytes = base64url_decode(part);
  if (!bytes) return unauthenticated(std::string("the token's ") + what + " is not base64url");
  auto doc = parse_json(*bytes, 16);
  if (!doc || !doc->is_object()) return unauthenticated(std::string("the token's ") + what + " is not a JSON object");
  return doc;
}

}  // namespace

Result<std::string> base64url_decode(std::string_view text) {
  static constexpr auto kTable = [] {
    std::array<int, 256> t{};
    t.fill(-1);
    const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    for (int i = 0; i < 64; ++i) t[static_cast<unsigned char>(alphabet[i])] = i;
    return t;
  }();
  if (text.size() % 4 == 1) return unauthenticated("bad base64url length");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned value = 0;
  int bits = 0;
  for (const char c : text) {
    const int v = kTable[static_cast<unsigned char>(c)];
    if (v < 0) return unauthenticated("bad base64url character");
    value = (value << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((value >> bits) & 0xff);
    }
  }
  if (bits > 0 && (value & ((1u << bits) - 1)) != 0) return unauthenticated("non-canonical base64url");
  return out;
}

std::string base64url_encode(std::string_view bytes) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned value = 0;
  int bits = 0;
  for (const char c : bytes) {
    value = (value << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(value >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kAlphabet[(value << (6 - bits)) & 0x3f];
  return out;
}

Result<std::vector<JwtKey>> load_jwt_keys(const std::filesystem::path& file, const std::string& field) {
  auto text = read_text(file, field);
  if (!text) return text.error();
  std::vector<JwtKey> keys;
  if (text->find("-----BEGIN") != std::string::npos) {
    BIO* bio = BIO_new_mem_buf(text->data(), static_cast<int>(text->size()));
    while (EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr)) {
      JwtKey k;
      k.public_key = own(key);
      auto alg = algorithm_of(key, field);
      if (!alg) {
        BIO_free(bio);
        return alg.error();
      }
      k.alg = *alg;
      keys.push_back(std::move(k));
    }
    BIO_free(bio);
    ERR_clear_error();  // the read that ended the loop left "no start line" on this thread's queue
  } else {
    auto doc = parse_json(*text);
    if (!doc || !doc->is_object() || !(*doc)["keys"].is_array()) {
      return bad_file(field, file.string() + " is neither PEM public keys nor a JWKS document ({\"keys\": [...]})");
    }
    for (const auto& jwk : (*doc)["keys"]) {
      if (jwk.value("use", "sig") != "sig") continue;  // encryption keys are not for signatures
      auto key = key_from_jwk(jwk, field);
      if (!key) return key.error();
      keys.push_back(std::move(*key));
    }
  }
  if (keys.empty()) return bad_file(field, file.string() + " holds no usable public key");
  return keys;
}

Result<std::vector<JwtKey>> load_jwt_secret(const std::filesystem::path& file, const std::string& field) {
  auto text = read_text(file, field);
  if (!text) return text.error();
  while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
  if (text->size() < 32) return bad_file(field, "an HS256 secret must be at least 32 bytes (RFC 7518 §3.2)");
  JwtKey key;
  key.alg = "HS256";
  key.secret = std::move(*text);
  return std::vector<JwtKey>{std::move(key)};
}

Result<json> verify_jwt(std::string_view token, const std::vector<JwtKey>& keys, const JwtChecks& checks,
                        SystemTime now) {
  if (token.empty()) return unauthenticated("no token");
  if (token.size() > kMaxToken) return unauthenticated("the token is longer than 16 KiB");
  const auto first = token.find('.');
  const auto second = first == std::string_view::npos ? first : token.find('.', first + 1);
  if (second == std::string_view::npos || token.find('.', second + 1) != std::string_view::npos) {
    return unauthenticated("not a JWT (header.payload.signature)");
  }
  auto header = decode_part(token.substr(0, first), "header");
  if (!header) return header.error();
  const auto alg = header->value("alg", std::string());
  if (alg != "HS256" && alg != "RS256" && alg != "ES256") {
    return unauthenticated("the token's algorithm '" + alg.substr(0, 16) + "' is not accepted");
  }
  const auto kid = header->contains("kid") && (*header)["kid"].is_string() ? (*header)["kid"].get<std::string>() : "";
  auto signature = base64url_decode(token.substr(second + 1));
  if (!signature) return unauthenticated("the token's signature is not base64url");
  const auto signed_part = token.substr(0, second);
  bool verified = false;
  for (const auto& key : keys) {
    if (key.alg != alg || (!kid.empty() && !key.kid.empty() && key.kid != kid)) continue;
    if (verify_signature(key, signed_part, *signature)) {
      verified = true;
      break;
    }
  }
  if (!verified) return unauthenticated("the token's signature does not verify with any configured key");
  auto claims = decode_part(token.substr(first + 1, second - first - 1), "payload");
  if (!claims) return claims.error();
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  const auto leeway = checks.leeway.count();
  if (claims->contains("exp")) {
    if (!(*claims)["exp"].is_number()) return unauthenticated("exp is not a number");
    if (seconds >= (*claims)["exp"].get<double>() + static_cast<double>(leeway)) {
      return unauthenticated("the token has expired");
    }
  } else if (checks.require_exp) {
    return unauthenticated("the token has no exp");
  }
  if (claims->contains("nbf")) {
    if (!(*claims)["nbf"].is_number()) return unauthenticated("nbf is not a number");
    if (static_cast<double>(seconds + leeway) < (*claims)["nbf"].get<double>()) {
      return unauthenticated("the token is not valid yet (nbf)");
    }
  }
  if (!checks.issuer.empty() && claims->value("iss", json()) != json(checks.issuer)) {
    return unauthenticated("the token's issuer is not the one expected");
  }
  if (!checks.audience.empty()) {
    const auto& aud = (*claims)["aud"];
    bool found = aud.is_string() && aud.get<std::string>() == checks.audience;
    if (aud.is_array()) {
      for (const auto& a : aud) found = found || (a.is_string() && a.get<std::string>() == checks.audience);
    }
    if (!found) return unauthenticated("the token is not meant for this audience");
  }
  return claims;
}

}  // namespace svckit::daemon
