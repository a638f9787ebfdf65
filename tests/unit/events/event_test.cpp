// The event envelope: type and pattern rules, pattern matching, the JSON form every broker
// carries (round trip and refusals naming the field), and the de-duplication window in virtual time.
#include "svckit/events/event.hpp"

#include <gtest/gtest.h>

#include "svckit/testing/simulated_clock.hpp"

namespace svckit::events {
namespace {

using namespace std::chrono_literals;

TEST(EventPatterns, ExactStarAndRestMatchWholeSegments) {
  EXPECT_TRUE(pattern_matches("orders.created", "orders.created"));
  EXPECT_FALSE(pattern_matches("orders.created", "orders.created.v2"));
  EXPECT_TRUE(pattern_matches("orders.*", "orders.created"));
  EXPECT_FALSE(pattern_matches("orders.*", "orders"));
  EXPECT_FALSE(pattern_matches("orders.*", "orders.line.added"));
  EXPECT_TRUE(pattern_matches("orders.>", "orders.line.added"));
  EXPECT_TRUE(pattern_matches("orders.>", "orders.created"));
  EXPECT_FALSE(pattern_matches("orders.>", "orders"));
  EXPECT_TRUE(pattern_matches("*.created", "users.created"));
  EXPECT_FALSE(pattern_matches("*.created", "users.deleted"));
  EXPECT_TRUE(pattern_matches(">", "anything.at.all"));
  EXPECT_FALSE(pattern_matches("order", "orders")) << "segments match whole";
  for (const auto* ok : {"orders.created", "orders.*", "orders.>", ">", "*", "a_b-c.*.d"}) {
    EXPECT_TRUE(validate_pattern(ok)) << ok;
  }
  for (const auto* bad : {"", "orders.", ".orders", "orders..x", "orders.>.x", "Orders", "orders.cre ated", "o*"}) {
    auto r = validate_pattern(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().field, "pattern") << bad;
  }
}

TEST(EventEnvelope, RoundTripsThroughJsonAndRefusesBadFieldsByName) {
  Event e;
  e.id = "0123abcd";
  e.type = "orders.created";
  e.source = "shop";
  e.target = "billing";
  e.priority = Priority::high;
  e.time = SystemTime(std::chrono::milliseconds(1767225600123));
  e.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  e.data = {{"order", 42}, {"lines", {1, 2}}};
  auto back = event_from_json(to_json(e));
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_EQ(back->id, e.id);
  EXPECT_EQ(back->type, e.type);
  EXPECT_EQ(back->source, e.source);
  EXPECT_EQ(back->target, e.target);
  EXPECT_EQ(back->priority, Priority::high);
  EXPECT_EQ(back->time, e.time);
  EXPECT_EQ(back->traceparent, e.traceparent);
  EXPECT_EQ(back->tracestate, "") << "none given, none invented";
  EXPECT_FALSE(to_json(e).contains("tracestate"));
  EXPECT_EQ(back->data, e.data);
  Event with_state = e;
  with_state.tracestate = "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE";
  EXPECT_EQ(event_from_json(to_json(with_state))->tracestate, with_state.tracestate);
  with_state.tracestate = "Not A State";
  EXPECT_EQ(validate(with_state).error().field, "tracestate");
  with_state.tracestate = "k=v";
  with_state.traceparent.clear();
  EXPECT_EQ(validate(with_state).error().field, "tracestate") << "a tracestate alone belongs to no trace";

  auto refused = [](nlohmann::json j) {
    auto r = event_from_json(j);
    return r ? std::string("accepted") : r.error().field;
  };
  auto good = to_json(e);
  auto j = good;
  j["type"] = "Orders Created";
  EXPECT_EQ(refused(j), "type");
  j = good;
  j["priority"] = "urgent";
  EXPECT_EQ(refused(j), "priority");
  j = good;
  j["time"] = "yesterday";
  EXPECT_EQ(refused(j), "time");
  j = good;
  j.erase("id");
  EXPECT_EQ(refused(j), "id");
  j = good;
  j["target"] = "no spaces allowed";
  EXPECT_EQ(refused(j), "target");
  EXPECT_EQ(refused(nlohmann::json::array()), "event");
  Event big = e;
  big.data = std::string(std::size_t{1} << 20, 'x');
  EXPECT_EQ(validate(big).error().field, "data");
}

TEST(DedupeWindow, AnIdIsADuplicateWithinTheWindowOnlyAndTheWindowIsBounded) {
  testing::SimulatedClock clock;
  DedupeWindow window(clock, 10s, 3);
  EXPECT_FALSE(window.seen("a"));
  EXPECT_TRUE(window.seen("a"));
  clock.advance(9s);
  EXPECT_TRUE(window.seen("a"));
  clock.advance(1s);
  EXPECT_FALSE(window.seen("a")) << "the window passed: new again";
  EXPECT_FALSE(window.seen("b"));
  EXPECT_FALSE(window.seen("c"));
  EXPECT_FALSE(window.seen("d"));  // max 3 ids: "a" is forgotten first
  EXPECT_EQ(window.size(), 3u);
  EXPECT_FALSE(window.seen("a"));
  EXPECT_TRUE(window.seen("d"));
}

}  // namespace
}  // namespace svckit::events
