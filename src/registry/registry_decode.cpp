#include "svckit/registry/registry_decode.hpp"

#include <simdjson.h>
#include <nlohmann/json.hpp>

#include <cstring>
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

/// The fields of an instance object, named by its key.
enum class Field {
  unknown,
  service,
  id,
  host,
  scheme,
  zone,
  health_check_path,
  port,
  weight,
  tags,
  metadata,
  status,
  ttl,
  registered_at,
  last_heartbeat,
  checks
};

/// `key` (of the literal's length, already checked) is the literal: a compare of known length the
/// compiler turns into a load or two, not a call.
template <std::size_t N>
bool same(std::string_view key, const char (&literal)[N]) noexcept {
  return std::memcmp(key.data(), literal, N - 1) == 0;
}

/// One comparison per key (by length first) instead of a chain of them: a list of 2,000 instances
/// has 26,000 keys.
Field field_of(std::string_view key) noexcept {
  switch (key.size()) {
    case 2:
      return same(key, "id") ? Field::id : Field::unknown;
    case 3:
      return same(key, "ttl") ? Field::ttl : Field::unknown;
    case 4:
      if (same(key, "host")) return Field::host;
      if (same(key, "port")) return Field::port;
      if (same(key, "tags")) return Field::tags;
      return same(key, "zone") ? Field::zone : Field::unknown;
    case 6:
      if (same(key, "scheme")) return Field::scheme;
      if (same(key, "status")) return Field::status;
      if (same(key, "weight")) return Field::weight;
      return same(key, "checks") ? Field::checks : Field::unknown;
    case 7:
      return same(key, "service") ? Field::service : Field::unknown;
    case 8:
      return same(key, "metadata") ? Field::metadata : Field::unknown;
    case 13:
      return same(key, "registered_at") ? Field::registered_at : Field::unknown;
    case 14:
      return same(key, "last_heartbeat") ? Field::last_heartbeat : Field::unknown;
    case 17:
      return same(key, "health_check_path") ? Field::health_check_path : Field::unknown;
    default:
      return Field::unknown;
  }
}

/// Reads a number field; false when it is not an integer in [lo, hi].
template <class T>
bool read_int(sd::element v, std::int64_t lo, std::int64_t hi, T& out) {
  auto n = int_of(v, lo, hi);
  if (!n) return false;
  out = static_cast<T>(*n);
  return true;
}

bool read_tags(sd::element v, std::vector<std::string>& out) {
  sd::array tags;
  if (v.get_array().get(tags) != SUCCESS) return false;
  out.reserve(tags.size());
  for (const auto tag : tags) {
    std::string_view s;
    if (tag.get_string().get(s) != SUCCESS) return false;
    out.emplace_back(s);
  }
  return true;
}

bool read_metadata(sd::element v, std::map<std::string, std::string>& out) {
  sd::object metadata;
  if (v.get_object().get(metadata) != SUCCESS) return false;
  for (auto m = metadata.begin(); m != metadata.end(); ++m) {
    std::string_view value;
    if (m.value().get_string().get(value) != SUCCESS) return false;
    // svckitd writes the keys sorted: with the end as hint each insert takes constant time.
    const auto before = out.size();
    out.emplace_hint(out.end(), std::string(m.key_c_str(), m.key_length()), std::string(value));
    if (out.size() == before) return false;  // the key twice
  }
  return true;
}

bool read_ttl(sd::element v, std::chrono::milliseconds& out) {
  std::string_view s;
  if (v.get_string().get(s) == SUCCESS) {
    auto d = parse_duration(s, "ttl");
    if (!d) return false;
    out = *d;
    return true;
  }
  std::int64_t secs = 0;
  if (!read_int(v, 0, 86400, secs)) return false;
  out = std::chrono::seconds(secs);
  return true;
}

bool read_time(sd::element v, std::string_view field, SystemTime& out) {
  std::string_view s;
  if (v.get_string().get(s) != SUCCESS) return false;
  auto t = parse_rfc3339(s, field);
  if (!t) return false;
  out = *t;
  return true;
}

/// Rare, and nested: the checks go through the DOM path's own reader.
bool read_checks(sd::element v, std::vector<HealthCheckSpec>& out) {
  sd::array checks;
  if (v.get_array().get(checks) != SUCCESS) return false;
  if (checks.size() == 0) return true;
  nlohmann::json wrapper{{"service", "x"}, {"host", "x"}, {"port", 1}};
  wrapper["checks"] = nlohmann::json::parse(simdjson::minify(checks), nullptr, false);
  auto with_checks = instance_from_json(wrapper);
  if (!with_checks) return false;
  out = std::move(with_checks->checks);
  return true;
}

bool read_text(sd::element v, std::string& out) {
  std::string_view s;
  if (v.get_string().get(s) != SUCCESS) return false;
  out.assign(s);
  return true;
}

bool read_status(sd::element v, InstanceStatus& out) {
  std::string_view s;
  if (v.get_string().get(s) != SUCCESS) return false;
  auto status = parse_instance_status(s);
  if (!status) return false;
  out = *status;
  return true;
}

bool read_field(Field field, std::string_view key, sd::element v, ServiceInstance& in) {
  switch (field) {
    case Field::service:
      return read_text(v, in.service);
    case Field::id:
      return read_text(v, in.id);
    case Field::host:
      return read_text(v, in.host);
    case Field::scheme:
      return read_text(v, in.scheme);
    case Field::zone:
      return read_text(v, in.zone);
    case Field::health_check_path:
      return read_text(v, in.health_check_path);
    case Field::port:
      return read_int(v, 1, 65535, in.port);
    case Field::weight:
      return read_int(v, InstanceLimits::kMinWeight, InstanceLimits::kMaxWeight, in.weight);
    case Field::tags:
      return read_tags(v, in.tags);
    case Field::metadata:
      return read_metadata(v, in.metadata);
    case Field::status:
      return read_status(v, in.status);
    case Field::ttl:
      return read_ttl(v, in.ttl);
    case Field::registered_at:
      return read_time(v, key, in.registered_at);
    case Field::last_heartbeat:
      return read_time(v, key, in.last_heartbeat);
    case Field::checks:
      return read_checks(v, in.checks);
    case Field::unknown:
      return false;
  }
  return false;
}

/// Reads one instance object into `in` (default-constructed), as instance_from_json reads it; false
/// for anything unexpected (an unknown or repeated field, a wrong type), which the DOM path names.
bool read_instance(sd::object object, ServiceInstance& in) {
  unsigned seen = 0;  // one bit per field: a duplicate key falls back (the DOM keeps the last one)
  // The iterator's key_c_str()/key_length()/value() rather than a range-for: the key_value_pair a
  // range-for builds per field cost a store-forwarding stall on every key.
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string_view key(it.key_c_str(), it.key_length());
    const Field field = field_of(key);
    const unsigned bit = 1u << static_cast<unsigned>(field);
    if (field == Field::unknown || (seen & bit) != 0) return false;
    seen |= bit;
    if (!read_field(field, key, it.value(), in)) return false;
  }
  if (in.service.empty() || in.host.empty() || in.port == 0) return false;
  in.normalize();
  return true;
}

Fast<ServiceInstance> instance_of(sd::object object) {
  ServiceInstance in;
  if (!read_instance(object, in)) return std::nullopt;
  return in;
}

Fast<std::vector<ServiceInstance>> instances_of(sd::array array) {
  std::vector<ServiceInstance> out;
  out.reserve(array.size());
  for (const auto item : array) {
    sd::object object;
    if (item.get_object().get(object) != SUCCESS) return std::nullopt;
    if (!read_instance(object, out.emplace_back())) return std::nullopt;  // built in place: no move
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
