#include "daemon/packed_span.hpp"

#include <gtest/gtest.h>

namespace svckit::daemon {
namespace {

trace::SpanData full_span() {
  trace::SpanData s;
  s.context.trace_id = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};
  s.context.span_id = {0xa, 0xb, 0xc, 0xd, 0xe, 0xf, 0x10, 0x11};
  s.context.sampled = true;
  s.context.tracestate = "vendor=opaque,other=x";
  s.parent_span_id = {9, 9, 9, 9, 9, 9, 9, 9};
  s.name = "GET /orders/{id}";
  s.kind = trace::SpanKind::client;
  s.start_unix_ns = -5;  // any value, kept as it is
  s.end_unix_ns = 1'765'000'000'123'456'789;
  s.status = trace::StatusCode::error;
  s.status_message = std::string("HTTP 503\0after a NUL", 20);
  s.attributes.set("http.request.method", "GET");
  s.attributes.set(std::string("an.owned.key"), std::int64_t{-42});
  s.attributes.set("ratio", 0.25);
  s.attributes.set("svckit.hedge", true);
  s.attributes.set("flag.off", false);
  s.attributes.set("empty", std::string());
  s.attributes.set(std::string(), std::string(5000, 'v'));  // an empty key, a long value
  s.attributes.set("int.max", std::numeric_limits<std::int64_t>::max());
  return s;
}

// What the trace store serves back is what it was given: every field, attributes in their order
// with their types.
TEST(PackedSpan, UnpacksToTheSpanItPacked) {
  const auto span = full_span();
  const auto made = PackedSpan::pack("order-service", span);
  ASSERT_TRUE(made);
  const auto& packed = *made;
  const auto back = packed.unpack();
  EXPECT_EQ(back.service, "order-service");
  const auto& s = back.span;
  EXPECT_EQ(s.context.trace_id, span.context.trace_id);
  EXPECT_EQ(s.context.span_id, span.context.span_id);
  EXPECT_TRUE(s.context.sampled);
  EXPECT_EQ(s.context.tracestate, span.context.tracestate);
  EXPECT_EQ(s.parent_span_id, span.parent_span_id);
  EXPECT_EQ(s.name, span.name);
  EXPECT_EQ(s.kind, trace::SpanKind::client);
  EXPECT_EQ(s.start_unix_ns, -5);
  EXPECT_EQ(s.end_unix_ns, span.end_unix_ns);
  EXPECT_EQ(s.status, trace::StatusCode::error);
  EXPECT_EQ(s.status_message, span.status_message);
  ASSERT_EQ(s.attributes.size(), 8U);
  EXPECT_TRUE(s.attributes == span.attributes);
  auto a = s.attributes.begin();
  EXPECT_EQ((*a).key, "http.request.method");
  EXPECT_EQ(std::get<std::string_view>((*a).value), "GET");
  EXPECT_EQ(std::get<std::int64_t>((*++a).value), -42);
  EXPECT_EQ(std::get<double>((*++a).value), 0.25);
  EXPECT_TRUE(std::get<bool>((*++a).value));
  EXPECT_FALSE(std::get<bool>((*++a).value));
  EXPECT_EQ(std::get<std::string_view>((*++a).value), "");
  EXPECT_EQ((*++a).key, "");
  EXPECT_EQ(std::get<std::string_view>((*a).value).size(), 5000U);
  EXPECT_EQ(std::get<std::int64_t>((*++a).value), std::numeric_limits<std::int64_t>::max());
  EXPECT_TRUE(++a == s.attributes.end());
  EXPECT_EQ(packed.trace_id(), span.context.trace_id);
  EXPECT_EQ(packed.service(), "order-service");
  EXPECT_EQ(packed.name(), span.name);
  EXPECT_FALSE(packed.root());
  EXPECT_EQ(packed.status(), trace::StatusCode::error);
  // Its weight is the object and its text: the 5,000-byte value is in it once.
  EXPECT_GT(packed.weight(), 5000U + sizeof(PackedSpan));
  EXPECT_LT(packed.weight(), 5400U + sizeof(PackedSpan));
}

TEST(PackedSpan, AnEmptyRootSpanPacksToNoTextAtAll) {
  trace::SpanData s;
  const auto made = PackedSpan::pack("", s);
  ASSERT_TRUE(made);
  const auto& packed = *made;
  EXPECT_TRUE(packed.root());
  EXPECT_EQ(packed.weight(), sizeof(PackedSpan));
  const auto back = packed.unpack();
  EXPECT_TRUE(back.service.empty());
  EXPECT_TRUE(back.span.name.empty());
  EXPECT_TRUE(back.span.attributes.empty());
  EXPECT_EQ(back.span.kind, trace::SpanKind::internal);
}

}  // namespace
}  // namespace svckit::daemon
