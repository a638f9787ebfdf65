#include "svckit/registry/registry_decode.hpp"

#include <simdjson.h>
#include <nlohmann/json.hpp>

#include <optional>

#include "core/scratch_json_parser.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/registry/registry_json.hpp"

namespace svckit {

namespace {

namespace sd = simdjson::dom;
using simdjson::SUCCESS;

/// nullopt: the fast path gave up; the DOM path decodes the text again and names what is wrong.
template <class T>
using Fast = std::optional<T>;

Fast<std::int64_t> int_of(sd::element v, std::int64_t lo, std::int64_t hi) {
  std::int64_t n = 0;
  if (!v.is_int64() || v.get_int64().get(n) != SUCCESS || n < lo || n > hi) return std::nullopt;
  return n;
}

/// One instance object, as instance_from_json reads it; nullopt for anything unexpected.
Fast<ServiceInstance> instance_of(sd::object object) {
  ServiceInstance in;
  unsigned seen = 0;  // one bit per key: a duplicate key falls back (the DOM keeps the last one)
  const auto once = [&](unsigned bit) {
    if ((seen & bit) != 0) return false;
    seen |= bit;
    return true;
  };
  for (const auto field : object) {
    const std::string_view key = field.key;
    const sd::element v = field.value;
    std::string* text_target = nullptr;
    unsigned bit = 0;
    if (key == "service") {
      text_target = &in.service, bit = 1u << 0;
    } else if (key == "id") {
      text_target = &in.id, bit = 1u << 1;
    } else if (key == "host") {
      text_target = &in.host, bit = 1u << 2;
    } else if (key == "scheme") {
      text_target = &in.scheme, bit = 1u << 3;
    } else if (key == "zone") {
      text_target = &in.zone, bit = 1u << 4;
    } else if (key == "health_check_path") {
      text_target = &in.health_check_path, bit = 1u << 5;
    }
    if (text_target != nullptr) {
      std::string_view s;
      if (!once(bit) || v.get_string().get(s) != SUCCESS) return std::nullopt;
      text_target->assign(s);
    } else if (key == "port") {
      auto n = int_of(v, 1, 65535);
      if (!n || !once(1u << 6)) return std::nullopt;
      in.port = static_cast<int>(*n);
    } else if (key == "weight") {
      auto n = int_of(v, InstanceLimits::kMinWeight, InstanceLimits::kMaxWeight);
      if (!n || !once(1u << 7)) return std::nullopt;
      in.weight = static_cast<int>(*n);
    } else if (key == "tags") {
      sd::array tags;
      if (!once(1u << 8) || v.get_array().get(tags) != SUCCESS) return std::nullopt;
      in.tags.reserve(tags.size());
      for (const auto tag : tags) {
        std::string_view s;
        if (tag.get_string().get(s) != SUCCESS) return std::nullopt;
        in.tags.emplace_back(s);
      }
    } else if (key == "metadata") {
      sd::object metadata;
      if (!once(1u << 9) || v.get_object().get(metadata) != SUCCESS) return std::nullopt;
      for (const auto entry : metadata) {
        std::string_view mv;
        if (entry.value.get_string().get(mv) != SUCCESS) return std::nullopt;
        if (!in.metadata.emplace(std::string(entry.key), std::string(mv)).second) return std::nullopt;  // twice
      }
    } else if (key == "status") {
      std::string_view s;
      if (!once(1u << 10) || v.get_string().get(s) != SUCCESS) return std::nullopt;
      auto status = parse_instance_status(s);
      if (!status) return std::nullopt;
      in.status = *status;
    } else if (key == "ttl") {
      if (!once(1u << 11)) return std::nullopt;
      std::string_view s;
      if (v.get_string().get(s) == SUCCESS) {
        auto d = parse_duration(s, "ttl");
        if (!d) return std::nullopt;
        in.ttl = *d;
      } else {
        auto secs = int_of(v, 0, 86400);
        if (!secs) return std::nullopt;
        in.ttl = std::chrono::seconds(*secs);
      }
    } else if (key == "registered_at" || key == "last_heartbeat") {
      std::string_view s;
      if (!once(key == "registered_at" ? 1u << 12 : 1u << 13) || v.get_string().get(s) != SUCCESS) {
        return std::nullopt;
      }
      auto t = parse_rfc3339(s, key);
      if (!t) return std::nullopt;
      (key == "registered_at" ? in.registered_at : in.last_heartbeat) = *t;
    } else if (key == "checks") {
      // Rare, and nested: the checks go through the DOM path's own reader.
      sd::array checks;
      if (!once(1u << 14) || v.get_array().get(checks) != SUCCESS) return std::nullopt;
      if (checks.size() == 0) continue;
      nlohmann::json wrapper{{"service", "x"}, {"host", "x"}, {"port", 1}};
      wrapper["checks"] = nlohmann::json::parse(simdjson::minify(checks), nullptr, false);
      auto with_checks = instance_from_json(wrapper);
      if (!with_checks) return std::nullopt;
      in.checks = std::move(with_checks->checks);
    } else {
      return std::nullopt;  // an unknown field: the DOM path names it
    }
  }
  if (in.service.empty() || in.host.empty() || in.port == 0) return std::nullopt;
  in.normalize();
  return in;
}

Fast<std::vector<ServiceInstance>> instances_of(sd::array array) {
  std::vector<ServiceInstance> out;
  out.reserve(array.size());
  for (const auto item : array) {
    sd::object object;
    if (item.get_object().get(object) != SUCCESS) return std::nullopt;
    auto in = instance_of(object);
    if (!in) return std::nullopt;
    out.push_back(std::move(*in));
  }
  return out;
}

Fast<std::vector<ServiceInstance>> fast_instances(std::string_view text, std::string_view field) {
  detail::ScratchJsonParser parser;
  sd::element doc;
  if (parser.parse(text).get(doc) != SUCCESS) return std::nullopt;
  sd::array array;
  if (doc.get_array().get(array) == SUCCESS) return instances_of(array);
  sd::object object;
  if (doc.get_object().get(object) != SUCCESS) return std::nullopt;
  std::optional<std::vector<ServiceInstance>> out;
  for (const auto f : object) {
    if (f.key != field) continue;
    if (out) return std::nullopt;  // the field twice
    if (f.value.get_array().get(array) != SUCCESS) return std::nullopt;
    out = instances_of(array);
    if (!out) return std::nullopt;
  }
  return out;
}

Fast<RegistryEvent> event_of(sd::object object) {
  RegistryEvent e;
  bool has_index = false, has_type = false, has_instance = false;
  for (const auto f : object) {
    const std::string_view key = f.key;
    if (key == "index") {
      if (has_index || !f.value.is_uint64() || f.value.get_uint64().get(e.index) != SUCCESS) return std::nullopt;
      has_index = true;
    } else if (key == "type") {
      std::string_view s;
      if (has_type || f.value.get_string().get(s) != SUCCESS) return std::nullopt;
      auto type = parse_event_type(s);
      if (!type) return std::nullopt;
      e.type = *type;
      has_type = true;
    } else if (key == "instance") {
      sd::object in_object;
      if (has_instance || f.value.get_object().get(in_object) != SUCCESS) return std::nullopt;
      auto in = instance_of(in_object);
      if (!in) return std::nullopt;
      e.instance = std::move(*in);
      has_instance = true;
    } else if (key == "previous_status") {
      std::string_view s;
      if (e.previous_status || f.value.get_string().get(s) != SUCCESS) return std::nullopt;
      e.previous_status = parse_instance_status(s);
      if (!e.previous_status) return std::nullopt;
    } else {
      return std::nullopt;  // what the DOM path would make of it, it says
    }
  }
  if (!has_index || !has_type || !has_instance) return std::nullopt;
  return e;
}

Fast<WatchResult> fast_watch(std::string_view text) {
  detail::ScratchJsonParser parser;
  sd::element doc;
  sd::object object;
  if (parser.parse(text).get(doc) != SUCCESS || doc.get_object().get(object) != SUCCESS) {
    return std::nullopt;
  }
  WatchResult r;
  bool has_index = false, has_reset = false, has_instances = false, has_events = false;
  for (const auto f : object) {
    const std::string_view key = f.key;
    if (key == "index") {
      if (has_index || !f.value.is_uint64() || f.value.get_uint64().get(r.index) != SUCCESS) return std::nullopt;
      has_index = true;
    } else if (key == "reset") {
      if (has_reset || f.value.get_bool().get(r.reset) != SUCCESS) return std::nullopt;
      has_reset = true;
    } else if (key == "instances") {
      sd::array array;
      if (has_instances || f.value.get_array().get(array) != SUCCESS) return std::nullopt;
      auto instances = instances_of(array);
      if (!instances) return std::nullopt;
      r.snapshot = std::move(*instances);
      has_instances = true;
    } else if (key == "events") {
      sd::array array;
      if (has_events || f.value.get_array().get(array) != SUCCESS) return std::nullopt;
      for (const auto item : array) {
        sd::object event_object;
        if (item.get_object().get(event_object) != SUCCESS) return std::nullopt;
        auto e = event_of(event_object);
        if (!e) return std::nullopt;
        r.events.push_back(std::move(*e));
      }
      has_events = true;
    } else {
      return std::nullopt;
    }
  }
  // As the DOM path: the snapshot counts only with reset, and a reset needs its instances.
  if (!has_index || (r.reset && !has_instances)) return std::nullopt;
  if (!r.reset) r.snapshot.clear();
  return r;
}

}  // namespace

Result<std::vector<ServiceInstance>> decode_instances(std::string_view text, std::string_view field) {
  if (auto fast = fast_instances(text, field)) return std::move(*fast);
  auto parsed = parse_json(text);
  if (!parsed) return make_error(ErrorCode::protocol, "an answer that is not JSON: " + parsed.error().message);
  return instances_from_json(*parsed, field);
}

Result<WatchResult> decode_watch_result(std::string_view text) {
  if (auto fast = fast_watch(text)) return std::move(*fast);
  auto parsed = parse_json(text);
  if (!parsed) return make_error(ErrorCode::protocol, "an answer that is not JSON: " + parsed.error().message);
  return watch_result_from_json(*parsed);
}

}  // namespace svckit
