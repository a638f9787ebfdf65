// Events between services: the envelope every EventBus backend carries (Event), its JSON form
// (what goes over a broker), type patterns, and the de-duplication window subscribers use.
// Pure logic; no I/O.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

#include "svckit/core/priority.hpp"  // events and tasks share high / medium / low
#include "svckit/core/result.hpp"
#include "svckit/core/time_source.hpp"

namespace svckit::events {

using svckit::Priority;

/// One event. publish() fills `id` (when empty) and `time`.
struct Event {
  Event() = default;  // not an aggregate: see the GCC 12 note in registry/registry.hpp

  std::string id;      // unique per event: subscribers de-duplicate by it
  std::string type;    // dot-separated segments of [a-z0-9_-]: "orders.created"
  std::string source;  // the publishing service
  std::string target;  // a service name: only its subscribers get it ("" = every subscriber)
  Priority priority = Priority::medium;
  SystemTime time{};
  std::string traceparent;  // W3C trace context of the publisher's span ("" = none)
  std::string tracestate;   // W3C tracestate that came with it ("" = none), carried unchanged
  nlohmann::json data;      // the payload; at most 1 MiB encoded
};

/// Checks type, source/target names, id, traceparent and the payload size; errors name the field.
Result<void> validate(const Event& event);

/// A subscription pattern: an exact type, `*` for one segment, `>` (last) for one or more
/// ("orders.*" matches "orders.created"; "orders.>" also "orders.line.added"). Errors name
/// `pattern`.
Result<void> validate_pattern(std::string_view pattern);
bool pattern_matches(std::string_view pattern, std::string_view type) noexcept;

/// The envelope as JSON (what brokers carry): {"id","type","source","target","priority","time"
/// (RFC 3339 ms),"traceparent","tracestate" (when set),"data"}. Decoding validates; errors name the field.
nlohmann::json to_json(const Event& event);
Result<Event> event_from_json(const nlohmann::json& json);

/// Ids seen within `window` (by the TimeSource): seen() answers whether an id came already and
/// remembers it. Bounded by `max_ids` (the oldest are forgotten first). Not thread-safe.
class DedupeWindow {
 public:
  DedupeWindow(const TimeSource& time, std::chrono::milliseconds window, std::size_t max_ids = 100'000);
  /// True when `id` was seen within the window (a duplicate); otherwise records it.
  bool seen(const std::string& id);
  std::size_t size() const { return when_.size(); }

 private:
  void forget_old(SteadyTime now);
  const TimeSource& time_;
  std::chrono::milliseconds window_;
  std::size_t max_ids_;
  std::deque<std::pair<SteadyTime, std::string>> order_;
  std::unordered_map<std::string, SteadyTime> when_;
};

}  // namespace svckit::events
