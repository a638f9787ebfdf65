#include "svckit/registry/consul_json.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <map>

namespace svckit::consul {

using nlohmann::json;

namespace {

Error invalid(std::string message, std::string field) {
  return make_error(ErrorCode::invalid_argument, std::move(message), std::move(field));
}

/// "DeregisterCriticalServiceAfter", "deregister_critical_service_after" -> "deregistercriticalserviceafter".
std::string fold(std::string_view key) {
  std::string out;
  for (char c : key) {
    if (c != '_') out += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

/// The object's members by folded key; a key given twice (in two spellings) is an error.
Result<std::map<std::string, std::pair<std::string, const json*>>> members(const json& object,
                                                                           const std::string& where) {
  if (!object.is_object()) return invalid(where.empty() ? "body must be a JSON object" : "must be an object", where);
  std::map<std::string, std::pair<std::string, const json*>> out;
  for (const auto& [key, value] : object.items()) {
    auto [it, fresh] = out.emplace(fold(key), std::pair{key, &value});
    if (!fresh) return invalid("given twice ('" + it->second.first + "' and '" + key + "')", where + key);
  }
  return out;
}

std::string join_field(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

Result<std::string> string_of(const json& v, const std::string& field) {
  if (!v.is_string()) return invalid("must be a string", field);
  return v.get<std::string>();
}

Result<std::chrono::milliseconds> duration_of(const json& v, const std::string& field) {
  if (v.is_number_integer()) {  // Go's encoding of a time.Duration: nanoseconds
    const auto ns = v.get<std::int64_t>();
    if (ns < 0) return invalid("must not be negative", field);
    return std::chrono::milliseconds(ns / 1'000'000);
  }
  auto text = string_of(v, field);
  if (!text) return text.error();
  return parse_go_duration(*text, field);
}

Result<int> int_of(const json& v, const std::string& field) {
  if (!v.is_number_integer()) return invalid("must be an integer", field);
  const auto n = v.get<std::int64_t>();
  if (n < 0 || n > 1'000'000) return invalid("must be in 0..1000000", field);
  return static_cast<int>(n);
}

struct ParsedCheck {
  std::optional<std::chrono::milliseconds> ttl;
  std::optional<HealthCheckSpec> spec;
  std::string id;
  std::size_t position = 0;  // 1-based, in the registration (Consul's default IDs count in that order)
  std::string status;        // passing, warning, critical ("" = critical)
  std::optional<std::chrono::milliseconds> deregister_after;
};

Result<void> http_check(const std::string& url, const std::string& field, HealthCheckSpec& spec) {
  const auto scheme_end = url.find("://");
  if (scheme_end == std::string::npos) return invalid("must be an absolute http:// URL", field);
  const auto scheme = url.substr(0, scheme_end);
  if (scheme != "http") return invalid("only http:// checks are supported (got " + scheme + "://)", field);
  const auto rest = url.substr(scheme_end + 3);
  const auto slash = rest.find('/');
  spec.type = "http";
  spec.target = rest.substr(0, slash);
  spec.path = slash == std::string::npos ? "/" : rest.substr(slash);
  if (spec.target.empty() || spec.target.find(':') == std::string::npos) {
    return invalid("must name host:port", field);
  }
  return {};
}

Result<ParsedCheck> parse_check(const json& object, const std::string& where) {
  auto fields = members(object, where + ".");
  if (!fields) return fields.error();
  ParsedCheck check;
  HealthCheckSpec spec;
  spec.healthy_threshold = 1;  // Consul: the first pass turns a check passing, the first failure critical
  spec.unhealthy_threshold = 1;
  bool active = false;
  std::optional<std::chrono::milliseconds> interval;
  std::optional<std::chrono::milliseconds> timeout;
  for (const auto& [key, entry] : *fields) {
    const auto& [name, value] = entry;
    const auto field = join_field(where, name);
    if (key == "ttl") {
      auto d = duration_of(*value, field);
      if (!d) return d.error();
      // A TTL of 0 would leave the instance waiting forever for a pass it can never time out
      // (Consul refuses it too: a TTL check needs TTL > 0).
      if (d->count() <= 0) return invalid("must be greater than 0 (a TTL check needs a time to live)", field);
      check.ttl = *d;
    } else if (key == "http") {
      auto url = string_of(*value, field);
      if (!url) return url.error();
      if (auto r = http_check(*url, field, spec); !r) return r.error();
      active = true;
    } else if (key == "tcp") {
      auto target = string_of(*value, field);
      if (!target) return target.error();
      spec.type = "tcp";
      spec.target = *target;
      active = true;
    } else if (key == "grpc") {
      // Consul's "GRPC": "host:port" or "host:port/service" — grpc.health.v1 Health/Check.
      auto target = string_of(*value, field);
      if (!target) return target.error();
      const auto slash = target->find('/');
      spec.type = "grpc";
      spec.target = target->substr(0, slash);
      if (slash != std::string::npos && slash + 1 < target->size()) spec.params["service"] = target->substr(slash + 1);
      active = true;
    } else if (key == "grpcusetls") {
      if (!value->is_boolean()) return invalid("must be a boolean", field);
      if (value->get<bool>()) spec.params["tls"] = "true";  // trusting svckitd's health.grpc_tls settings
    } else if (key == "interval" || key == "timeout") {
      auto d = duration_of(*value, field);
      if (!d) return d.error();
      (key == "interval" ? interval : timeout) = *d;
    } else if (key == "successbeforepassing" || key == "failuresbeforecritical") {
      auto n = int_of(*value, field);
      if (!n) return n.error();
      (key == "successbeforepassing" ? spec.healthy_threshold : spec.unhealthy_threshold) = std::max(1, *n);
    } else if (key == "deregistercriticalserviceafter") {
      auto d = duration_of(*value, field);
      if (!d) return d.error();
      check.deregister_after = *d;
    } else if (key == "checkid" || key == "id") {
      auto id = string_of(*value, field);
      if (!id) return id.error();
      if (id->find(',') != std::string::npos) return invalid("must not contain ','", field);
      check.id = *id;
    } else if (key == "status") {
      auto s = string_of(*value, field);
      if (!s) return s.error();
      if (*s != "passing" && *s != "warning" && *s != "critical") {
        return invalid("must be passing, warning or critical", field);
      }
      check.status = *s;
    } else if (key == "name" || key == "notes" || key == "method" || key == "tlsskipverify" ||
               key == "disableredirects" || key == "outputmaxsize") {
      if (key == "method" && value->is_string() && value->get<std::string>() != "GET") {
        return invalid("only GET checks are supported", field);
      }
      // Accepted and not kept: names and notes are cosmetic, the rest has svckit's defaults.
    } else {
      return invalid(
          "unsupported check field (supported: TTL, HTTP, TCP, Interval, Timeout, "
          "SuccessBeforePassing, FailuresBeforeCritical, DeregisterCriticalServiceAfter, "
          "CheckID, Name, Notes, Status)",
          field);
    }
  }
  if (check.ttl && active) return invalid("a check is either TTL or HTTP/TCP, not both", where);
  if (!check.ttl && !active) return invalid("a check needs TTL, HTTP or TCP", where);
  if (active) {
    if (!interval) return invalid("HTTP and TCP checks need an Interval", join_field(where, "Interval"));
    spec.interval = *interval;
    spec.timeout = std::min(timeout.value_or(std::chrono::seconds(10)), *interval);
    if (auto r = validate(spec, where); !r) return r.error();
    check.spec = std::move(spec);
  }
  return check;
}

Result<void> string_list(const json& v, const std::string& field, std::vector<std::string>& out) {
  if (v.is_null()) return {};
  if (!v.is_array()) return invalid("must be an array of strings", field);
  for (const auto& item : v) {
    if (!item.is_string()) return invalid("must be an array of strings", field);
    out.push_back(item.get<std::string>());
  }
  return {};
}

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ",") + s;
  return out;
}

std::vector<std::string> split(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const auto comma = text.find(',', start);
    out.push_back(text.substr(start, comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

bool owned_meta(const std::string& key) { return key.starts_with("consul-") || key.starts_with("svckit-"); }

std::string check_status(const ServiceInstance& in) {
  return in.status == InstanceStatus::healthy ? "passing" : "critical";
}

json check_json(const ServiceInstance& in, const Node& node, const std::string& id, const std::string& type,
                std::uint64_t index) {
  const bool passing = in.status == InstanceStatus::healthy;
  return json{
      {"Node", node.name},
      {"CheckID", id},
      {"Name", "Service '" + in.service + "' check"},
      {"Status", check_status(in)},
      {"Notes", ""},
      {"Output", passing ? std::string() : std::string(kStatusOutputPrefix) + std::string(to_string(in.status))},
      {"ServiceID", in.id},
      {"ServiceName", in.service},
      {"ServiceTags", in.tags},
      {"Type", type},
      {"CreateIndex", index},
      {"ModifyIndex", index}};
}

json weights(const ServiceInstance& in) { return json{{"Passing", in.weight}, {"Warning", in.weight}}; }

}  // namespace

Result<std::chrono::milliseconds> parse_go_duration(std::string_view text, std::string_view field) {
  auto bad = [&] {
    return invalid("'" + std::string(text) + "' is not a duration (e.g. 10s, 1m30s, 1.5s, 250ms)", std::string(field));
  };
  if (text.empty()) return bad();
  if (text == "0") return std::chrono::milliseconds(0);
  double total_ms = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto number_start = i;
    while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) != 0 || text[i] == '.')) ++i;
    if (i == number_start) return bad();
    double value = 0;
    const std::string number(text.substr(number_start, i - number_start));
    try {
      std::size_t used = 0;
      value = std::stod(number, &used);
      if (used != number.size()) return bad();
    } catch (const std::exception&) {
      return bad();
    }
    const auto unit_start = i;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i])) == 0 && text[i] != '.') ++i;
    const auto unit = text.substr(unit_start, i - unit_start);
    double factor = 0;
    if (unit == "ns") {
      factor = 1e-6;
    } else if (unit == "us" || unit == "\xC2\xB5s") {
      factor = 1e-3;
    } else if (unit == "ms") {
      factor = 1;
    } else if (unit == "s") {
      factor = 1e3;
    } else if (unit == "m") {
      factor = 60e3;
    } else if (unit == "h") {
      factor = 3600e3;
    } else {
      return bad();
    }
    total_ms += value * factor;
  }
  if (!std::isfinite(total_ms) || total_ms > 365.0 * 24 * 3600e3) return bad();
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(total_ms)));
}

std::string go_duration(std::chrono::milliseconds d) { return std::to_string(d.count()) + "ms"; }

Result<ServiceInstance> instance_from_registration(const json& body, const Node& agent) {
  auto fields = members(body, "");
  if (!fields) return fields.error();
  ServiceInstance in;
  in.host = agent.address;
  std::vector<ParsedCheck> checks;
  std::optional<std::string> status_meta;
  for (const auto& [key, entry] : *fields) {
    const auto& [name, value] = entry;
    if (key == "name" || key == "id" || key == "address") {
      auto s = string_of(*value, name);
      if (!s) return s.error();
      if (key == "address" && s->empty()) continue;  // Consul: empty means the agent's address
      (key == "name" ? in.service : key == "id" ? in.id : in.host) = *s;
    } else if (key == "port") {
      auto n = int_of(*value, name);
      if (!n) return n.error();
      in.port = *n;
    } else if (key == "tags") {
      if (auto r = string_list(*value, name, in.tags); !r) return r.error();
    } else if (key == "meta") {
      if (value->is_null()) continue;
      auto meta = members(*value, name + ".");
      if (!meta) return meta.error();
      for (const auto& [folded, item] : *meta) {
        const auto& [meta_key, meta_value] = item;
        const auto field = name + "." + meta_key;
        auto text = string_of(*meta_value, field);
        if (!text) return text.error();
        if (meta_key == kZoneMeta) {
          in.zone = *text;
        } else if (meta_key == kSchemeMeta) {
          in.scheme = *text;
        } else if (meta_key == kStatusMeta) {
          status_meta = *text;
        } else if (meta_key == kTtlMeta || meta_key == kRegisteredAtMeta) {
          // Written by consul:// for readers; the TTL comes from the TTL check, the time from the store.
        } else if (meta_key.starts_with("consul-")) {
          return invalid("the consul- prefix is reserved", field);
        } else {
          in.metadata[meta_key] = *text;
        }
      }
    } else if (key == "weights") {
      auto w = members(*value, name + ".");
      if (!w) return w.error();
      for (const auto& [wkey, item] : *w) {
        auto n = int_of(*item.second, name + "." + item.first);
        if (!n) return n.error();
        if (wkey == "passing") {
          in.weight = *n;
        } else if (wkey != "warning") {
          return invalid("unknown weight", name + "." + item.first);
        }
      }
    } else if (key == "check" || key == "checks") {
      if (value->is_null()) continue;
      if (key == "check") {
        auto c = parse_check(*value, name);
        if (!c) return c.error();
        c->position = checks.size() + 1;
        checks.push_back(std::move(*c));
      } else {
        if (!value->is_array()) return invalid("must be an array of checks", name);
        for (std::size_t i = 0; i < value->size(); ++i) {
          auto c = parse_check((*value)[i], name + "[" + std::to_string(i) + "]");
          if (!c) return c.error();
          c->position = checks.size() + 1;
          checks.push_back(std::move(*c));
        }
      }
    } else if (key == "enabletagoverride" || key == "taggedaddresses" || key == "kind" || key == "namespace" ||
               key == "partition") {
      const bool harmless = value->is_null() || (value->is_boolean() && !value->get<bool>()) ||
                            (value->is_string() && value->get<std::string>().empty()) ||
                            (value->is_object() && value->empty());
      if (!harmless) return invalid("not supported by svckitd's Consul API", name);
    } else {
      return invalid("unsupported field (supported: ID, Name, Address, Port, Tags, Meta, Weights, Check, Checks)",
                     name);
    }
  }
  if (in.service.empty()) return invalid("a service Name is required", "Name");
  if (in.id.empty()) in.id = in.service;  // Consul's default ID
  // TTL check first, then the active checks, in registration order; their IDs as registered.
  std::stable_partition(checks.begin(), checks.end(), [](const ParsedCheck& c) { return c.ttl.has_value(); });
  std::vector<std::string> ids;
  std::vector<std::string> defaults;
  std::string worst = checks.empty() ? "passing" : "";
  std::optional<std::chrono::milliseconds> deregister_after;
  for (std::size_t i = 0; i < checks.size(); ++i) {
    auto& c = checks[i];
    if (c.ttl) {
      if (in.ttl.count() != 0) return invalid("at most one TTL check", "Checks");
      in.ttl = *c.ttl;
    } else {
      in.checks.push_back(std::move(*c.spec));
    }
    ids.push_back(c.id);
    defaults.push_back(checks.size() == 1 ? "service:" + in.id : "service:" + in.id + ":" + std::to_string(c.position));
    if (c.deregister_after) {
      deregister_after = std::min(*c.deregister_after, deregister_after.value_or(*c.deregister_after));
    }
    const auto s = c.status.empty() ? "critical" : c.status;
    if (worst.empty() || s == "critical" || (s == "warning" && worst == "passing")) worst = s;
  }
  in.status = worst == "critical" ? InstanceStatus::starting : InstanceStatus::healthy;
  if (status_meta) {
    const auto status = parse_instance_status(*status_meta);
    if (!status) return invalid("not a svckit status", std::string("Meta.") + kStatusMeta);
    in.status = *status;
  }
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (ids[i].empty()) ids[i] = defaults[i];
  }
  // check_ids() numbers them in stored order (TTL first); keep the IDs when they differ from that.
  std::vector<std::string> stored_order;
  for (std::size_t i = 0; i < ids.size(); ++i) {
    stored_order.push_back(ids.size() == 1 ? "service:" + in.id : "service:" + in.id + ":" + std::to_string(i + 1));
  }
  if (ids != stored_order) in.metadata[kCheckIdsMeta] = join(ids);
  if (deregister_after) in.metadata[kDeregisterAfterMeta] = go_duration(*deregister_after);
  in.normalize();
  if (auto r = validate(in); !r) {
    static const std::map<std::string, std::string> kConsulNames = {
        {"service", "Name"}, {"id", "ID"}, {"host", "Address"}, {"port", "Port"}, {"weight", "Weights.Passing"}};
    auto e = r.error();
    if (auto it = kConsulNames.find(e.field); it != kConsulNames.end()) e.field = it->second;
    return e;
  }
  return in;
}

std::vector<std::string> check_ids(const ServiceInstance& in) {
  const std::size_t count = in.checks.size() + (in.ttl.count() > 0 ? 1 : 0);
  if (auto it = in.metadata.find(kCheckIdsMeta); it != in.metadata.end()) {
    auto ids = split(it->second);
    if (ids.size() == count) return ids;
  }
  std::vector<std::string> out;
  for (std::size_t i = 0; i < count; ++i) {
    out.push_back(count == 1 ? "service:" + in.id : "service:" + in.id + ":" + std::to_string(i + 1));
  }
  return out;
}

std::string maintenance_check_id(const std::string& service_id) { return "_service_maintenance:" + service_id; }

json meta_of(const ServiceInstance& in) {
  json meta = json::object();
  for (const auto& [k, v] : in.metadata) {
    if (!owned_meta(k)) meta[k] = v;
  }
  if (!in.zone.empty()) meta[kZoneMeta] = in.zone;
  if (in.scheme != "http") meta[kSchemeMeta] = in.scheme;
  if (in.status != InstanceStatus::healthy) meta[kStatusMeta] = std::string(to_string(in.status));
  if (in.ttl.count() > 0) meta[kTtlMeta] = go_duration(in.ttl);
  if (in.registered_at != SystemTime{}) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(in.registered_at.time_since_epoch());
    meta[kRegisteredAtMeta] = std::to_string(ms.count());
  }
  return meta;
}

json registration_for(const ServiceInstance& in, std::chrono::milliseconds deregister_after) {
  json body{{"ID", in.id}, {"Name", in.service}, {"Address", in.host}, {"Port", in.port}, {"Tags", in.tags}};
  body["Meta"] = meta_of(in);
  body["Weights"] = weights(in);
  json checks = json::array();
  const auto status = check_status(in);
  if (in.ttl.count() > 0) {
    checks.push_back(json{{"TTL", go_duration(in.ttl)},
                          {"Status", status},
                          {"DeregisterCriticalServiceAfter", go_duration(deregister_after)}});
  }
  for (const auto& spec : in.checks) {
    const auto target = spec.target.empty() ? in.host + ":" + std::to_string(in.port) : spec.target;
    json c{{"Interval", go_duration(spec.interval)},
           {"Timeout", go_duration(spec.timeout)},
           {"SuccessBeforePassing", spec.healthy_threshold},
           {"FailuresBeforeCritical", spec.unhealthy_threshold},
           {"Status", status}};
    if (spec.type == "tcp") {
      c["TCP"] = target;
    } else if (spec.type == "grpc") {
      const auto service = spec.params.find("service");
      c["GRPC"] = service == spec.params.end() ? target : target + "/" + service->second;
      if (auto tls = spec.params.find("tls"); tls != spec.params.end() && tls->second == "true") c["GRPCUseTLS"] = true;
    } else {
      c["HTTP"] = "http://" + target + spec.path;
    }
    checks.push_back(std::move(c));
  }
  if (!checks.empty()) body["Checks"] = std::move(checks);
  return body;
}

json agent_service(const ServiceInstance& in, const Node& node) {
  return json{{"ID", in.id},
              {"Service", in.service},
              {"Tags", in.tags},
              {"Meta", meta_of(in)},
              {"Port", in.port},
              {"Address", in.host},
              {"Weights", weights(in)},
              {"EnableTagOverride", false},
              {"Datacenter", node.datacenter}};
}

json catalog_entry(const ServiceInstance& in, const Node& node, std::uint64_t index) {
  return json{{"ID", node.id},
              {"Node", node.name},
              {"Address", node.address},
              {"Datacenter", node.datacenter},
              {"TaggedAddresses", json::object()},
              {"NodeMeta", json::object()},
              {"ServiceKind", ""},
              {"ServiceID", in.id},
              {"ServiceName", in.service},
              {"ServiceTags", in.tags},
              {"ServiceAddress", in.host},
              {"ServicePort", in.port},
              {"ServiceMeta", meta_of(in)},
              {"ServiceWeights", weights(in)},
              {"ServiceEnableTagOverride", false},
              {"CreateIndex", index},
              {"ModifyIndex", index}};
}

json service_checks(const ServiceInstance& in, const Node& node, std::uint64_t index) {
  json checks = json::array();
  const auto ids = check_ids(in);
  std::size_t n = 0;
  if (in.ttl.count() > 0) checks.push_back(check_json(in, node, ids[n++], "ttl", index));
  for (const auto& spec : in.checks) checks.push_back(check_json(in, node, ids[n++], spec.type, index));
  if (in.status == InstanceStatus::maintenance) {
    auto m = check_json(in, node, maintenance_check_id(in.id), "maintenance", index);
    m["Name"] = "Service Maintenance Mode";
    m["Notes"] = "Maintenance mode is enabled for this service";
    checks.push_back(std::move(m));
  }
  return checks;
}

json health_entry(const ServiceInstance& in, const Node& node, std::uint64_t index) {
  json checks = json::array();
  checks.push_back(json{{"Node", node.name},
                        {"CheckID", "serfHealth"},
                        {"Name", "Serf Health Status"},
                        {"Status", "passing"},
                        {"Notes", ""},
                        {"Output", "Agent alive and reachable"},
                        {"ServiceID", ""},
                        {"ServiceName", ""},
                        {"ServiceTags", json::array()},
                        {"Type", ""},
                        {"CreateIndex", index},
                        {"ModifyIndex", index}});
  for (auto& c : service_checks(in, node, index)) checks.push_back(std::move(c));
  json service = agent_service(in, node);
  service.erase("Datacenter");
  return json{{"Node", json{{"ID", node.id},
                            {"Node", node.name},
                            {"Address", node.address},
                            {"Datacenter", node.datacenter},
                            {"TaggedAddresses", json::object()},
                            {"Meta", json::object()}}},
              {"Service", std::move(service)},
              {"Checks", std::move(checks)}};
}

Result<ServiceInstance> instance_from_health_entry(const json& entry) {
  try {
    const auto& s = entry.at("Service");
    ServiceInstance in;
    in.service = s.at("Service").get<std::string>();
    in.id = s.at("ID").get<std::string>();
    in.host = s.value("Address", std::string());
    if (in.host.empty() && entry.contains("Node")) in.host = entry["Node"].value("Address", std::string());
    in.port = s.at("Port").get<int>();
    if (s.contains("Tags") && s["Tags"].is_array()) in.tags = s["Tags"].get<std::vector<std::string>>();
    if (s.contains("Weights") && s["Weights"].is_object()) in.weight = s["Weights"].value("Passing", 100);
    std::optional<InstanceStatus> meta_status;
    if (s.contains("Meta") && s["Meta"].is_object()) {
      for (const auto& [k, v] : s["Meta"].items()) {
        const auto text = v.is_string() ? v.get<std::string>() : v.dump();
        if (k == kZoneMeta) {
          in.zone = text;
        } else if (k == kSchemeMeta) {
          in.scheme = text;
        } else if (k == kStatusMeta) {
          meta_status = parse_instance_status(text);
        } else if (k == kTtlMeta) {
          auto ttl = parse_go_duration(text, k);
          if (ttl) in.ttl = *ttl;
        } else if (k == kRegisteredAtMeta) {
          in.registered_at = SystemTime(std::chrono::milliseconds(std::strtoll(text.c_str(), nullptr, 10)));
        } else {
          in.metadata[k] = text;
        }
      }
    }
    bool maintenance = false;
    bool critical = false;
    bool ttl_expired = false;
    std::optional<InstanceStatus> output_status;
    if (entry.contains("Checks") && entry["Checks"].is_array()) {
      for (const auto& c : entry["Checks"]) {
        const auto id = c.value("CheckID", std::string());
        const auto status = c.value("Status", std::string());
        const auto output = c.value("Output", std::string());
        const auto type = c.value("Type", std::string());
        if (id == maintenance_check_id(in.id)) {
          maintenance = true;
          continue;
        }
        if (type == "ttl" && in.ttl.count() == 0) in.ttl = std::chrono::seconds(1);  // a TTL of unknown length
        if (status != "critical") continue;
        critical = true;
        if (output.starts_with(kStatusOutputPrefix)) {
          output_status = parse_instance_status(output.substr(std::string_view(kStatusOutputPrefix).size()));
        } else if (type == "ttl" && output.starts_with("TTL expired")) {
          ttl_expired = true;
        }
      }
    }
    if (maintenance) {
      in.status = InstanceStatus::maintenance;
    } else if (critical) {
      in.status = output_status ? *output_status : ttl_expired ? InstanceStatus::down : InstanceStatus::unhealthy;
    } else {
      in.status = meta_status.value_or(InstanceStatus::healthy);
    }
    in.normalize();
    return in;
  } catch (const json::exception& e) {
    return make_error(ErrorCode::protocol, std::string("unexpected Consul health entry: ") + e.what(), "Service");
  }
}

}  // namespace svckit::consul
