#include "svckit/registry/nacos_json.hpp"

#include <openssl/evp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>

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

long long epoch_ms(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::vector<std::string> split_tags(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    auto tag = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!tag.empty()) out.push_back(std::move(tag));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

std::string join_tags(const std::vector<std::string>& tags) {
  std::string out;
  for (const auto& t : tags) out += (out.empty() ? "" : ",") + t;
  return out;
}

/// The metadata a Nacos view of `in` carries: its own, and what Nacos has no field for.
json nacos_metadata(const ServiceInstance& in) {
  json metadata = json::object();
  for (const auto& [key, value] : in.metadata) {
    if (key.rfind("nacos-", 0) != 0) metadata[key] = value;
  }
  if (in.id != in.host + ":" + std::to_string(in.port)) metadata[kIdMeta] = in.id;
  if (!in.tags.empty()) metadata[kTagsMeta] = join_tags(in.tags);
  if (in.status == InstanceStatus::starting || in.status == InstanceStatus::down) {
    metadata[kStatusMeta] = std::string(to_string(in.status));
  }
  if (in.scheme != "http") metadata[kSchemeMeta] = in.scheme;
  if (!in.health_check_path.empty()) metadata[kHealthPathMeta] = in.health_check_path;
  if (!in.persistent()) metadata[kHeartBeatTimeoutMeta] = std::to_string(in.ttl.count());
  return metadata;
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
  std::optional<InstanceStatus> exact_status;
  if (auto it = in.metadata.find(kIdMeta); it != in.metadata.end()) {
    in.id = it->second;
    in.metadata.erase(it);
  }
  if (auto it = in.metadata.find(kTagsMeta); it != in.metadata.end()) {
    in.tags = split_tags(it->second);
    in.metadata.erase(it);
  }
  if (auto it = in.metadata.find(kStatusMeta); it != in.metadata.end()) {
    exact_status = parse_instance_status(it->second);
    in.metadata.erase(it);
  }
  if (auto it = in.metadata.find(kSchemeMeta); it != in.metadata.end()) {
    in.scheme = it->second;
    in.metadata.erase(it);
  }
  if (auto it = in.metadata.find(kHealthPathMeta); it != in.metadata.end()) {
    in.health_check_path = it->second;
    in.metadata.erase(it);
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
  // Starting and down show as unhealthy: the exact one counts where it agrees.
  if (exact_status && in.status == InstanceStatus::unhealthy &&
      (*exact_status == InstanceStatus::starting || *exact_status == InstanceStatus::down)) {
    in.status = *exact_status;
  }
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
  in.metadata.erase(kHeartBeatTimeoutMeta);  // it is the TTL
  in.normalize();
  if (auto valid = validate(in); !valid) {
    auto e = valid.error();
    if (e.field == "host") e.field = "ip";
    return e;
  }
  return in;
}

Params registration_params(const ServiceInstance& in, const Scope& scope) {
  Params p;
  p.emplace("serviceName", in.service);
  if (!scope.group.empty()) p.emplace("groupName", scope.group);
  if (!scope.namespace_.empty()) p.emplace("namespaceId", scope.namespace_);
  p.emplace("ip", in.host);
  p.emplace("port", std::to_string(in.port));
  char weight[32];
  std::snprintf(weight, sizeof weight, "%.2f", in.weight / 100.0);
  p.emplace("weight", weight);
  p.emplace("healthy", in.status == InstanceStatus::healthy ? "true" : "false");
  p.emplace("enabled", in.status == InstanceStatus::maintenance ? "false" : "true");
  p.emplace("ephemeral", in.persistent() ? "false" : "true");
  p.emplace("clusterName", in.zone.empty() ? std::string(kDefaultCluster) : in.zone);
  p.emplace("metadata", nacos_metadata(in).dump());
  return p;
}

Result<ServiceInstance> instance_from_host(const json& host, const Scope& scope) {
  if (!host.is_object()) return bad("hosts", "must hold objects");
  Params p;
  p.emplace("serviceName", scope.service);
  const auto text = [&](const char* key) -> std::optional<std::string> {
    if (!host.contains(key) || host[key].is_null()) return std::nullopt;
    return host[key].is_string() ? host[key].get<std::string>() : host[key].dump();
  };
  for (const auto& [from, to] : {std::pair{"ip", "ip"}, std::pair{"port", "port"}, std::pair{"weight", "weight"},
                                 std::pair{"healthy", "healthy"}, std::pair{"enabled", "enabled"},
                                 std::pair{"ephemeral", "ephemeral"}, std::pair{"clusterName", "clusterName"}}) {
    if (auto v = text(from)) p.emplace(to, *v);
  }
  if (!text("ip")) return bad("ip", "is required");
  json metadata = host.contains("metadata") && host["metadata"].is_object() ? host["metadata"] : json::object();
  // The timeout as the host states it (svckitd's and Nacos 2's answers), when metadata does not.
  if (!metadata.contains(kHeartBeatTimeoutMeta) && host.contains("instanceHeartBeatTimeOut") &&
      host["instanceHeartBeatTimeOut"].is_number_integer()) {
    metadata[kHeartBeatTimeoutMeta] = std::to_string(host["instanceHeartBeatTimeOut"].get<long long>());
  }
  p.emplace("metadata", metadata.dump());
  auto in = instance_from_params(p, "");
  if (!in) return in;
  // svckitd's answers also say when the instance registered and last beat (Nacos's own do not).
  const auto at = [&](const char* key) {
    return host.contains(key) && host[key].is_number_integer() ? host[key].get<long long>() : 0LL;
  };
  in->registered_at = SystemTime(std::chrono::milliseconds(at(kRegisteredAtField)));
  in->last_heartbeat = SystemTime(std::chrono::milliseconds(std::max(at(kLastBeatField), at(kRegisteredAtField))));
  return in;
}

json host_json(const ServiceInstance& in, const Scope& scope) {
  json metadata = nacos_metadata(in);
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
              {"ipDeleteTimeout", timeout * 2},
              {kRegisteredAtField, epoch_ms(in.registered_at)},
              {kLastBeatField, std::max(epoch_ms(in.registered_at), epoch_ms(in.last_heartbeat))}};
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
