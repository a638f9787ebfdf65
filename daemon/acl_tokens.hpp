// AclTokenStore: svckitd's ACL tokens, in Consul's model — a public AccessorID that names the
// token (in lists, logs and the audit trail) and a SecretID the client presents. Only a SHA-256
// digest of each secret is kept, in memory and on disk (secrets are 128 random bits, so a fast
// digest is enough); a secret is shown once, when its token is created.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "daemon/acl_rules.hpp"
#include "svckit/core/cancel_token.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit::daemon {

/// Ends the long polls of one token when it is revoked. Thread-safe.
class Revocation {
 public:
  /// Cancels `token` when the token is revoked (at once when it already is).
  void attach(const std::shared_ptr<CancelToken>& token);
  void revoke();
  bool revoked() const;

 private:
  mutable std::mutex mutex_;
  bool revoked_ = false;
  std::vector<std::weak_ptr<CancelToken>> waiting_;
};

/// Who made a request: a token's accessor and rules, or the anonymous policy. Immutable.
struct AclPrincipal {
  std::string accessor;  // "anonymous" for requests without a token
  std::shared_ptr<const AclRules> rules;
  std::shared_ptr<Revocation> revocation;  // null for the anonymous policy
  bool anonymous() const { return revocation == nullptr; }
};

/// A token as listed: never its secret.
struct AclTokenInfo {
  std::string accessor;
  std::string description;
  AclRules rules;
  std::int64_t created_unix = 0;
};

/// Thread-safe: resolve() takes a shared lock; changes are serialized and, with a file, written
/// durably before they return (a change that cannot be stored is undone and reported).
class AclTokenStore {
 public:
  /// `file`: where tokens persist (empty: memory only). `time` stamps creation times.
  AclTokenStore(std::filesystem::path file, const TimeSource& time);

  /// Reads the file when there is one. Errors name `acl` and the file.
  Result<void> load();
  /// Creates the management token for `secret` unless the store was ever bootstrapped (a
  /// bootstrap token revoked later does not come back at the next start). Returns whether it did.
  Result<bool> bootstrap(const std::string& secret);
  bool bootstrapped() const;

  struct Created {
    AclTokenInfo token;
    std::string secret;
  };
  /// A new token. `secret` empty: a random one (UUID form). A secret already in use is refused.
  Result<Created> create(std::string description, AclRules rules, std::string secret = {});
  /// Removes the token; its long polls end. not_found for an unknown accessor; invalid_argument
  /// when it would leave no token with acl write (nobody could manage tokens any more).
  Result<void> revoke(const std::string& accessor);

  /// The principal for a presented secret, or null when no token has it.
  std::shared_ptr<const AclPrincipal> resolve(std::string_view secret) const;
  std::optional<AclTokenInfo> find(const std::string& accessor) const;
  std::vector<AclTokenInfo> list() const;
  std::size_t size() const;

  /// A token as kept (in the file, or in etcd in cluster mode): never its secret, only the digest.
  struct Stored {
    AclTokenInfo info;
    std::string secret_digest;
  };
  static nlohmann::json stored_json(const Stored& token);
  /// Errors name `where` (the file, or the etcd key).
  static Result<Stored> stored_from_json(const nlohmann::json& doc, const std::string& where);

  /// What create() would add, checked against this store but not added: for a store kept
  /// elsewhere (cluster mode writes it to etcd and applies it when it comes back).
  Result<std::pair<Stored, Created>> draft_create(std::string description, AclRules rules, std::string secret) const;
  /// What revoke() checks, without revoking.
  Result<void> check_revoke(const std::string& accessor) const;
  /// Replication (cluster mode): the whole set at once (tokens gone are revoked), one token added
  /// or replaced, one removed (revoked: its long polls end), and the bootstrapped mark.
  void load_replicated(std::vector<Stored> tokens, bool bootstrapped);
  void apply_put(Stored token);
  void apply_delete(const std::string& accessor);
  void mark_bootstrapped();

  static std::string digest(std::string_view secret);
  /// 128 random bits from the system's CSPRNG, as a UUID (8-4-4-4-12 hex).
  static std::string random_uuid();

 private:
  struct Entry {
    AclTokenInfo info;
    std::string secret_digest;
    std::shared_ptr<const AclPrincipal> principal;
  };
  Result<void> store_locked() const;  // writes file_ (unique lock held)
  Result<Created> insert_locked(std::string description, AclRules rules, std::string secret);
  Result<std::pair<Stored, Created>> draft_locked(std::string description, AclRules rules, std::string secret) const;
  Result<void> check_revoke_locked(const std::string& accessor) const;
  static Entry make_entry(AclTokenInfo info, std::string digest);

  const std::filesystem::path file_;
  const TimeSource& time_;
  mutable std::shared_mutex mutex_;
  std::unordered_map<std::string, Entry> by_accessor_;               // guarded by mutex_
  std::unordered_map<std::string, std::string> accessor_by_digest_;  // guarded by mutex_
  bool bootstrapped_ = false;                                        // guarded by mutex_
};

}  // namespace svckit::daemon
