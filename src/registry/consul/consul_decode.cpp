// decode_health_entries: Consul's /v1/health/service answers read with simdjson's parser, mapped
// exactly as instance_from_health_entry maps a DOM entry (consul_json.cpp); an entry with anything
// the fast path does not expect is handed to instance_from_health_entry itself.
#include <simdjson.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "core/scratch_json_parser.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/registry/consul_json.hpp"

namespace svckit::consul {

namespace {

namespace sd = simdjson::dom;
using simdjson::SUCCESS;

/// The string under `key` of `object`; `fallback` when absent; nullopt when it is not a string.
std::optional<std::string_view> string_at(sd::object object, std::string_view key, std::string_view fallback = {}) {
  sd::element v;
  if (object.at_key(key).get(v) != SUCCESS) return fallback;
  std::string_view s;
  if (v.get_string().get(s) != SUCCESS) return std::nullopt;
  return s;
}

/// False when a key appears twice: simdjson finds the first, a DOM keeps the last, so the DOM decides.
/// Keys are told apart by length and first and last byte before their bytes are compared (an
/// entry has a few dozen keys, compared pairwise on every answer).
bool unique_keys(sd::object object) {
  struct Seen {
    std::uint32_t print;
    std::string_view key;
  };
  std::vector<Seen> seen;
  seen.reserve(32);
  for (auto [key, value] : object) {
    (void)value;
    const auto print = key.empty() ? 0U
                                   : static_cast<std::uint32_t>(key.size()) << 16 |
                                         static_cast<std::uint32_t>(static_cast<unsigned char>(key.front())) << 8 |
                                         static_cast<unsigned char>(key.back());
    for (const auto& s : seen) {
      if (s.print == print && s.key == key) return false;
    }
    seen.push_back({print, key});
  }
  return true;
}

/// One entry, or nullopt when the fast path gives up (the DOM mapping decides then).
std::optional<HealthEntry> fast_entry(sd::element entry) {
  sd::object e, s;
  if (entry.get_object().get(e) != SUCCESS || !unique_keys(e) || e.at_key("Service").get_object().get(s) != SUCCESS ||
      !unique_keys(s)) {
    return std::nullopt;
  }
  HealthEntry out;
  ServiceInstance in;
  std::string_view service, id;
  if (s.at_key("Service").get_string().get(service) != SUCCESS || s.at_key("ID").get_string().get(id) != SUCCESS) {
    return std::nullopt;
  }
  in.service.assign(service);
  in.id.assign(id);
  auto address = string_at(s, "Address");
  if (!address) return std::nullopt;
  in.host.assign(*address);
  if (in.host.empty()) {
    sd::object node;
    if (e.at_key("Node").get_object().get(node) == SUCCESS) {
      if (!unique_keys(node)) return std::nullopt;
      auto node_address = string_at(node, "Address");
      if (!node_address) return std::nullopt;
      in.host.assign(*node_address);
    } else if (e.at_key("Node").error() != simdjson::NO_SUCH_FIELD) {
      return std::nullopt;
    }
  }
  std::int64_t port = 0;
  if (s.at_key("Port").get_int64().get(port) != SUCCESS || port < INT32_MIN || port > INT32_MAX) return std::nullopt;
  in.port = static_cast<int>(port);
  sd::element tags;
  if (s.at_key("Tags").get(tags) == SUCCESS && tags.is_array()) {
    for (auto tag : sd::array(tags)) {
      std::string_view t;
      if (tag.get_string().get(t) != SUCCESS) return std::nullopt;
      in.tags.emplace_back(t);
    }
  }
  sd::element weights;
  if (s.at_key("Weights").get(weights) == SUCCESS && weights.is_object()) {
    if (!unique_keys(sd::object(weights))) return std::nullopt;
    sd::element passing;
    if (sd::object(weights).at_key("Passing").get(passing) == SUCCESS) {
      std::int64_t w = 0;
      if (passing.get_int64().get(w) != SUCCESS || w < INT32_MIN || w > INT32_MAX) return std::nullopt;
      in.weight = static_cast<int>(w);
    }
  }
  std::optional<InstanceStatus> meta_status;
  sd::element meta;
  if (s.at_key("Meta").get(meta) == SUCCESS && meta.is_object()) {
    if (!unique_keys(sd::object(meta))) return std::nullopt;
    for (auto [k, v] : sd::object(meta)) {
      std::string_view text_view;
      if (v.get_string().get(text_view) != SUCCESS) return std::nullopt;  // a non-string: the DOM prints it
      const std::string text(text_view);
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
        in.metadata[std::string(k)] = text;
      }
    }
  }
  bool maintenance = false, critical = false, ttl_expired = false;
  std::optional<InstanceStatus> output_status;
  const auto maintenance_id = maintenance_check_id(in.id);
  sd::element checks;
  if (e.at_key("Checks").get(checks) == SUCCESS && checks.is_array()) {
    for (auto c_element : sd::array(checks)) {
      sd::object c;
      if (c_element.get_object().get(c) != SUCCESS || !unique_keys(c)) return std::nullopt;
      auto check_id = string_at(c, "CheckID");
      auto status = string_at(c, "Status");
      auto output = string_at(c, "Output");
      auto type = string_at(c, "Type");
      if (!check_id || !status || !output || !type) return std::nullopt;
      if (*type == "ttl") out.ttl_check.assign(*check_id);
      if (*check_id == maintenance_id) {
        maintenance = true;
        continue;
      }
      if (*type == "ttl" && in.ttl.count() == 0) in.ttl = std::chrono::seconds(1);  // a TTL of unknown length
      if (*status != "critical") continue;
      critical = true;
      if (output->starts_with(kStatusOutputPrefix)) {
        output_status = parse_instance_status(output->substr(std::string_view(kStatusOutputPrefix).size()));
      } else if (*type == "ttl" && output->starts_with("TTL expired")) {
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
  out.instance = std::move(in);
  return out;
}

/// The DOM mapping of one entry (what fast_entry falls back to).
HealthEntry dom_entry(const nlohmann::json& item) {
  HealthEntry out;
  if (auto in = instance_from_health_entry(item)) out.instance = std::move(*in);
  if (item.is_object() && item.contains("Checks") && item["Checks"].is_array()) {
    for (const auto& c : item["Checks"]) {
      if (c.is_object() && c.value("Type", nlohmann::json()) == "ttl" && c.contains("CheckID") &&
          c["CheckID"].is_string()) {
        out.ttl_check = c["CheckID"].get<std::string>();
      }
    }
  }
  return out;
}

}  // namespace

Result<std::vector<HealthEntry>> decode_health_entries(std::string_view text) {
  detail::ScratchJsonParser parser;
  sd::element doc;
  sd::array array;
  if (parser.parse(text).get(doc) != SUCCESS || doc.get_array().get(array) != SUCCESS) {
    // Not what simdjson reads as an array: the DOM has the last word (and the error).
    const auto parsed = parse_json_or_discarded(text);
    if (!parsed.is_array()) return make_error(ErrorCode::protocol, "consul: health answer is not an array");
    std::vector<HealthEntry> out;
    for (const auto& item : parsed) out.push_back(dom_entry(item));
    return out;
  }
  std::vector<HealthEntry> out;
  out.reserve(array.size());
  for (auto item : array) {
    if (auto fast = fast_entry(item)) {
      out.push_back(std::move(*fast));
    } else {
      out.push_back(dom_entry(nlohmann::json::parse(simdjson::minify(item), nullptr, false)));
    }
  }
  return out;
}

}  // namespace svckit::consul
