// AclRules: what one ACL token may do, in Consul's rule language written as JSON — the same
// document a Consul policy accepts:
//
//   {"service_prefix": {"": {"policy": "read"}, "billing-": {"policy": "write"}},
//    "service": {"payments": {"policy": "deny"}},
//    "key_prefix": {"app.": {"policy": "write"}},
//    "operator": "read", "acl": "write"}
//
// A value may also be the bare policy ("read"). Resolution follows Consul: an exact rule
// (`service`, `key`) wins over prefix rules, the longest matching prefix wins, and no match means
// deny. `key` / `key_prefix` name svckitd's configuration keys (dotted: "app.db.pool"); `operator`
// guards /metrics and /v1/agent/self; `acl` guards the token API. Consul's `node`, `node_prefix`,
// `agent` and `agent_prefix` rules are accepted and have no effect (svckitd is its only node).
#pragma once

#include <map>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "svckit/core/result.hpp"

namespace svckit::daemon {

enum class Access { deny = 0, read = 1, write = 2 };

std::string_view to_string(Access access) noexcept;

/// Immutable once parsed; thread-safe to read.
class AclRules {
 public:
  /// Parses a rules document. Errors name the field ("rules.service_prefix.web", ...): an unknown
  /// rule kind, a policy other than deny/read/write, a name over 256 bytes, more than 1,000 rules.
  static Result<AclRules> parse(const nlohmann::json& rules, const std::string& field = "rules");
  /// Every access: what the bootstrap (management) token holds.
  static AclRules management();

  Access service(std::string_view name) const { return resolve(services_, service_prefixes_, name); }
  Access key(std::string_view key) const { return resolve(keys_, key_prefixes_, key); }
  Access operator_access() const { return operator_; }
  Access acl() const { return acl_; }

  /// True when every service whose name starts with `prefix` (all of them for "") has at least
  /// `need` — no rule under the prefix grants less.
  bool services_under(std::string_view prefix, Access need) const {
    return all_under(services_, service_prefixes_, prefix, need);
  }
  /// Same for configuration keys: `prefix` itself and every key below it ("app" covers "app.x").
  bool keys_under(std::string_view prefix, Access need) const { return all_under(keys_, key_prefixes_, prefix, need); }

  /// The document parse() reads, in its canonical form ({"policy": ...} objects).
  nlohmann::json to_json() const;

 private:
  using Table = std::map<std::string, Access, std::less<>>;
  static Access resolve(const Table& exact, const Table& prefixes, std::string_view name);
  static bool all_under(const Table& exact, const Table& prefixes, std::string_view prefix, Access need);

  Table services_;
  Table service_prefixes_;
  Table keys_;
  Table key_prefixes_;
  Access operator_ = Access::deny;
  Access acl_ = Access::deny;
};

}  // namespace svckit::daemon
