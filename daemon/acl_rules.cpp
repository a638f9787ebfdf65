#include "daemon/acl_rules.hpp"

namespace svckit::daemon {

using nlohmann::json;

namespace {

constexpr std::size_t kMaxRules = 1000;
constexpr std::size_t kMaxName = 256;

Error bad(const std::string& field, const std::string& message) {
  return make_error(ErrorCode::invalid_argument, message, field);
}

Result<Access> parse_access(const json& value, const std::string& field) {
  const json* policy = &value;
  if (value.is_object()) {
    if (value.size() != 1 || !value.contains("policy")) return bad(field, "must be {\"policy\": \"deny|read|write\"}");
    policy = &value["policy"];
  }
  if (!policy->is_string()) return bad(field, "policy must be one of deny, read, write");
  const auto& text = policy->get_ref<const std::string&>();
  if (text == "deny") return Access::deny;
  if (text == "read") return Access::read;
  if (text == "write") return Access::write;
  return bad(field, "policy must be one of deny, read, write; got '" + text + "'");
}

}  // namespace

std::string_view to_string(Access access) noexcept {
  switch (access) {
    case Access::deny:
      return "deny";
    case Access::read:
      return "read";
    case Access::write:
      return "write";
  }
  return "deny";
}

Result<AclRules> AclRules::parse(const json& rules, const std::string& field) {
  if (!rules.is_object()) return bad(field, "rules must be a JSON object");
  AclRules out;
  std::size_t count = 0;
  for (const auto& [kind, value] : rules.items()) {
    const auto where = field + "." + kind;
    if (kind == "operator" || kind == "acl") {
      auto access = parse_access(value, where);
      if (!access) return access.error();
      (kind == "operator" ? out.operator_ : out.acl_) = *access;
      continue;
    }
    Table* table = kind == "service"          ? &out.services_
                   : kind == "service_prefix" ? &out.service_prefixes_
                   : kind == "key"            ? &out.keys_
                   : kind == "key_prefix"     ? &out.key_prefixes_
                                              : nullptr;
    const bool ignored = kind == "node" || kind == "node_prefix" || kind == "agent" || kind == "agent_prefix";
    if (table == nullptr && !ignored) {
      return bad(where,
                 "unknown rule '" + kind +
                     "' (known: service, service_prefix, key, key_prefix, operator, acl; node and agent rules are "
                     "accepted and ignored)");
    }
    if (!value.is_object()) return bad(where, "must be an object of name → policy");
    for (const auto& [name, policy] : value.items()) {
      const auto rule_field = where + "." + name;
      if (name.size() > kMaxName) return bad(where, "a rule name is longer than 256 bytes");
      if (++count > kMaxRules) return bad(field, "more than 1000 rules");
      auto access = parse_access(policy, rule_field);
      if (!access) return access.error();
      if (table != nullptr) (*table)[name] = *access;
    }
  }
  return out;
}

AclRules AclRules::management() {
  AclRules out;
  out.service_prefixes_[""] = Access::write;
  out.key_prefixes_[""] = Access::write;
  out.operator_ = Access::write;
  out.acl_ = Access::write;
  return out;
}

Access AclRules::resolve(const Table& exact, const Table& prefixes, std::string_view name) {
  if (auto it = exact.find(name); it != exact.end()) return it->second;
  // The longest prefix of `name` among the rules: walk down from the longest candidate.
  for (std::size_t len = name.size() + 1; len-- > 0;) {
    if (auto it = prefixes.find(name.substr(0, len)); it != prefixes.end()) return it->second;
  }
  return Access::deny;
}

bool AclRules::all_under(const Table& exact, const Table& prefixes, std::string_view prefix, Access need) {
  // Names strictly below `prefix` resolve either to the longest prefix rule matching `prefix`
  // itself, or to a rule whose name starts with `prefix`: all of those must grant `need`.
  Access base = Access::deny;
  for (std::size_t len = prefix.size() + 1; len-- > 0;) {
    if (auto it = prefixes.find(prefix.substr(0, len)); it != prefixes.end()) {
      base = it->second;
      break;
    }
  }
  if (base < need) return false;
  for (const Table* table : {&exact, &prefixes}) {
    for (auto it = table->lower_bound(prefix); it != table->end() && it->first.starts_with(prefix); ++it) {
      if (it->second < need) return false;
    }
  }
  return true;
}

json AclRules::to_json() const {
  json out = json::object();
  const auto put = [&](const char* kind, const Table& table) {
    if (table.empty()) return;
    json rules = json::object();
    for (const auto& [name, access] : table) rules[name] = json{{"policy", std::string(to_string(access))}};
    out[kind] = std::move(rules);
  };
  put("service", services_);
  put("service_prefix", service_prefixes_);
  put("key", keys_);
  put("key_prefix", key_prefixes_);
  if (operator_ != Access::deny) out["operator"] = std::string(to_string(operator_));
  if (acl_ != Access::deny) out["acl"] = std::string(to_string(acl_));
  return out;
}

}  // namespace svckit::daemon
