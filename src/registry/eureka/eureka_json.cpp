#include "svckit/registry/eureka_json.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <map>
#include <set>

namespace svckit::eureka {

using nlohmann::json;

namespace {

std::string upper(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return out;
}

std::string lower(std::string_view text) {
  std::string out(text);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

Error field_error(const std::string& field, const std::string& message) {
  return make_error(ErrorCode::invalid_argument, field + " " + message, field);
}

/// A string field (Eureka clients send some numbers and booleans as strings, some not).
Result<std::string> text_of(const json& object, const char* key, const std::string& field) {
  if (!object.contains(key) || object[key].is_null()) return std::string();
  const auto& v = object[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<long long>());
  if (v.is_boolean()) return std::string(v.get<bool>() ? "true" : "false");
  return field_error(field, "must be a string");
}

/// {"$": 8080, "@enabled": "true"} (or a bare number). -1 when absent.
struct Port {
  int number = -1;
  bool enabled = false;
};
Result<Port> port_of(const json& object, const char* key, const std::string& field, bool enabled_by_default) {
  Port p;
  if (!object.contains(key) || object[key].is_null()) return p;
  const auto& v = object[key];
  const json* number = &v;
  p.enabled = enabled_by_default;
  if (v.is_object()) {
    if (!v.contains("$")) return field_error(field + ".$", "is required");
    number = &v["$"];
    if (v.contains("@enabled")) {
      auto enabled = text_of(v, "@enabled", field + ".@enabled");
      if (!enabled) return enabled.error();
      const auto e = lower(*enabled);
      if (e != "true" && e != "false") return field_error(field + ".@enabled", "must be true or false");
      p.enabled = e == "true";
    }
  }
  long long n = -1;
  if (number->is_number_integer()) {
    n = number->get<long long>();
  } else if (number->is_string()) {
    const auto s = number->get<std::string>();
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) {
      return field_error(field + ".$", "must be a port number");
    }
    n = std::stoll(s);
  } else {
    return field_error(field + ".$", "must be a port number");
  }
  if (n < 0 || n > 65535) return field_error(field + ".$", "must be in 0..65535");
  p.number = static_cast<int>(n);
  return p;
}

Result<long long> whole_number(const json& object, const char* key, const std::string& field) {
  if (!object.contains(key) || object[key].is_null()) return -1LL;
  const auto& v = object[key];
  if (v.is_number_integer()) return v.get<long long>();
  if (v.is_string()) {
    const auto s = v.get<std::string>();
    if (!s.empty() && s.size() < 10 && s.find_first_not_of("0123456789") == std::string::npos) return std::stoll(s);
  }
  return field_error(field, "must be a whole number");
}

std::string path_of_url(const std::string& url) {
  const auto scheme = url.find("://");
  const auto start = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  return start == std::string::npos ? std::string() : url.substr(start);
}

long long epoch_ms(SystemTime t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

/// A whole number from metadata any API may have written: `fallback` unless it is one.
int number_or(const std::string& text, int fallback) {
  if (text.empty() || text.size() > 9 || text.find_first_not_of("0123456789") != std::string::npos) return fallback;
  return std::stoi(text);
}

void keep(ServiceInstance& in, const char* meta, const std::string& value) {
  if (!value.empty()) in.metadata[meta] = value;
}

}  // namespace

std::string_view status_name(InstanceStatus status) noexcept {
  switch (status) {
    case InstanceStatus::healthy:
      return "UP";
    case InstanceStatus::starting:
      return "STARTING";
    case InstanceStatus::maintenance:
      return "OUT_OF_SERVICE";
    case InstanceStatus::unhealthy:
    case InstanceStatus::down:
      return "DOWN";
  }
  return "UNKNOWN";
}

std::optional<InstanceStatus> status_from_name(std::string_view name) noexcept {
  const auto n = upper(name);
  if (n == "UP" || n == "UNKNOWN") return InstanceStatus::healthy;
  if (n == "DOWN") return InstanceStatus::unhealthy;
  if (n == "STARTING") return InstanceStatus::starting;
  if (n == "OUT_OF_SERVICE") return InstanceStatus::maintenance;
  return std::nullopt;
}

std::string app_name(std::string_view service) { return upper(service); }

Result<std::string> service_of_app(std::string_view app) {
  auto service = lower(app);
  if (auto valid = validate_service_name(service, "app"); !valid) return valid.error();
  return service;
}

namespace {

/// The value of "instance" (an object) -> instance: what both readers below share.
Result<ServiceInstance> instance_from_object(const json& i, std::string_view app, std::string_view caller_host) {
  ServiceInstance in;
  auto service = service_of_app(app);
  if (!service) return service.error();
  in.service = *service;
  auto body_app = text_of(i, "app", "instance.app");
  if (!body_app) return body_app.error();
  if (!body_app->empty() && lower(*body_app) != in.service) {
    return field_error("instance.app", "'" + *body_app + "' is not the app of the path ('" + std::string(app) + "')");
  }
  auto host_name = text_of(i, "hostName", "instance.hostName");
  auto ip = text_of(i, "ipAddr", "instance.ipAddr");
  auto id = text_of(i, "instanceId", "instance.instanceId");
  if (!host_name) return host_name.error();
  if (!ip) return ip.error();
  if (!id) return id.error();
  in.host = !ip->empty() ? *ip : !host_name->empty() ? *host_name : std::string(caller_host);
  in.id = !id->empty() ? *id : !host_name->empty() ? *host_name : in.host;
  auto port = port_of(i, "port", "instance.port", true);
  if (!port) return port.error();
  auto secure = port_of(i, "securePort", "instance.securePort", false);
  if (!secure) return secure.error();
  if (port->enabled && port->number > 0) {
    in.port = port->number;
    in.scheme = "http";
    if (secure->enabled && secure->number > 0) in.metadata[kOtherPortMeta] = std::to_string(secure->number);
  } else if (secure->enabled && secure->number > 0) {
    in.port = secure->number;
    in.scheme = "https";
    if (port->enabled && port->number > 0) in.metadata[kOtherPortMeta] = std::to_string(port->number);
  } else {
    return field_error("instance.port", "must be an enabled port (port or securePort with @enabled true)");
  }
  auto status = text_of(i, "status", "instance.status");
  if (!status) return status.error();
  in.status = InstanceStatus::healthy;
  if (!status->empty()) {
    auto parsed = status_from_name(*status);
    if (!parsed)
      return field_error("instance.status", "'" + *status + "' is not UP, DOWN, STARTING, OUT_OF_SERVICE or UNKNOWN");
    in.status = *parsed;
  }
  for (const char* key : {"overriddenstatus", "overriddenStatus"}) {
    auto overridden = text_of(i, key, std::string("instance.") + key);
    if (!overridden) return overridden.error();
    if (upper(*overridden) == "OUT_OF_SERVICE") in.status = InstanceStatus::maintenance;
  }
  in.ttl = std::chrono::seconds(kDefaultLeaseSeconds);
  if (i.contains("leaseInfo") && i["leaseInfo"].is_object()) {
    auto duration = whole_number(i["leaseInfo"], "durationInSecs", "instance.leaseInfo.durationInSecs");
    if (!duration) return duration.error();
    if (*duration > 0) in.ttl = std::chrono::seconds(*duration);
    auto renewal = whole_number(i["leaseInfo"], "renewalIntervalInSecs", "instance.leaseInfo.renewalIntervalInSecs");
    if (!renewal) return renewal.error();
    if (*renewal > 0 && *renewal != kDefaultRenewalSeconds) in.metadata[kRenewalMeta] = std::to_string(*renewal);
  }
  std::optional<InstanceStatus> exact_status;
  std::optional<std::chrono::milliseconds> exact_ttl;
  if (i.contains("metadata") && !i["metadata"].is_null()) {
    if (!i["metadata"].is_object()) return field_error("instance.metadata", "must be an object");
    for (const auto& [key, value] : i["metadata"].items()) {
      if (key == "@class") continue;  // Java's empty-map marker
      const auto field = "instance.metadata." + key;
      if (key.rfind(kMetaPrefix, 0) == 0)
        return field_error(field, "uses the prefix 'eureka-', which svckitd keeps for itself");
      auto text = text_of(i["metadata"], key.c_str(), field);
      if (!text) return text.error();
      if (key == "zone") {
        in.zone = *text;
      } else if (key == kTagsMeta) {
        std::size_t start = 0;
        while (start <= text->size()) {
          const auto comma = text->find(',', start);
          const auto tag = text->substr(start, comma == std::string::npos ? std::string::npos : comma - start);
          if (!tag.empty()) in.tags.push_back(tag);
          if (comma == std::string::npos) break;
          start = comma + 1;
        }
      } else if (key == kStatusMeta) {
        exact_status = parse_instance_status(*text);
      } else if (key == kTtlMeta) {
        auto ttl = whole_number(i["metadata"], key.c_str(), field);
        if (!ttl) return ttl.error();
        exact_ttl = std::chrono::milliseconds(*ttl);
      } else if (key == kWeightMeta) {
        auto weight = whole_number(i["metadata"], key.c_str(), field);
        if (!weight) return weight.error();
        in.weight = static_cast<int>(std::min<long long>(*weight, InstanceLimits::kMaxWeight + 1));
      } else {
        in.metadata[key] = *text;
      }
    }
  }
  // The exact status counts only where it agrees with Eureka's (a Eureka client that changed the
  // status since svckit wrote it wins); the exact TTL only where durationInSecs is its rounding.
  if (exact_status && status_name(*exact_status) == status_name(in.status)) in.status = *exact_status;
  if (exact_ttl && exact_ttl->count() >= 0) in.ttl = *exact_ttl;
  struct Kept {
    const char* field;
    const char* meta;
  };
  for (const auto& [field, meta] :
       {Kept{"vipAddress", kVipMeta}, Kept{"secureVipAddress", kSecureVipMeta}, Kept{"homePageUrl", kHomePageMeta},
        Kept{"statusPageUrl", kStatusPageMeta}, Kept{"healthCheckUrl", kHealthCheckUrlMeta}}) {
    auto value = text_of(i, field, std::string("instance.") + field);
    if (!value) return value.error();
    keep(in, meta, *value);
  }
  if (!host_name->empty() && *host_name != in.host) in.metadata[kHostNameMeta] = *host_name;
  // What the view writes by default is not kept: reading an instance back gives what was written.
  const auto base = in.scheme + "://" + in.host + ":" + std::to_string(in.port);
  const auto drop_if = [&](const char* meta, const std::string& fallback) {
    if (auto it = in.metadata.find(meta); it != in.metadata.end() && it->second == fallback) in.metadata.erase(it);
  };
  if (in.metadata.count(kVipMeta) != 0 && lower(in.metadata[kVipMeta]) == in.service) in.metadata.erase(kVipMeta);
  if (auto it = in.metadata.find(kSecureVipMeta);
      it != in.metadata.end() &&
      lower(it->second) == lower(in.metadata.count(kVipMeta) ? in.metadata[kVipMeta] : in.service)) {
    in.metadata.erase(it);
  }
  drop_if(kHomePageMeta, base + "/");
  drop_if(kStatusPageMeta, base + "/info");
  if (in.metadata.count(kHealthCheckUrlMeta) != 0) {
    in.health_check_path = path_of_url(in.metadata[kHealthCheckUrlMeta]);
    drop_if(kHealthCheckUrlMeta, base + in.health_check_path);  // the view writes it from the path
  }
  if (i.contains("dataCenterInfo") && i["dataCenterInfo"].is_object()) {
    auto name = text_of(i["dataCenterInfo"], "name", "instance.dataCenterInfo.name");
    if (!name) return name.error();
    if (!name->empty() && *name != "MyOwn") in.metadata[kDataCenterMeta] = *name;
  }
  in.normalize();
  if (auto valid = validate(in); !valid) {
    auto e = valid.error();
    if (e.field == "id") e.field = "instance.instanceId";
    if (e.field == "host") e.field = "instance.ipAddr";
    if (e.field == "port") e.field = "instance.port";
    return e;
  }
  return in;
}

}  // namespace

Result<ServiceInstance> instance_from_registration(const json& body, std::string_view app,
                                                   std::string_view caller_host) {
  if (!body.is_object() || !body.contains("instance") || !body["instance"].is_object()) {
    return field_error("instance", "must be an object: the body is {\"instance\": {...}}");
  }
  return instance_from_object(body["instance"], app, caller_host);
}

Result<ServiceInstance> instance_from_answer(const json& instance) {
  if (!instance.is_object()) return field_error("instance", "must be an object");
  auto app = text_of(instance, "app", "instance.app");
  if (!app) return app.error();
  auto in = instance_from_object(instance, *app, "");  // no copy of the object (an answer holds thousands)
  if (!in) return in;
  if (instance.contains("leaseInfo") && instance["leaseInfo"].is_object()) {
    const auto& lease = instance["leaseInfo"];
    const auto at = [&](const char* key) {
      const auto& v = lease.contains(key) ? lease[key] : json();
      return v.is_number_integer() ? v.get<long long>() : 0LL;
    };
    in->registered_at = SystemTime(std::chrono::milliseconds(at("registrationTimestamp")));
    in->last_heartbeat =
        SystemTime(std::chrono::milliseconds(std::max(at("lastRenewalTimestamp"), at("registrationTimestamp"))));
  }
  return in;
}

json instance_json(const ServiceInstance& in, std::string_view action) {
  const auto meta = [&](const char* key, const std::string& fallback) {
    const auto it = in.metadata.find(key);
    return it == in.metadata.end() ? fallback : it->second;
  };
  const auto base = in.scheme + "://" + in.host + ":" + std::to_string(in.port);
  const bool secure = in.scheme == "https";
  const int other = number_or(meta(kOtherPortMeta, ""), -1);
  const json main_port{{"$", in.port}, {"@enabled", "true"}};
  const json other_port{{"$", other < 0 ? (secure ? 7001 : 7002) : other}, {"@enabled", other < 0 ? "false" : "true"}};
  json metadata = json::object();
  for (const auto& [key, value] : in.metadata) {
    if (key.rfind(kMetaPrefix, 0) != 0) metadata[key] = value;
  }
  if (!in.zone.empty()) metadata["zone"] = in.zone;
  if (!in.tags.empty()) {
    std::string tags;
    for (const auto& t : in.tags) tags += (tags.empty() ? "" : ",") + t;
    metadata[kTagsMeta] = tags;
  }
  if (in.weight != 100) metadata[kWeightMeta] = std::to_string(in.weight);
  if (in.status == InstanceStatus::down) metadata[kStatusMeta] = std::string(to_string(in.status));
  if (in.persistent() || in.ttl % std::chrono::seconds(1) != std::chrono::milliseconds(0)) {
    metadata[kTtlMeta] = std::to_string(in.ttl.count());
  }
  if (metadata.empty()) metadata["@class"] = "java.util.Collections$EmptyMap";
  const auto registered = epoch_ms(in.registered_at);
  const auto renewed = std::max(registered, epoch_ms(in.last_heartbeat));
  const auto lease =
      in.persistent() ? kDefaultLeaseSeconds : static_cast<int>(std::max<long long>(1, (in.ttl.count() + 999) / 1000));
  const int renewal = number_or(meta(kRenewalMeta, ""), kDefaultRenewalSeconds);
  const auto vip = meta(kVipMeta, in.service);
  json out{{"instanceId", in.id},
           {"hostName", meta(kHostNameMeta, in.host)},
           {"app", app_name(in.service)},
           {"ipAddr", in.host},
           {"status", status_name(in.status)},
           {"overriddenStatus", in.status == InstanceStatus::maintenance ? "OUT_OF_SERVICE" : "UNKNOWN"},
           {"port", secure ? other_port : main_port},
           {"securePort", secure ? main_port : other_port},
           {"countryId", 1},
           {"dataCenterInfo",
            {{"@class", "com.netflix.appinfo.InstanceInfo$DefaultDataCenterInfo"},
             {"name", meta(kDataCenterMeta, "MyOwn")}}},
           {"leaseInfo",
            {{"renewalIntervalInSecs", renewal},
             {"durationInSecs", lease},
             {"registrationTimestamp", registered},
             {"lastRenewalTimestamp", renewed},
             {"evictionTimestamp", 0},
             {"serviceUpTimestamp", registered}}},
           {"metadata", std::move(metadata)},
           {"homePageUrl", meta(kHomePageMeta, base + "/")},
           {"statusPageUrl", meta(kStatusPageMeta, base + "/info")},
           {"healthCheckUrl",
            meta(kHealthCheckUrlMeta, in.health_check_path.empty() ? std::string() : base + in.health_check_path)},
           {"vipAddress", vip},
           {"secureVipAddress", meta(kSecureVipMeta, vip)},
           {"isCoordinatingDiscoveryServer", "false"},
           {"lastUpdatedTimestamp", std::to_string(renewed)},
           {"lastDirtyTimestamp", std::to_string(registered)},
           {"actionType", action.empty() ? "ADDED" : std::string(action)}};
  if (out["healthCheckUrl"] == "") out.erase("healthCheckUrl");  // none known: not made up
  return out;
}

json application_json(std::string_view service, const std::vector<ServiceInstance>& instances,
                      std::string_view action) {
  json list = json::array();
  for (const auto& in : instances) list.push_back(instance_json(in, action));
  return json{{"name", app_name(service)}, {"instance", std::move(list)}};
}

json applications_json(const std::vector<ServiceInstance>& instances, std::uint64_t version,
                       const std::string& hashcode) {
  std::map<std::string, std::vector<ServiceInstance>> by_service;
  for (const auto& in : instances) by_service[in.service].push_back(in);
  json apps = json::array();
  for (const auto& [service, list] : by_service) apps.push_back(application_json(service, list));
  return json{{"applications",
               {{"versions__delta", std::to_string(version)}, {"apps__hashcode", hashcode}, {"application", apps}}}};
}

std::string apps_hashcode(const std::vector<ServiceInstance>& instances) {
  std::map<std::string, std::size_t> counts;
  for (const auto& in : instances) ++counts[std::string(status_name(in.status))];
  std::string out;
  for (const auto& [status, n] : counts) out += status + "_" + std::to_string(n) + "_";
  return out;
}

namespace {

bool xml_name(std::string_view name) {
  if (name.empty()) return false;
  const auto first = static_cast<unsigned char>(name.front());
  if (!(std::isalpha(first) != 0 || first == '_')) return false;
  return std::all_of(name.begin(), name.end(),
                     [](unsigned char c) { return std::isalnum(c) != 0 || c == '_' || c == '-' || c == '.'; });
}

std::string scalar_text(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_null()) return {};
  return v.dump();
}

void append_escaped(std::string& out, std::string_view text) {
  for (const char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&apos;";
        break;
      default:
        if (c < 0x20 && ch != '\t' && ch != '\n' && ch != '\r') break;  // not representable in XML 1.0
        out += ch;
    }
  }
}

void append_element(std::string& out, const std::string& name, const nlohmann::json& value) {
  if (!xml_name(name)) return;
  if (value.is_array()) {
    for (const auto& item : value) append_element(out, name, item);
    return;
  }
  out += '<';
  out += name;
  if (value.is_object()) {
    for (const auto& [key, member] : value.items()) {
      if (key.size() < 2 || key.front() != '@' || !xml_name(std::string_view(key).substr(1))) continue;
      out += ' ';
      out += key.substr(1);
      out += "=\"";
      append_escaped(out, scalar_text(member));
      out += '"';
    }
    out += '>';
    if (auto text = value.find("$"); text != value.end()) append_escaped(out, scalar_text(*text));
    for (const auto& [key, member] : value.items()) {
      if (key == "$" || key.starts_with('@')) continue;
      append_element(out, key, member);
    }
  } else {
    out += '>';
    append_escaped(out, scalar_text(value));
  }
  out += "</";
  out += name;
  out += '>';
}

}  // namespace

std::string to_xml(const nlohmann::json& document) {
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>";
  if (document.is_object()) {
    for (const auto& [key, value] : document.items()) append_element(out, key, value);
  }
  return out;
}

}  // namespace svckit::eureka
