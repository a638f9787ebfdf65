// decode_health_entries: Consul's /v1/health/service answers read with simdjson's parser, mapped
// exactly as instance_from_health_entry maps a DOM entry (consul_json.cpp); an entry with anything
// the fast path does not expect is handed to instance_from_health_entry itself.
#include <simdjson.h>
#include <nlohmann/json.hpp>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/scratch_json_parser.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/registry/consul_json.hpp"

namespace svckit::consul {

namespace {

namespace sd = simdjson::dom;
using simdjson::SUCCESS;

/// The values of the named keys of `object`, in one pass over it: `out[i]` is the value of
/// `names[i]`, `found` has bit i set when it is there. False when a named key appears twice
/// (simdjson would keep the first, a DOM keeps the last, so the DOM decides); other keys, which
/// neither path reads, are skipped.
template <std::size_t N>
bool pick(sd::object object, const std::array<std::string_view, N>& names, std::array<sd::element, N>& out,
          unsigned& found) {
  found = 0;
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string_view key(it.key_c_str(), it.key_length());
    for (std::size_t i = 0; i < N; ++i) {
      const auto& name = names[i];  // length and first byte before the bytes (most keys differ there)
      if (key.size() != name.size() || key.empty() || key[0] != name[0] ||
          std::memcmp(key.data(), name.data(), key.size()) != 0) {
        continue;
      }
      if ((found & (1u << i)) != 0) return false;
      found |= 1u << i;
      out[i] = it.value();
      break;
    }
  }
  return true;
}

/// The string `v` (when `present`), else `fallback`; nullopt when it is there and not a string.
std::optional<std::string_view> string_or(bool present, sd::element v, std::string_view fallback = {}) {
  if (!present) return fallback;
  std::string_view s;
  if (v.get_string().get(s) != SUCCESS) return std::nullopt;
  return s;
}

bool int_in(sd::element v, std::int64_t& out) {
  return v.get_int64().get(out) == SUCCESS && out >= INT32_MIN && out <= INT32_MAX;
}

/// Service.Meta: svckit's own keys into their fields, the rest into metadata; false for anything
/// the DOM mapping reads differently (a non-string value, a key twice).
bool read_meta(sd::object meta, ServiceInstance& in, std::optional<InstanceStatus>& meta_status) {
  unsigned seen = 0;
  for (auto it = meta.begin(); it != meta.end(); ++it) {
    const std::string_view k(it.key_c_str(), it.key_length());
    std::string_view text;
    if (it.value().get_string().get(text) != SUCCESS) return false;  // a non-string: the DOM prints it
    unsigned bit = 0;
    if (k == kZoneMeta) {
      bit = 1;
      in.zone.assign(text);
    } else if (k == kSchemeMeta) {
      bit = 2;
      in.scheme.assign(text);
    } else if (k == kStatusMeta) {
      bit = 4;
      meta_status = parse_instance_status(text);
    } else if (k == kTtlMeta) {
      bit = 8;
      if (auto ttl = parse_go_duration(text, k)) in.ttl = *ttl;
    } else if (k == kRegisteredAtMeta) {
      bit = 16;
      in.registered_at = SystemTime(std::chrono::milliseconds(std::strtoll(std::string(text).c_str(), nullptr, 10)));
    } else {
      const auto before = in.metadata.size();
      in.metadata.emplace_hint(in.metadata.end(), std::string(k), std::string(text));
      if (in.metadata.size() == before) return false;  // the key twice
    }
    if ((seen & bit) != 0) return false;
    seen |= bit;
  }
  return true;
}

/// The status the checks give the entry, as instance_from_health_entry reads them.
struct CheckVerdict {
  bool maintenance = false, critical = false, ttl_expired = false;
  std::optional<InstanceStatus> output_status;
};

bool read_checks(sd::array checks, std::string_view maintenance_id, ServiceInstance& in, HealthEntry& out,
                 CheckVerdict& verdict) {
  static constexpr std::array<std::string_view, 4> kNames{"CheckID", "Status", "Output", "Type"};
  for (auto c_element : checks) {
    sd::object c;
    std::array<sd::element, 4> v;
    unsigned found = 0;
    if (c_element.get_object().get(c) != SUCCESS || !pick(c, kNames, v, found)) return false;
    auto check_id = string_or(found & 1, v[0]);
    auto status = string_or(found & 2, v[1]);
    auto output = string_or(found & 4, v[2]);
    auto type = string_or(found & 8, v[3]);
    if (!check_id || !status || !output || !type) return false;
    if (*type == "ttl") out.ttl_check.assign(*check_id);
    if (*check_id == maintenance_id) {
      verdict.maintenance = true;
      continue;
    }
    if (*type == "ttl" && in.ttl.count() == 0) in.ttl = std::chrono::seconds(1);  // a TTL of unknown length
    if (*status != "critical") continue;
    verdict.critical = true;
    if (output->starts_with(kStatusOutputPrefix)) {
      verdict.output_status = parse_instance_status(output->substr(std::string_view(kStatusOutputPrefix).size()));
    } else if (*type == "ttl" && output->starts_with("TTL expired")) {
      verdict.ttl_expired = true;
    }
  }
  return true;
}

/// One entry, or nullopt when the fast path gives up (the DOM mapping decides then). Each object is
/// walked once, picking the keys the mapping reads (an entry has a few dozen keys).
std::optional<HealthEntry> fast_entry(sd::element entry) {
  static constexpr std::array<std::string_view, 3> kEntry{"Node", "Service", "Checks"};
  static constexpr std::array<std::string_view, 7> kService{"Service", "ID",      "Address", "Port",
                                                            "Tags",    "Weights", "Meta"};
  sd::object e, s;
  std::array<sd::element, 3> ev;
  std::array<sd::element, 7> sv;
  unsigned e_found = 0, s_found = 0;
  if (entry.get_object().get(e) != SUCCESS || !pick(e, kEntry, ev, e_found) || (e_found & 2) == 0 ||
      ev[1].get_object().get(s) != SUCCESS || !pick(s, kService, sv, s_found) || (s_found & 3) != 3) {
    return std::nullopt;
  }
  HealthEntry out;
  ServiceInstance in;
  std::string_view service, id;
  if (sv[0].get_string().get(service) != SUCCESS || sv[1].get_string().get(id) != SUCCESS) return std::nullopt;
  in.service.assign(service);
  in.id.assign(id);
  auto address = string_or(s_found & 4, sv[2]);
  if (!address) return std::nullopt;
  in.host.assign(*address);
  if (in.host.empty() && (e_found & 1) != 0) {
    sd::object node;
    if (ev[0].get_object().get(node) != SUCCESS) return std::nullopt;
    static constexpr std::array<std::string_view, 1> kNode{"Address"};
    std::array<sd::element, 1> nv;
    unsigned n_found = 0;
    if (!pick(node, kNode, nv, n_found)) return std::nullopt;
    auto node_address = string_or(n_found & 1, nv[0]);
    if (!node_address) return std::nullopt;
    in.host.assign(*node_address);
  }
  std::int64_t port = 0;
  if ((s_found & 8) == 0 || !int_in(sv[3], port)) return std::nullopt;
  in.port = static_cast<int>(port);
  if ((s_found & 16) != 0 && sv[4].is_array()) {
    for (auto tag : sd::array(sv[4])) {
      std::string_view t;
      if (tag.get_string().get(t) != SUCCESS) return std::nullopt;
      in.tags.emplace_back(t);
    }
  }
  if ((s_found & 32) != 0 && sv[5].is_object()) {
    static constexpr std::array<std::string_view, 1> kWeights{"Passing"};
    std::array<sd::element, 1> wv;
    unsigned w_found = 0;
    if (!pick(sd::object(sv[5]), kWeights, wv, w_found)) return std::nullopt;
    std::int64_t w = 0;
    if ((w_found & 1) != 0) {
      if (!int_in(wv[0], w)) return std::nullopt;
      in.weight = static_cast<int>(w);
    }
  }
  std::optional<InstanceStatus> meta_status;
  if ((s_found & 64) != 0 && sv[6].is_object() && !read_meta(sd::object(sv[6]), in, meta_status)) return std::nullopt;
  CheckVerdict verdict;
  if ((e_found & 4) != 0 && ev[2].is_array() &&
      !read_checks(sd::array(ev[2]), maintenance_check_id(in.id), in, out, verdict)) {
    return std::nullopt;
  }
  if (verdict.maintenance) {
    in.status = InstanceStatus::maintenance;
  } else if (verdict.critical) {
    in.status = verdict.output_status ? *verdict.output_status
                : verdict.ttl_expired ? InstanceStatus::down
                                      : InstanceStatus::unhealthy;
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
