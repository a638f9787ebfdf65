#include "svckit/trace/tracer.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>

#include <nlohmann/json.hpp>

#include "svckit/testing/fake_random.hpp"
#include "svckit/testing/simulated_clock.hpp"
#include "svckit/trace/otlp_json.hpp"

namespace svckit::trace {
namespace {

using namespace std::chrono_literals;

/// The attribute at `i` (attributes are read by walking them).
AttributeView nth(const Attributes& attributes, std::size_t i) {
  return *std::next(attributes.begin(), static_cast<std::ptrdiff_t>(i));
}

struct Collect final : SpanSink {
  void on_end(SpanData span) override { spans.push_back(std::move(span)); }
  std::vector<SpanData> spans;
};

TEST(Traceparent, SixteenHexDigitsAreWrittenMostSignificantFirst) {
  for (const auto& [value, text] :
       std::vector<std::pair<std::uint64_t, std::string>>{{0, "0000000000000000"},
                                                          {1, "0000000000000001"},
                                                          {0x0af7651916cd43ddULL, "0af7651916cd43dd"},
                                                          {0xffffffffffffffffULL, "ffffffffffffffff"},
                                                          {0x8000000000000000ULL, "8000000000000000"}}) {
    std::array<char, 17> out{};
    out[16] = 'x';
    EXPECT_EQ(write_hex16(out.data(), value), out.data() + 16);
    EXPECT_EQ(std::string(out.data(), 16), text);
    EXPECT_EQ(out[16], 'x') << "nothing written past the 16 digits";
  }
}

TEST(Traceparent, ParsesTheW3CFormAndRefusesMalformedOrZeroIds) {
  const auto ctx = parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  ASSERT_TRUE(ctx);
  EXPECT_EQ(ctx->trace_id_hex(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(ctx->span_id_hex(), "b7ad6b7169203331");
  EXPECT_TRUE(ctx->sampled);
  EXPECT_EQ(ctx->traceparent(), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_FALSE(parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00")->sampled);
  // A later version may carry more fields; version ff is invalid.
  EXPECT_TRUE(parse_traceparent("01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra"));
  std::array<std::uint8_t, 8> id{};
  EXPECT_TRUE(from_hex("B7AD6b7169203331", id)) << "ids in OTLP may be either case";
  EXPECT_EQ(to_hex(id), "b7ad6b7169203331");
  EXPECT_FALSE(from_hex("b7ad6b716920333", id));
  EXPECT_FALSE(from_hex("b7ad6b716920333g", id));
  EXPECT_FALSE(from_hex("+7ad6b7169203331", id));
  for (const char* bad : {"", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",
                          "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
                          "00-00000000000000000000000000000000-b7ad6b7169203331-01",
                          "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
                          "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
                          "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
                          "00_0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}) {
    EXPECT_FALSE(parse_traceparent(bad)) << bad;
  }
}

TEST(Tracestate, AcceptsW3CListsAndRefusesMalformedOnes) {
  for (const char* good : {"", "congo=t61rcWkgMzE", "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
                           "tenant1@vendor=x, other=y", "a=b,,c=d", "k*/_-9=v!#$%&'()*+-./:;<>?@[]^_`{|}~"}) {
    EXPECT_TRUE(valid_tracestate(good)) << good;
  }
  std::string many;
  for (int i = 0; i < 33; ++i) many += (i ? ",k" : "k") + std::to_string(i) + "=v";
  for (const std::string& bad : {std::string("novalue"), std::string("=v"), std::string("Upper=v"),
                                 std::string("k=v=w"), std::string("k=a\x01b"), std::string("_k=v"),
                                 std::string(513, 'a'), many, std::string("k=") + std::string(257, 'v')}) {
    EXPECT_FALSE(valid_tracestate(bad)) << bad;
  }
  const std::string parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
  EXPECT_EQ(parse_trace_context(parent, "congo=t61")->tracestate, "congo=t61");
  EXPECT_EQ(parse_trace_context(parent, "Bad State")->tracestate, "") << "a malformed tracestate is dropped alone";
  EXPECT_FALSE(parse_trace_context("junk", "congo=t61")) << "a malformed traceparent drops both";
}

TEST(Tracer, ChildrenCarryTheirParentsTracestateAndOtlpKeepsIt) {
  testing::SimulatedClock clock;
  testing::FakeRandom random;
  Collect sink;
  Tracer tracer(clock, random, {1.0}, &sink);
  {
    auto child = tracer.start_span(
        "GET", SpanKind::client,
        parse_trace_context("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "rojo=00f067aa0ba902b7"));
    EXPECT_EQ(child.context().tracestate, "rojo=00f067aa0ba902b7");
    auto grandchild = tracer.start_span("GET", SpanKind::client, child.context());
    EXPECT_EQ(grandchild.context().tracestate, "rojo=00f067aa0ba902b7");
    auto root = tracer.start_span("GET", SpanKind::server);
    EXPECT_EQ(root.context().tracestate, "");
  }
  auto back = parse_otlp_json(otlp_json("svc", sink.spans));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->size(), 3U);
  // Ended in reverse order of their start: root, grandchild, child.
  EXPECT_EQ((*back)[0].span.context.tracestate, "");
  EXPECT_EQ((*back)[1].span.context.tracestate, "rojo=00f067aa0ba902b7");
  EXPECT_EQ((*back)[2].span.context.tracestate, "rojo=00f067aa0ba902b7");
  auto bad = parse_otlp_json(
      R"({"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"n","traceState":"Not Valid","startTimeUnixNano":"1","endTimeUnixNano":"2"}]}]}]})");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().field, "resourceSpans[0].scopeSpans[0].spans[0].traceState");
}

TEST(Tracer, ChildrenShareTheTraceAndLinkTheirParentWithTimesFromTheInjectedClock) {
  testing::SimulatedClock clock;
  testing::FakeRandom random;
  Collect sink;
  Tracer tracer(clock, random, {1.0}, &sink);
  auto root = tracer.start_span("GET /orders/{id}", SpanKind::server);
  ASSERT_TRUE(root.recording());
  clock.advance(2ms);
  {
    auto child = tracer.start_span("call product-service", SpanKind::internal, root.context());
    child.set_attribute("svckit.service", "product-service");
    child.set_attribute("svckit.attempts", 2);
    child.set_attribute("svckit.attempts", 3);  // replaced, not repeated
    child.set_status(StatusCode::error, "boom");
    clock.advance(5ms);
  }  // ends here
  root.set_status(StatusCode::ok, "ignored");
  root.set_status(StatusCode::error, "after ok: ignored");
  root.end();
  root.end();  // once
  ASSERT_EQ(sink.spans.size(), 2U);
  const auto& child = sink.spans[0];
  const auto& parent = sink.spans[1];
  EXPECT_EQ(child.context.trace_id, parent.context.trace_id);
  EXPECT_EQ(child.parent_span_id, parent.context.span_id);
  EXPECT_NE(child.context.span_id, parent.context.span_id);
  EXPECT_EQ(child.end_unix_ns - child.start_unix_ns, 5'000'000);
  EXPECT_EQ(parent.end_unix_ns - parent.start_unix_ns, 7'000'000);
  ASSERT_EQ(child.attributes.size(), 2U);
  EXPECT_EQ(std::get<std::int64_t>(nth(child.attributes, 1).value), 3);
  EXPECT_EQ(child.status, StatusCode::error);
  EXPECT_EQ(child.status_message, "boom");
  EXPECT_EQ(parent.status, StatusCode::ok);
  EXPECT_TRUE(parent.status_message.empty());
}

// start_span(span, ...) starts a span in place: one that was running ends first (and is
// exported whole), and the new one keeps nothing of it — not its attributes, status, tracestate or
// parent.
TEST(Tracer, StartingASpanInPlaceEndsTheOldOneAndKeepsNothingOfIt) {
  testing::SimulatedClock clock;
  testing::FakeRandom random;
  Collect sink;
  Tracer tracer(clock, random, {1.0}, &sink);
  trace::Span span;
  tracer.start_span(span, "first", SpanKind::client,
                    parse_trace_context("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "k=v"));
  span.set_attribute("only.first", "x");
  span.set_status(StatusCode::error, "first failed");
  const auto first = span.context();
  clock.advance(std::chrono::milliseconds(3));
  tracer.start_span(span, "second", SpanKind::server);  // a root
  ASSERT_EQ(sink.spans.size(), 1U);
  EXPECT_EQ(sink.spans[0].name, "first");
  EXPECT_EQ(sink.spans[0].end_unix_ns - sink.spans[0].start_unix_ns, 3'000'000);
  EXPECT_TRUE(sink.spans[0].attributes.find("only.first"));
  EXPECT_EQ(sink.spans[0].status_message, "first failed");
  EXPECT_NE(span.context().trace_id, first.trace_id);
  EXPECT_TRUE(span.context().tracestate.empty());
  span.set_attribute("only.second", 2);
  span.end();
  ASSERT_EQ(sink.spans.size(), 2U);
  const auto& second = sink.spans[1];
  EXPECT_EQ(second.name, "second");
  EXPECT_EQ(second.kind, SpanKind::server);
  EXPECT_EQ(second.parent_span_id, (std::array<std::uint8_t, 8>{}));
  EXPECT_EQ(second.attributes.size(), 1U);
  EXPECT_FALSE(second.attributes.find("only.first"));
  EXPECT_EQ(second.status, StatusCode::unset);
  EXPECT_TRUE(second.status_message.empty());
  // In a moved-from span, too (what end() leaves behind).
  trace::Span moved_from = tracer.start_span("third", SpanKind::internal);
  moved_from.set_attribute("a", true);
  trace::Span taker = std::move(moved_from);
  tracer.start_span(moved_from, "fourth", SpanKind::internal);  // NOLINT(bugprone-use-after-move): restarts it
  EXPECT_TRUE(moved_from.recording());
  moved_from.end();
  EXPECT_EQ(sink.spans.back().name, "fourth");
  EXPECT_TRUE(sink.spans.back().attributes.empty());
}

TEST(Tracer, SamplingFollowsTheParentAndTheRatioForRoots) {
  testing::SimulatedClock clock;
  testing::FakeRandom random;
  Collect sink;
  Tracer none(clock, random, {0.0}, &sink);
  auto unsampled = none.start_span("root", SpanKind::server);
  EXPECT_FALSE(unsampled.recording());
  EXPECT_TRUE(unsampled.context().valid()) << "an unsampled span still has a context to pass on";
  EXPECT_EQ(unsampled.context().traceparent().substr(53), "00");
  auto sampled_parent = parse_traceparent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  EXPECT_TRUE(none.start_span("child", SpanKind::server, sampled_parent).recording()) << "parent-based";
  Tracer all(clock, random, {1.0}, &sink);
  EXPECT_FALSE(all.start_span("child", SpanKind::server, unsampled.context()).recording()) << "parent-based";
  // A ratio of 0.25 samples about a quarter of roots.
  Tracer quarter(clock, random, {0.25}, nullptr);
  int sampled = 0;
  for (int i = 0; i < 4000; ++i) sampled += quarter.start_span("r", SpanKind::server).recording() ? 1 : 0;
  EXPECT_NEAR(sampled, 1000, 120);
  unsampled.end();
  EXPECT_EQ(sink.spans.size(), 1U);  // the sampled child only; nothing from unsampled spans
}

TEST(OtlpJson, RoundTripsSpansAndNamesTheFieldOfABadOne) {
  testing::SimulatedClock clock;
  testing::FakeRandom random;
  Collect sink;
  Tracer tracer(clock, random, {1.0}, &sink);
  {
    auto root = tracer.start_span("GET /x", SpanKind::server);
    auto child = tracer.start_span("GET", SpanKind::client, root.context());
    child.set_attribute("http.response.status_code", 503);
    child.set_attribute("server.address", "10.0.0.5");
    child.set_attribute("svckit.hedge", true);
    child.set_attribute("ratio", 0.5);
    child.set_status(StatusCode::error, "HTTP 503");
  }
  const auto text = otlp_json("order-service", sink.spans);
  auto back = parse_otlp_json(text);
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->size(), 2U);
  EXPECT_EQ((*back)[0].service, "order-service");
  const auto& c = (*back)[0].span;
  EXPECT_EQ(c.context.trace_id, sink.spans[0].context.trace_id);
  EXPECT_EQ(c.parent_span_id, sink.spans[0].parent_span_id);
  EXPECT_EQ(c.kind, SpanKind::client);
  EXPECT_EQ(c.status, StatusCode::error);
  EXPECT_EQ(c.status_message, "HTTP 503");
  EXPECT_EQ(c.start_unix_ns, sink.spans[0].start_unix_ns);
  ASSERT_EQ(c.attributes.size(), 4U);
  EXPECT_EQ(std::get<std::int64_t>(nth(c.attributes, 0).value), 503);
  EXPECT_EQ(std::get<std::string_view>(nth(c.attributes, 1).value), "10.0.0.5");
  EXPECT_TRUE(std::get<bool>(nth(c.attributes, 2).value));
  EXPECT_DOUBLE_EQ(std::get<double>(nth(c.attributes, 3).value), 0.5);
  EXPECT_EQ((*back)[1].span.parent_span_id, (std::array<std::uint8_t, 8>{}));

  const auto bad = [](const std::string& span) {
    auto r = parse_otlp_json(R"({"resourceSpans":[{"scopeSpans":[{"spans":[)" + span + "]}]}]}");
    return r ? std::string("accepted") : r.error().field;
  };
  const std::string ids = R"("traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331")";
  const std::string times = R"("startTimeUnixNano":"10","endTimeUnixNano":"20")";
  const std::string base = "resourceSpans[0].scopeSpans[0].spans[0].";
  EXPECT_EQ(bad("{" + ids + R"(,"name":"n",)" + times + "}"), "accepted");
  EXPECT_EQ(bad(R"({"traceId":"xyz","spanId":"b7ad6b7169203331","name":"n",)" + times + "}"), base + "traceId");
  EXPECT_EQ(bad("{" + ids + R"(,"name":5,)" + times + "}"), base + "name");
  EXPECT_EQ(bad("{" + ids + R"(,"name":"n","kind":9,)" + times + "}"), base + "kind");
  EXPECT_EQ(bad("{" + ids + R"(,"name":"n","startTimeUnixNano":"20","endTimeUnixNano":"10"})"),
            base + "endTimeUnixNano");
  EXPECT_EQ(bad("{" + ids + R"(,"name":"n",)" + times + R"(,"attributes":[{"key":"a","value":{"intValue":"x"}}]})"),
            base + "attributes[0].value.intValue");
  EXPECT_EQ(bad("{" + ids + R"(,"name":"n","parentSpanId":"12",)" + times + "}"), base + "parentSpanId");
  // Members of the wrong type are the sender's error (400 naming them), never an exception.
  EXPECT_EQ(bad("{" + ids + R"(,"name":"n",)" + times + R"(,"status":{"code":"2"}})"), base + "status.code");
  EXPECT_EQ(bad("{" + ids + R"(,"name":"n",)" + times + R"(,"status":{"code":2,"message":7}})"),
            base + "status.message");
  EXPECT_EQ(bad("{" + ids + R"(,"name":"n",)" + times + R"(,"kind":4294967298})"), base + "kind");
  const auto odd_service = parse_otlp_json(
      R"({"resourceSpans":[{"resource":{"attributes":[{"key":7},{"key":"service.name","value":{"stringValue":5}}]},)"
      R"("scopeSpans":[{"spans":[{)" +
      ids + R"(,"name":"n",)" + times + "}]}]}]}");
  ASSERT_TRUE(odd_service) << odd_service.error().message;
  EXPECT_EQ((*odd_service)[0].service, "");
  EXPECT_FALSE(parse_otlp_json("[1,2"));
  EXPECT_FALSE(parse_otlp_json(R"({"resourceSpans":5})"));
}

// The batch is JSON whatever bytes the spans hold: a client's URL path or a header value need not
// be UTF-8. Well-formed UTF-8 and every escape come back as they were; other bytes as U+FFFD.
TEST(OtlpJson, WritesValidJsonForAnyBytesAndKeepsEveryValue) {
  SpanData s;
  s.context.trace_id[15] = 1;
  s.context.span_id[7] = 2;
  s.context.sampled = true;
  s.name = std::string("quote \" backslash \\ newline \n tab \t nul \0 end", 45);
  const std::string utf8 = "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80";  // café € 😀
  s.attributes.append("utf8", AttributeValue(utf8));
  s.attributes.append("broken", AttributeValue(std::string("a\xff b\xc3 c\xed\xa0\x80 d\xf4\x90\x80\x80 e\xc0\xaf")));
  s.attributes.append("int.min", AttributeValue(std::numeric_limits<std::int64_t>::min()));
  s.attributes.append("int.max", AttributeValue(std::numeric_limits<std::int64_t>::max()));
  s.attributes.append("pi", AttributeValue(3.141592653589793));
  s.attributes.append("tiny", AttributeValue(5e-324));
  s.attributes.append("nan", AttributeValue(std::numeric_limits<double>::quiet_NaN()));
  s.attributes.append("inf", AttributeValue(-std::numeric_limits<double>::infinity()));
  s.attributes.append("no", AttributeValue(false));
  s.status = StatusCode::ok;
  const auto text = otlp_json("svc \"x\"", {s});
  ASSERT_TRUE(nlohmann::json::accept(text)) << text;
  auto back = parse_otlp_json(text);
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->size(), 1U);
  EXPECT_EQ((*back)[0].service, "svc \"x\"");
  const auto& b = (*back)[0].span;
  EXPECT_EQ(b.name, s.name);
  EXPECT_EQ(b.status, StatusCode::ok);
  ASSERT_EQ(b.attributes.size(), s.attributes.size());
  EXPECT_EQ(std::get<std::string_view>(nth(b.attributes, 0).value), utf8);
  EXPECT_EQ(std::get<std::string_view>(nth(b.attributes, 1).value),
            "a\xef\xbf\xbd b\xef\xbf\xbd c\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"
            "\xef\xbf\xbd e\xef\xbf\xbd\xef\xbf\xbd");
  EXPECT_EQ(std::get<std::int64_t>(nth(b.attributes, 2).value), std::numeric_limits<std::int64_t>::min());
  EXPECT_EQ(std::get<std::int64_t>(nth(b.attributes, 3).value), std::numeric_limits<std::int64_t>::max());
  EXPECT_EQ(std::get<double>(nth(b.attributes, 4).value), 3.141592653589793);
  EXPECT_EQ(std::get<double>(nth(b.attributes, 5).value), 5e-324);
  EXPECT_TRUE(std::isnan(std::get<double>(nth(b.attributes, 6).value)));
  EXPECT_EQ(std::get<double>(nth(b.attributes, 7).value), -std::numeric_limits<double>::infinity());
  EXPECT_FALSE(std::get<bool>(nth(b.attributes, 8).value));

  // Every single byte value, alone and after a lead byte: always JSON.
  for (int byte = 0; byte < 256; ++byte) {
    for (const auto* prefix : {"", "\xc3", "\xe2\x82", "\xf0\x9f\x98"}) {
      SpanData one = s;
      one.attributes.clear();
      one.attributes.set("b", std::string(prefix) + static_cast<char>(byte));
      const auto json_text = otlp_json("s", {one});
      ASSERT_TRUE(nlohmann::json::accept(json_text)) << byte << " after " << std::string(prefix).size() << " bytes";
    }
  }
}

// The encoder sizes a span's JSON once, for the worst case: text that is all escapes (six bytes
// per byte) in every field, the longest numbers, a parent and a tracestate. It must fit, and come
// back whole.
TEST(OtlpJson, TheWorstCaseSpanFitsItsBoundAndComesBack) {
  const std::string controls(300, '\x01');  // "\u0001" each
  const std::string broken(300, '\xff');    // "\ufffd" each
  SpanData s;
  s.context.trace_id.fill(0xff);
  s.context.span_id.fill(0xff);
  s.parent_span_id.fill(0xee);
  s.context.sampled = true;
  s.context.tracestate = controls;
  s.name = broken;
  s.kind = SpanKind::consumer;
  s.start_unix_ns = std::numeric_limits<std::int64_t>::min();
  s.end_unix_ns = std::numeric_limits<std::int64_t>::max();
  s.status = StatusCode::error;
  s.status_message = controls + broken;
  s.attributes.append(std::string(controls), AttributeValue(broken));
  s.attributes.append(std::string(broken), AttributeValue(-1.2345678901234567e-308));
  s.attributes.append(std::string(controls), AttributeValue(std::numeric_limits<std::int64_t>::min()));
  s.attributes.append(std::string(broken), AttributeValue(-std::numeric_limits<double>::infinity()));
  s.attributes.append(std::string(controls), AttributeValue(false));
  std::string text;
  append_otlp_span(text, s);
  ASSERT_TRUE(nlohmann::json::accept(text)) << text.substr(0, 200);
  s.context.tracestate = "k=v";  // the decoder checks W3C's grammar, which control bytes break
  s.start_unix_ns = 1;           // and reads times as OTLP's unsigned fixed64
  const auto back = parse_otlp_json(otlp_json("s", {s}));
  ASSERT_TRUE(back) << back.error().message;
  ASSERT_EQ(back->size(), 1U);
  const auto& b = (*back)[0].span;
  EXPECT_EQ(b.name.size(), 300U * 3);  // U+FFFD is three bytes of UTF-8
  EXPECT_EQ(b.status_message.size(), 300U + 300U * 3);
  EXPECT_EQ(b.end_unix_ns, std::numeric_limits<std::int64_t>::max());
  ASSERT_EQ(b.attributes.size(), 5U);
  EXPECT_EQ(std::get<double>(nth(b.attributes, 1).value), -1.2345678901234567e-308);
}

bool same_value(const AttributeValueView& a, const AttributeValueView& b) {
  if (a.index() != b.index()) return false;
  if (const auto* x = std::get_if<double>(&a)) {
    const double y = std::get<double>(b);
    return (std::isnan(*x) && std::isnan(y)) || *x == y;
  }
  return a == b;
}

/// Both decoders gave the same: the same error (field and message), or the same spans.
::testing::AssertionResult same_decoding(const std::string& body) {
  const auto fast = parse_otlp_json(body);
  const auto dom = parse_otlp_json_dom(body);
  if (fast.ok() != dom.ok()) {
    return ::testing::AssertionFailure() << (fast.ok() ? "the DOM" : "the fast decoder") << " refused ("
                                         << (fast.ok() ? dom.error().message : fast.error().message) << "): " << body;
  }
  if (!fast.ok()) {
    if (fast.error().field == dom.error().field && fast.error().message == dom.error().message) {
      return ::testing::AssertionSuccess();
    }
    return ::testing::AssertionFailure() << fast.error().field << " vs " << dom.error().field << ": " << body;
  }
  if (fast->size() != dom->size()) return ::testing::AssertionFailure() << "span counts differ: " << body;
  for (std::size_t i = 0; i < fast->size(); ++i) {
    const auto& a = (*fast)[i];
    const auto& b = (*dom)[i];
    const bool same =
        a.service == b.service && a.span.context.trace_id == b.span.context.trace_id &&
        a.span.context.span_id == b.span.context.span_id && a.span.context.sampled == b.span.context.sampled &&
        a.span.context.tracestate == b.span.context.tracestate && a.span.parent_span_id == b.span.parent_span_id &&
        a.span.name == b.span.name && a.span.kind == b.span.kind && a.span.start_unix_ns == b.span.start_unix_ns &&
        a.span.end_unix_ns == b.span.end_unix_ns && a.span.status == b.span.status &&
        a.span.status_message == b.span.status_message && a.span.attributes.size() == b.span.attributes.size() &&
        std::equal(a.span.attributes.begin(), a.span.attributes.end(), b.span.attributes.begin(),
                   [](const AttributeView& x, const AttributeView& y) {
                     return x.key == y.key && same_value(x.value, y.value);
                   });
    if (!same) return ::testing::AssertionFailure() << "span " << i << " differs: " << body;
  }
  return ::testing::AssertionSuccess();
}

// svckitd's /v1/traces decodes through simdjson and falls back to the DOM for anything unusual:
// whatever the body, the answer is the DOM's — the same spans, or the same error naming the field.
TEST(OtlpJson, TheFastDecoderGivesWhatTheDomGivesForAnyBody) {
  const std::string ids = R"("traceId":"0AF7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331")";
  const std::string times = R"("startTimeUnixNano":"10","endTimeUnixNano":20)";
  const auto wrap = [](const std::string& spans, const std::string& resource = "") {
    return R"({"resourceSpans":[{)" + resource + R"("scopeSpans":[{"scope":{"name":"x"},"spans":[)" + spans + "]}]}]}";
  };
  const std::string good =
      "{" + ids + R"(,"parentSpanId":"","name":"GET \u00e9\n","kind":2,)" + times +
      R"(,"traceState":"k=v","attributes":[{"key":"s","value":{"stringValue":"v\"x"}},)"
      R"({"key":"i","value":{"intValue":"-7"}},{"key":"j","value":{"intValue":8}},)"
      R"({"key":"d","value":{"doubleValue":0.1}},{"key":"e","value":{"doubleValue":3}},)"
      R"({"key":"n","value":{"doubleValue":"NaN"}},{"key":"b","value":{"boolValue":true}},)"
      R"({"key":"u","value":{"stringValue":"\u00e9\ud83d\ude00"}}],"status":{"code":2,"message":"m"},)"
      R"("events":[],"droppedAttributesCount":0})";
  // What the DOM keeps as JSON text (the fast decoder leaves it to the DOM).
  const std::string other_kinds =
      "{" + ids + R"(,"name":"n",)" + times + R"(,"attributes":[{"key":"a","value":{"arrayValue":{"values":[]}}}]})";
  const std::string resource = R"("resource":{"attributes":[{"key":"service.name","value":{"stringValue":"svc"}}]},)";
  const std::vector<std::string> bodies = {
      wrap(good, resource),
      wrap(good + "," + good),
      wrap(other_kinds),
      wrap("{" + ids + R"(,"name":"n",)" + times + "}"),
      wrap("{" + ids + R"(,"name":"n","kind":0,)" + times + R"(,"status":{"message":"no code"}})"),
      wrap("{" + ids + R"(,"name":"n",)" + times + R"(,"status":"ok"})"),
      wrap("{" + ids + R"(,"name":"n","name":"twice",)" + times + "}"),
      wrap("{" + ids + R"(,"name":"n",)" + times + R"(,"attributes":[{"key":"k"}]})"),
      wrap("{" + ids + R"(,"name":"n",)" + times + R"(,"attributes":[{"key":"k","value":{"stringValue":5}}]})"),
      wrap("{" + ids + R"(,"name":"n",)" + times + R"(,"attributes":[{"key":"k","value":{"intValue":1.5}}]})"),
      wrap("{" + ids + R"(,"name":"n",)" + times +
           R"(,"attributes":[{"key":"k","value":{"intValue":18446744073709551615}}]})"),
      wrap("{" + ids + R"(,"name":"n",)" + times + R"(,"attributes":[{"key":"k","value":{"doubleValue":1e999}}]})"),
      wrap("{" + ids + R"(,"name":"n",)" + times + R"(,"attributes":null})"),
      wrap("{" + ids + R"(,"name":"n","startTimeUnixNano":-1,"endTimeUnixNano":20})"),
      wrap("{" + ids + R"(,"name":"n","startTimeUnixNano":"-0","endTimeUnixNano":"+20"})"),
      wrap("{" + ids + R"(,"name":"n","kind":-0,)" + times + "}"),
      wrap("{" + ids + R"(,"name":"\ud800",)" + times + "}"),
      wrap("{" + ids + R"(,"name":"n",)" + times + "}",
           R"("resource":{"attributes":[{"key":"service.name","key":"other","value":{"stringValue":"a"}}]},)"),
      wrap("{" + ids + R"(,"name":"n",)" + times + "}",
           R"("resource":{"attributes":[{"key":"service.name","value":{"stringValue":"a","stringValue":"b"}}]},)"),
      wrap("{" + ids + R"(,"name":"n",)" + times + "}", R"("resource":{"attributes":[{"key":"service.name"}]},)"),
      R"({"resourceSpans":[]})",
      R"({"resourceSpans":[{}]})",
      R"({"other":1})",
      R"({"resourceSpans":[],"resourceSpans":[1]})",
      "[]",
      "",
      std::string(100, '[') + std::string(100, ']'),
  };
  for (const auto& body : bodies) EXPECT_TRUE(same_decoding(body));
  // A root span as SDKs write it ("parentSpanId":""), every attribute kept.
  const auto root = parse_otlp_json(bodies[0]);
  ASSERT_TRUE(root) << root.error().message;
  ASSERT_EQ(root->size(), 1U);
  EXPECT_EQ((*root)[0].service, "svc");
  EXPECT_EQ((*root)[0].span.parent_span_id, (std::array<std::uint8_t, 8>{}));
  EXPECT_EQ((*root)[0].span.attributes.size(), 8U);
  EXPECT_EQ((*root)[0].span.name, "GET \u00e9\n");

  // Seeded mutations of the good batch: characters replaced, dropped or doubled.
  const auto base = wrap(good + "," + good, resource);
  std::uint64_t state = 42;
  const auto next = [&state] {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    return state >> 33;
  };
  const std::string alphabet = "{}[]\",:0123456789abcdefxnulltrue-.eE\\ ";
  for (int round = 0; round < 3000; ++round) {
    auto body = base;
    for (int edits = 1 + static_cast<int>(next() % 3); edits > 0; --edits) {
      const auto at = next() % body.size();
      switch (next() % 3) {
        case 0:
          body[at] = alphabet[next() % alphabet.size()];
          break;
        case 1:
          body.erase(at, 1);
          break;
        default:
          body.insert(at, body.substr(at, 1 + next() % 12));
      }
    }
    ASSERT_TRUE(same_decoding(body)) << "round " << round;
  }
}

}  // namespace
}  // namespace svckit::trace
