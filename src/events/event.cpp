#include "svckit/events/event.hpp"

#include "svckit/core/instance_json.hpp"
#include "svckit/core/service_instance.hpp"
#include "svckit/trace/tracer.hpp"

namespace svckit::events {
namespace {

constexpr std::size_t kMaxDataBytes = std::size_t{1} << 20;
constexpr std::size_t kMaxTypeLength = 255;

Error bad(const std::string& message, const std::string& field) {
  return make_error(ErrorCode::invalid_argument, message, field);
}

bool segment_ok(std::string_view segment) {
  if (segment.empty()) return false;
  for (const char c : segment) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

/// Calls f(segment) for each dot-separated segment; stops (false) when f does.
template <class F>
bool each_segment(std::string_view text, F f) {
  std::size_t start = 0;
  for (;;) {
    const auto dot = text.find('.', start);
    if (!f(text.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::string read_string(const nlohmann::json& json, const char* key) {
  auto it = json.find(key);
  return it != json.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

Result<void> validate(const Event& event) {
  if (event.type.empty() || event.type.size() > kMaxTypeLength || !each_segment(event.type, segment_ok)) {
    return bad("type must be dot-separated segments of [a-z0-9_-] (at most 255 characters), got '" + event.type + "'",
               "type");
  }
  if (!event.source.empty()) {
    if (auto r = validate_service_name(event.source, "source"); !r) return r;
  }
  if (!event.target.empty()) {
    if (auto r = validate_service_name(event.target, "target"); !r) return r;
  }
  if (event.id.size() > 128) return bad("id is longer than 128 characters", "id");
  if (event.traceparent.size() > 128) return bad("traceparent is longer than 128 characters", "traceparent");
  if (!event.tracestate.empty() && event.traceparent.empty()) {
    return bad("a tracestate needs a traceparent", "tracestate");
  }
  if (!trace::valid_tracestate(event.tracestate)) {
    return bad("tracestate must be a W3C tracestate (at most 32 key=value members, 512 characters)", "tracestate");
  }
  if (event.data.dump().size() > kMaxDataBytes) return bad("data is larger than 1 MiB", "data");
  return {};
}

Result<void> validate_pattern(std::string_view pattern) {
  std::size_t segments = 0;
  bool rest_seen = false;
  const bool ok =
      !pattern.empty() && pattern.size() <= kMaxTypeLength && each_segment(pattern, [&](std::string_view s) {
        ++segments;
        if (rest_seen) return false;  // '>' must be last
        if (s == ">") {
          rest_seen = true;
          return true;
        }
        return s == "*" || segment_ok(s);
      });
  if (!ok) {
    return bad(
        "pattern must be dot-separated segments of [a-z0-9_-], '*' (one segment) or a last '>' (the rest), got '" +
            std::string(pattern) + "'",
        "pattern");
  }
  return {};
}

bool pattern_matches(std::string_view pattern, std::string_view type) noexcept {
  for (;;) {
    const auto pdot = pattern.find('.');
    const auto p = pattern.substr(0, pdot);
    if (p == ">") return !type.empty();
    const auto tdot = type.find('.');
    const auto t = type.substr(0, tdot);
    if (type.empty() || (p != "*" && p != t)) return false;
    const bool pattern_ends = pdot == std::string_view::npos;
    const bool type_ends = tdot == std::string_view::npos;
    if (pattern_ends || type_ends) return pattern_ends && type_ends;
    pattern.remove_prefix(pdot + 1);
    type.remove_prefix(tdot + 1);
  }
}

nlohmann::json to_json(const Event& event) {
  nlohmann::json out{{"id", event.id},
                     {"type", event.type},
                     {"source", event.source},
                     {"target", event.target},
                     {"priority", std::string(svckit::to_string(event.priority))},
                     {"time", format_rfc3339(event.time)},
                     {"traceparent", event.traceparent},
                     {"data", event.data}};
  if (!event.tracestate.empty()) out["tracestate"] = event.tracestate;
  return out;
}

Result<Event> event_from_json(const nlohmann::json& json) {
  if (!json.is_object()) return bad("an event must be a JSON object", "event");
  Event event;
  event.id = read_string(json, "id");
  event.type = read_string(json, "type");
  event.source = read_string(json, "source");
  event.target = read_string(json, "target");
  event.traceparent = read_string(json, "traceparent");
  event.tracestate = read_string(json, "tracestate");
  if (auto p = json.find("priority"); p != json.end()) {
    auto priority = p->is_string() ? svckit::parse_priority(p->get<std::string>()) : std::nullopt;
    if (!priority) return bad("priority must be high, medium or low", "priority");
    event.priority = *priority;
  }
  if (auto t = json.find("time"); t != json.end()) {
    if (!t->is_string()) return bad("time must be an RFC 3339 string", "time");
    auto time = parse_rfc3339(t->get<std::string>(), "time");
    if (!time) return time.error();
    event.time = *time;
  }
  if (auto d = json.find("data"); d != json.end()) event.data = *d;
  if (event.id.empty()) return bad("an event read from a broker needs its id", "id");
  if (auto v = validate(event); !v) return v.error();
  return event;
}

DedupeWindow::DedupeWindow(const TimeSource& time, std::chrono::milliseconds window, std::size_t max_ids)
    : time_(time), window_(window), max_ids_(max_ids == 0 ? 1 : max_ids) {}

void DedupeWindow::forget_old(SteadyTime now) {
  while (!order_.empty() && (order_.front().first + window_ <= now || order_.size() > max_ids_)) {
    auto it = when_.find(order_.front().second);
    if (it != when_.end() && it->second == order_.front().first) when_.erase(it);
    order_.pop_front();
  }
}

bool DedupeWindow::seen(const std::string& id) {
  const auto now = time_.steady_now();
  forget_old(now);
  if (auto it = when_.find(id); it != when_.end()) return true;
  when_[id] = now;
  order_.emplace_back(now, id);
  forget_old(now);
  return false;
}

}  // namespace svckit::events
