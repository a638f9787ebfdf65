#include "svckit/registry/nacos_json.hpp"

#include <openssl/evp.h>

#include <cmath>

namespace svckit::nacos {

using nlohmann::json;

namespace {

Error bad(const std::string& field, const std::string& message) {
  return make_error(ErrorCode::invalid_argument, field + " " + message, field);
}

Result<bool> flag(const Params& params, const std::string& key, bool fallback) {
  const auto* v = param(params, key);
  if (v == nullptr || v->empty()) return fallback;
  if (*v == "true") return true;
  if (*v == "false") return false;
  return bad(key, "must be true or false");
}

}  // namespace

const std::string* param(const Params& params, const std::string& key) {
  const auto it = params.find(key);
  return it == params.end() ? nullptr : &it->second;
}

std::string Scope::grouped_name() const {
  return (group.empty() ? std::string(kDefaultGroup) : group) + "@@" + service;
}

bool Scope::holds(const ServiceInstance& in) const {
  const auto meta = [&](const char* key) {
    const auto it = in.metadata.find(key);
    return it == in.metadata.end() ? std::string() : it->second;
  };
  return in.service == service && meta(kGroupMeta) == group && meta(kNamespaceMeta) == namespace_;
}

Result<Scope> scope_of(const Params& params) {
  const auto* name = param(params, "serviceName");
  if (name == nullptr || name->empty()) return bad("serviceName", "is required");
  Scope s;
  std::string group;
  const auto at = name->find("@@");
  if (at != std::string::npos) {
    group = name->substr(0, at);
    s.service = name->substr(at + 2);
  } else {
    s.service = *name;
  }
  if (const auto* g = param(params, "groupName"); g != nullptr && !g->empty()) {
    if (!group.empty() && group != *g) return bad("groupName", "'" + *g + "' is not the group of serviceName");
    group = *g;
  }
  if (auto valid = validate_service_name(s.service, "serviceName"); !valid) return valid.error();
  if (group.size() > 128 || group.find_first_of(" \t\r\n@") != std::string::npos) {
    return bad("groupName", "must be up to 128 characters without spaces or '@'");
  }
  s.group = group == kDefaultGroup ? std::string() : group;
  if (const auto* ns = param(params, "namespaceId"); ns != nullptr && !ns->empty() && *ns != kDefaultNamespace) {
    if (ns->size() > 128 || ns->find_first_of(" \t\r\n") != std::string::npos) {
      return bad("namespaceId", "must be up to 128 characters without spaces");
    }
    s.namespace_ = *ns;
  }
  return s;
}

std::string content_md5(const std::string& content) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EVP_Digest(content.data(), content.size(), digest, &size, EVP_md5(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < size; ++i) {
    out += kHex[digest[i] >> 4];
    out += kHex[digest[i] & 0xf];
  }
  return out;
}

std::string instance_id(std::string_view ip, std::string_view port) {
  return std::string(ip) + ":" + std::string(port);
}

Result<ServiceInstance> instance_from_params(const Params& params, std::string_view caller_host) {
  auto scope = scope_of(params);
  if (!scope) return scope.error();
  ServiceInstance in;
  in.service = scope->service;
  const auto* ip = param(params, "ip");
  in.host = ip != nullptr && !ip->empty() ? *ip : std::string(caller_host);
  const auto* port = param(params, "port");
  if (port == nullptr || port->empty()) return bad("port", "is required");
  if (port->size() > 5 || port->find_first_not_of("0123456789") != std::string::npos) {
    return bad("port", "must be a port number");
  }
  in.port = std::stoi(*port);
  in.id = instance_id(in.host, *port);
  if (!scope->group.empty()) in.metadata[kGroupMeta] = scope->group;
  if (!scope->namespace_.empty()) in.metadata[kNamespaceMeta] = scope->namespace_;
  for (const char* key : {"clusterName", "cluster"}) {
    if (const auto* c = param(params, key); c != nullptr && !c->empty() && *c != kDefaultCluster) in.zone = *c;
  }
  if (const auto* w = param(params, "weight"); w != nullptr && !w->empty()) {
    char* end = nullptr;
    const double weight = std::strtod(w->c_str(), &end);
    if (end == w->c_str() || *end != '\0' || !std::isfinite(weight) || weight < 0 || weight > 100) {
      return bad("weight", "must be a number in 0..100");
    }
    in.weight = static_cast<int>(std::lround(weight * 100));
  }
  if (const auto* m = param(params, "metadata"); m != nullptr && !m->empty()) {
    const auto parsed = json::parse(*m, nullptr, false, true);
    if (!parsed.is_object()) return bad("metadata", "must be a JSON object of strings");
    for (const auto& [key, value] : parsed.items()) {
      if (key.rfind("nacos-", 0) == 0) return bad("metadata." + key, "uses the prefix 'nacos-', which svckitd keeps");
      if (value.is_string()) {
        in.metadata[key] = value.get<std::string>();
      } else if (value.is_number() || value.is_boolean()) {
        in.metadata[key] = value.dump();
      } else {
        return bad("metadata." + key, "must be a string");
      }
    }
  }
  auto healthy = flag(params, "healthy", true);
  auto enabled = flag(params, "enabled", true);
  auto enable = flag(params, "enable", true);  // the Node client's spelling
  auto ephemeral = flag(params, "ephemeral", true);
  for (const auto* r : {&healthy, &enabled, &enable, &ephemeral}) {
    if (!*r) return r->error();
  }
  in.status = !*enabled || !*enable ? InstanceStatus::maintenance
              : *healthy            ? InstanceStatus::healthy
                                    : InstanceStatus::unhealthy;
  if (*ephemeral) {
    long long timeout = kDefaultBeatTimeoutMs;
    if (const auto it = in.metadata.find(kHeartBeatTimeoutMeta); it != in.metadata.end()) {
      const auto& t = it->second;
      if (t.empty() || t.size() > 9 || t.find_first_not_of("0123456789") != std::string::npos) {
        return bad("metadata." + std::string(kHeartBeatTimeoutMeta), "must be milliseconds");
      }
      timeout = std::stoll(t);
    }
    in.ttl = std::chrono::milliseconds(timeout);
  }
  in.normalize();
  if (auto valid = validate(in); !valid) {
    auto e = valid.error();
    if (e.field == "host") e.field = "ip";
    return e;
  }
  return in;
}

json host_json(const ServiceInstance& in, const Scope& scope) {
  json metadata = json::object();
  for (const auto& [key, value] : in.metadata) {
    if (key.rfind("nacos-", 0) != 0) metadata[key] = value;
  }
  const auto cluster = in.zone.empty() ? std::string(kDefaultCluster) : in.zone;
  const long long timeout = in.persistent() ? kDefaultBeatTimeoutMs : in.ttl.count();
  return json{{"instanceId", in.host + "#" + std::to_string(in.port) + "#" + cluster + "#" + scope.grouped_name()},
              {"ip", in.host},
              {"port", in.port},
              {"weight", in.weight / 100.0},
              {"healthy", in.status == InstanceStatus::healthy},
              {"enabled", in.status != InstanceStatus::maintenance},
              {"ephemeral", !in.persistent()},
              {"clusterName", cluster},
              {"serviceName", scope.grouped_name()},
              {"metadata", std::move(metadata)},
              {"instanceHeartBeatInterval", kDefaultBeatIntervalMs},
              {"instanceHeartBeatTimeOut", timeout},
              {"ipDeleteTimeout", timeout * 2}};
}

json list_json(const Scope& scope, const std::string& clusters, const std::vector<ServiceInstance>& instances,
               long long now_ms, int cache_millis) {
  json hosts = json::array();
  for (const auto& in : instances) hosts.push_back(host_json(in, scope));
  return json{{"name", scope.grouped_name()},
              {"groupName", scope.group.empty() ? std::string(kDefaultGroup) : scope.group},
              {"clusters", clusters},
              {"cacheMillis", cache_millis},
              {"hosts", std::move(hosts)},
              {"lastRefTime", now_ms},
              {"checksum", ""},
              {"allIPs", false},
              {"reachProtectionThreshold", false},
              {"valid", true}};
}

}  // namespace svckit::nacos
