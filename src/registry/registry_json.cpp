#include "svckit/registry/registry_json.hpp"

#include <nlohmann/json.hpp>

#include "svckit/core/instance_json.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit {

using nlohmann::json;

json to_json(const RegistryEvent& e) {
  json j{{"index", e.index}, {"type", std::string(to_string(e.type))}, {"instance", to_json(e.instance)}};
  if (e.previous_status) j["previous_status"] = std::string(to_string(*e.previous_status));
  return j;
}

json to_json(const WatchResult& r) {
  json j{{"index", r.index}, {"reset", r.reset}};
  if (r.reset) {
    json instances = json::array();
    for (const auto& in : r.snapshot) instances.push_back(to_json(in));
    j["instances"] = std::move(instances);
  }
  json events = json::array();
  for (const auto& e : r.events) events.push_back(to_json(e));
  j["events"] = std::move(events);
  return j;
}

void append_json(std::string& out, const WatchResult& r) {
  // Keys in lexicographic order, as nlohmann::json would print them.
  out += "{\"events\":[";
  for (std::size_t i = 0; i < r.events.size(); ++i) {
    const auto& e = r.events[i];
    if (i > 0) out += ',';
    out += "{\"index\":" + std::to_string(e.index) + ",\"instance\":";
    append_json(out, e.instance);
    if (e.previous_status) out += ",\"previous_status\":\"" + std::string(to_string(*e.previous_status)) + "\"";
    out += ",\"type\":\"" + std::string(to_string(e.type)) + "\"}";
  }
  out += "],\"index\":" + std::to_string(r.index);
  if (r.reset) {
    out += ",\"instances\":[";
    for (std::size_t i = 0; i < r.snapshot.size(); ++i) {
      if (i > 0) out += ',';
      append_json(out, r.snapshot[i]);
    }
    out += ']';
  }
  out += r.reset ? ",\"reset\":true}" : ",\"reset\":false}";
}

json to_json(const ServiceSummary& s) {
  return json{{"name", s.name}, {"instances", s.instances}, {"healthy", s.healthy}};
}

namespace {
Error bad(std::string_view field, std::string_view expected) {
  return make_error(ErrorCode::protocol, std::string(field) + " must be " + std::string(expected), std::string(field));
}
}  // namespace

Result<std::vector<ServiceInstance>> instances_from_json(const json& j, std::string_view field) {
  const json* array = &j;
  if (j.is_object() && j.contains(field)) array = &j.at(std::string(field));
  if (!array->is_array()) return bad(field, "an array of instances");
  std::vector<ServiceInstance> out;
  out.reserve(array->size());
  for (const auto& item : *array) {
    auto in = instance_from_json(item);
    if (!in) return in.error();
    out.push_back(std::move(*in));
  }
  return out;
}

Result<RegistryEvent> event_from_json(const json& j) {
  if (!j.is_object()) return bad("event", "an object");
  RegistryEvent e;
  if (!j.contains("index") || !j["index"].is_number_unsigned()) return bad("index", "an unsigned integer");
  e.index = j["index"].get<std::uint64_t>();
  auto type =
      j.contains("type") && j["type"].is_string() ? parse_event_type(j["type"].get<std::string>()) : std::nullopt;
  if (!type) return bad("type", "an event type");
  e.type = *type;
  if (!j.contains("instance")) return bad("instance", "an instance");
  auto in = instance_from_json(j["instance"]);
  if (!in) return in.error();
  e.instance = std::move(*in);
  if (j.contains("previous_status")) {
    auto s = j["previous_status"].is_string() ? parse_instance_status(j["previous_status"].get<std::string>())
                                              : std::nullopt;
    if (!s) return bad("previous_status", "a status");
    e.previous_status = *s;
  }
  return e;
}

Result<WatchResult> watch_result_from_json(const json& j) {
  if (!j.is_object()) return bad("body", "an object");
  WatchResult r;
  if (!j.contains("index") || !j["index"].is_number_unsigned()) return bad("index", "an unsigned integer");
  r.index = j["index"].get<std::uint64_t>();
  if (j.contains("reset") && !j["reset"].is_boolean()) return bad("reset", "true or false");
  r.reset = j.value("reset", false);
  if (r.reset) {
    auto instances = instances_from_json(j, "instances");
    if (!instances) return instances.error();
    r.snapshot = std::move(*instances);
  }
  if (j.contains("events")) {
    if (!j["events"].is_array()) return bad("events", "an array");
    for (const auto& item : j["events"]) {
      auto e = event_from_json(item);
      if (!e) return e.error();
      r.events.push_back(std::move(*e));
    }
  }
  return r;
}

Result<ServiceSummary> summary_from_json(const json& j) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) return bad("name", "a string");
  ServiceSummary s;
  s.name = j["name"].get<std::string>();
  s.instances = j.value("instances", std::size_t{0});
  s.healthy = j.value("healthy", std::size_t{0});
  return s;
}

Result<InstanceFilter> filter_from_query(const std::multimap<std::string, std::string>& query) {
  InstanceFilter f;
  for (const auto& [key, value] : query) {
    if (key == "status") {
      auto s = parse_instance_status(value);
      if (!s) {
        return make_error(ErrorCode::invalid_argument,
                          "status must be one of starting, healthy, unhealthy, maintenance, down; got '" + value + "'",
                          "status");
      }
      f.status = *s;
    } else if (key == "tag") {
      f.tags.push_back(value);
    } else if (key == "zone") {
      f.zone = value;
    } else if (key.rfind("meta.", 0) == 0 && key.size() > 5) {
      f.metadata[key.substr(5)] = value;
    }
  }
  return f;
}

std::string filter_to_query(const InstanceFilter& f) {
  std::string q;
  auto add = [&](const std::string& key, const std::string& value) {
    if (!q.empty()) q += '&';
    q += net::url_encode(key) + "=" + net::url_encode(value);
  };
  if (f.status) add("status", std::string(to_string(*f.status)));
  for (const auto& t : f.tags) add("tag", t);
  if (!f.zone.empty()) add("zone", f.zone);
  for (const auto& [k, v] : f.metadata) add("meta." + k, v);
  return q;
}

}  // namespace svckit
