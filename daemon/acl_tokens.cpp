#include "daemon/acl_tokens.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <random>
#include <sstream>

#include "daemon/persister.hpp"
#include "svckit/core/instance_json.hpp"

namespace svckit::daemon {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxTokens = 100'000;
constexpr std::size_t kMaxSecret = 256;
constexpr std::size_t kMaxDescription = 1024;

Error acl_error(ErrorCode code, std::string message, std::string field = "acl") {
  return make_error(code, std::move(message), std::move(field));
}

bool grants_acl_write(const AclTokenInfo& t) { return t.rules.acl() == Access::write; }

}  // namespace

void Revocation::attach(const std::shared_ptr<CancelToken>& token) {
  {
    std::lock_guard lock(mutex_);
    if (!revoked_) {
      std::erase_if(waiting_, [](const auto& w) { return w.expired(); });
      waiting_.push_back(token);
      return;
    }
  }
  token->cancel();
}

void Revocation::revoke() {
  std::vector<std::weak_ptr<CancelToken>> waiting;
  {
    std::lock_guard lock(mutex_);
    revoked_ = true;
    waiting.swap(waiting_);
  }
  for (auto& w : waiting) {
    if (auto t = w.lock()) t->cancel();
  }
}

bool Revocation::revoked() const {
  std::lock_guard lock(mutex_);
  return revoked_;
}

AclTokenStore::AclTokenStore(std::filesystem::path file, const TimeSource& time)
    : file_(std::move(file)), time_(time) {}

std::string AclTokenStore::digest(std::string_view secret) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  EVP_Digest(secret.data(), secret.size(), md.data(), &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

std::string AclTokenStore::random_uuid() {
  std::array<unsigned char, 16> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1) {
    std::random_device device;  // OpenSSL's generator failed (not seeded): the kernel's
    for (auto& b : bytes) b = static_cast<unsigned char>(device());
  }
  bytes[6] = static_cast<unsigned char>((bytes[6] & 0x0f) | 0x40);  // version 4
  bytes[8] = static_cast<unsigned char>((bytes[8] & 0x3f) | 0x80);  // RFC 4122 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0xf];
  }
  return out;
}

AclTokenStore::Entry AclTokenStore::make_entry(AclTokenInfo info, std::string digest) {
  Entry e;
  auto principal = std::make_shared<AclPrincipal>();
  principal->accessor = info.accessor;
  principal->rules = std::make_shared<const AclRules>(info.rules);
  principal->revocation = std::make_shared<Revocation>();
  e.principal = std::move(principal);
  e.info = std::move(info);
  e.secret_digest = std::move(digest);
  return e;
}

Result<void> AclTokenStore::load() {
  if (file_.empty() || !std::filesystem::exists(file_)) return {};
  std::ifstream in(file_);
  std::stringstream text;
  text << in.rdbuf();
  const auto where = file_.string();
  auto doc = parse_json(text.str());
  if (!doc || !doc->is_object() || !(*doc)["tokens"].is_array()) {
    return acl_error(ErrorCode::invalid_argument, where + ": not an ACL token file");
  }
  std::unique_lock lock(mutex_);
  for (const auto& t : (*doc)["tokens"]) {
    auto token = stored_from_json(t, where);
    if (!token) return token.error();
    accessor_by_digest_[token->secret_digest] = token->info.accessor;
    auto accessor = token->info.accessor;
    by_accessor_[accessor] = make_entry(std::move(token->info), std::move(token->secret_digest));
  }
  bootstrapped_ = doc->value("bootstrapped", !by_accessor_.empty());
  return {};
}

json AclTokenStore::stored_json(const Stored& token) {
  return json{{"accessor", token.info.accessor},
              {"secret_sha256", token.secret_digest},
              {"description", token.info.description},
              {"rules", token.info.rules.to_json()},
              {"created", token.info.created_unix}};
}

Result<AclTokenStore::Stored> AclTokenStore::stored_from_json(const json& t, const std::string& where) {
  if (!t.is_object() || !t.contains("accessor") || !t["accessor"].is_string() || !t.contains("secret_sha256") ||
      !t["secret_sha256"].is_string()) {
    return acl_error(ErrorCode::invalid_argument, where + ": a token lacks accessor or secret_sha256");
  }
  auto rules = AclRules::parse(t.value("rules", json::object()), "rules");
  if (!rules) return acl_error(ErrorCode::invalid_argument, where + ": " + rules.error().message);
  const auto& description = t.value("description", json(""));
  const auto& created = t.value("created", json(0));
  if (!description.is_string() || !created.is_number_integer()) {
    return acl_error(ErrorCode::invalid_argument, where + ": a token's description or created time is malformed");
  }
  return Stored{AclTokenInfo{t["accessor"].get<std::string>(), description.get<std::string>(), std::move(*rules),
                             created.get<std::int64_t>()},
                t["secret_sha256"].get<std::string>()};
}

Result<void> AclTokenStore::store_locked() const {
  if (file_.empty()) return {};
  json tokens = json::array();
  std::vector<const Entry*> sorted;
  for (const auto& [_, e] : by_accessor_) sorted.push_back(&e);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->info.accessor < b->info.accessor; });
  for (const auto* e : sorted) tokens.push_back(stored_json(Stored{e->info, e->secret_digest}));
  const json doc{{"version", 1}, {"bootstrapped", bootstrapped_}, {"tokens", std::move(tokens)}};
  return write_file_durably(file_, doc.dump(1) + "\n");
}

Result<bool> AclTokenStore::bootstrap(const std::string& secret) {
  {
    std::shared_lock lock(mutex_);
    if (bootstrapped_) return false;
  }
  auto created = create("bootstrap (management) token", AclRules::management(), secret);
  if (!created) return created.error();
  return true;
}

bool AclTokenStore::bootstrapped() const {
  std::shared_lock lock(mutex_);
  return bootstrapped_;
}

Result<AclTokenStore::Created> AclTokenStore::create(std::string description, AclRules rules, std::string secret) {
  std::unique_lock lock(mutex_);
  return insert_locked(std::move(description), std::move(rules), std::move(secret));
}

Result<std::pair<AclTokenStore::Stored, AclTokenStore::Created>> AclTokenStore::draft_create(std::string description,
                                                                                             AclRules rules,
                                                                                             std::string secret) const {
  std::shared_lock lock(mutex_);
  return draft_locked(std::move(description), std::move(rules), std::move(secret));
}

Result<std::pair<AclTokenStore::Stored, AclTokenStore::Created>> AclTokenStore::draft_locked(std::string description,
                                                                                             AclRules rules,
                                                                                             std::string secret) const {
  if (description.size() > kMaxDescription) {
    return acl_error(ErrorCode::invalid_argument, "longer than 1024 bytes", "Description");
  }
  if (!secret.empty() && (secret.size() < 16 || secret.size() > kMaxSecret)) {
    return acl_error(ErrorCode::invalid_argument, "a secret must be 16 to 256 bytes", "SecretID");
  }
  if (by_accessor_.size() >= kMaxTokens) {
    return acl_error(ErrorCode::limit_exceeded, "the store holds 100,000 tokens already; revoke some first");
  }
  if (secret.empty()) secret = random_uuid();
  auto digest = AclTokenStore::digest(secret);
  if (accessor_by_digest_.count(digest) != 0) {
    return acl_error(ErrorCode::invalid_argument, "a token with this secret exists already", "SecretID");
  }
  std::string accessor;
  do {
    accessor = random_uuid();
  } while (by_accessor_.count(accessor) != 0);
  const auto created = std::chrono::duration_cast<std::chrono::seconds>(time_.system_now().time_since_epoch()).count();
  AclTokenInfo info{accessor, std::move(description), std::move(rules), created};
  Stored stored{info, std::move(digest)};  // a copy first: the Created below takes `info` over
  return std::make_pair(std::move(stored), Created{std::move(info), std::move(secret)});
}

Result<AclTokenStore::Created> AclTokenStore::insert_locked(std::string description, AclRules rules,
                                                            std::string secret) {
  auto draft = draft_locked(std::move(description), std::move(rules), std::move(secret));
  if (!draft) return draft.error();
  auto& [stored_token, made] = *draft;
  const auto accessor = stored_token.info.accessor;
  const auto digest = stored_token.secret_digest;
  auto info = made.token;
  secret = made.secret;
  const bool was_bootstrapped = bootstrapped_;
  by_accessor_[accessor] = make_entry(info, digest);
  accessor_by_digest_[digest] = accessor;
  bootstrapped_ = true;
  if (auto stored = store_locked(); !stored) {  // not stored: not created
    by_accessor_.erase(accessor);
    accessor_by_digest_.erase(digest);
    bootstrapped_ = was_bootstrapped;
    return stored.error();
  }
  return Created{std::move(info), std::move(secret)};
}

Result<void> AclTokenStore::check_revoke(const std::string& accessor) const {
  std::shared_lock lock(mutex_);
  return check_revoke_locked(accessor);
}

Result<void> AclTokenStore::check_revoke_locked(const std::string& accessor) const {
  auto it = by_accessor_.find(accessor);
  if (it == by_accessor_.end()) {
    return acl_error(ErrorCode::not_found, "no token with AccessorID '" + accessor + "'", "AccessorID");
  }
  if (grants_acl_write(it->second.info)) {
    const auto managers = std::count_if(by_accessor_.begin(), by_accessor_.end(),
                                        [](const auto& kv) { return grants_acl_write(kv.second.info); });
    if (managers == 1) {
      return acl_error(ErrorCode::invalid_argument,
                       "this is the last token with acl write: revoking it would leave nobody able to manage "
                       "tokens; create another first",
                       "AccessorID");
    }
  }
  return {};
}

void AclTokenStore::load_replicated(std::vector<Stored> tokens, bool bootstrapped) {
  std::vector<std::shared_ptr<const AclPrincipal>> gone;
  {
    std::unique_lock lock(mutex_);
    std::unordered_map<std::string, Entry> next;
    std::unordered_map<std::string, std::string> digests;
    for (auto& t : tokens) {
      auto old = by_accessor_.find(t.info.accessor);
      digests[t.secret_digest] = t.info.accessor;
      if (old != by_accessor_.end() && old->second.secret_digest == t.secret_digest &&
          old->second.info.rules.to_json() == t.info.rules.to_json()) {
        next[t.info.accessor] = std::move(old->second);  // unchanged: its principal (and long polls) stay
        next[t.info.accessor].info = std::move(t.info);
      } else {
        auto accessor = t.info.accessor;
        next[accessor] = make_entry(std::move(t.info), std::move(t.secret_digest));
      }
    }
    for (auto& [accessor, e] : by_accessor_) {
      if (e.principal && !next.contains(accessor)) gone.push_back(e.principal);
    }
    by_accessor_ = std::move(next);
    accessor_by_digest_ = std::move(digests);
    bootstrapped_ = bootstrapped;
  }
  for (const auto& p : gone) p->revocation->revoke();
}

void AclTokenStore::apply_put(Stored token) {
  std::shared_ptr<const AclPrincipal> replaced;
  {
    std::unique_lock lock(mutex_);
    auto accessor = token.info.accessor;
    if (auto old = by_accessor_.find(accessor); old != by_accessor_.end()) {
      accessor_by_digest_.erase(old->second.secret_digest);
      replaced = old->second.principal;
    }
    accessor_by_digest_[token.secret_digest] = accessor;
    by_accessor_[accessor] = make_entry(std::move(token.info), std::move(token.secret_digest));
    bootstrapped_ = true;
  }
  if (replaced) replaced->revocation->revoke();  // its rules may have changed: long polls ask again
}

void AclTokenStore::apply_delete(const std::string& accessor) {
  std::shared_ptr<const AclPrincipal> principal;
  {
    std::unique_lock lock(mutex_);
    auto it = by_accessor_.find(accessor);
    if (it == by_accessor_.end()) return;
    accessor_by_digest_.erase(it->second.secret_digest);
    principal = it->second.principal;
    by_accessor_.erase(it);
  }
  principal->revocation->revoke();
}

void AclTokenStore::mark_bootstrapped() {
  std::unique_lock lock(mutex_);
  bootstrapped_ = true;
}

Result<void> AclTokenStore::revoke(const std::string& accessor) {
  std::shared_ptr<const AclPrincipal> principal;
  {
    std::unique_lock lock(mutex_);
    if (auto ok = check_revoke_locked(accessor); !ok) return ok;
    auto it = by_accessor_.find(accessor);
    auto entry = std::move(it->second);
    by_accessor_.erase(it);
    accessor_by_digest_.erase(entry.secret_digest);
    if (auto stored = store_locked(); !stored) {
      accessor_by_digest_[entry.secret_digest] = accessor;
      by_accessor_[accessor] = std::move(entry);
      return stored.error();
    }
    principal = std::move(entry.principal);
  }
  principal->revocation->revoke();
  return {};
}

std::shared_ptr<const AclPrincipal> AclTokenStore::resolve(std::string_view secret) const {
  if (secret.empty() || secret.size() > kMaxSecret) return nullptr;
  const auto d = digest(secret);
  std::shared_lock lock(mutex_);
  auto it = accessor_by_digest_.find(d);
  if (it == accessor_by_digest_.end()) return nullptr;
  return by_accessor_.at(it->second).principal;
}

std::optional<AclTokenInfo> AclTokenStore::find(const std::string& accessor) const {
  std::shared_lock lock(mutex_);
  auto it = by_accessor_.find(accessor);
  if (it == by_accessor_.end()) return std::nullopt;
  return it->second.info;
}

std::vector<AclTokenInfo> AclTokenStore::list() const {
  std::vector<AclTokenInfo> out;
  {
    std::shared_lock lock(mutex_);
    out.reserve(by_accessor_.size());
    for (const auto& [_, e] : by_accessor_) out.push_back(e.info);
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.accessor < b.accessor; });
  return out;
}

std::size_t AclTokenStore::size() const {
  std::shared_lock lock(mutex_);
  return by_accessor_.size();
}

}  // namespace svckit::daemon
