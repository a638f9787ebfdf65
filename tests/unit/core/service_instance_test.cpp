#include <gtest/gtest.h>

#include <ctime>

#include <nlohmann/json.hpp>

#include "svckit/core/duration.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/service_instance.hpp"
#include "svckit/registry/registry.hpp"

namespace svckit {
namespace {

ServiceInstance valid() {
  ServiceInstance in;
  in.service = "product-service";
  in.host = "10.0.0.5";
  in.port = 8080;
  in.normalize();
  return in;
}

TEST(ServiceInstance, DefaultsAndBaseUrl) {
  auto in = valid();
  EXPECT_EQ(in.id, "10.0.0.5:8080");
  EXPECT_EQ(in.weight, 100);
  EXPECT_EQ(in.status, InstanceStatus::healthy);
  EXPECT_EQ(in.base_url(), "http://10.0.0.5:8080");
  in.host = "::1";
  in.scheme = "https";
  EXPECT_EQ(in.base_url(), "https://[::1]:8080");
  EXPECT_TRUE(validate(in).ok());
  in.metadata = {{"city", "M\xc3\xbcnchen \xe2\x82\xac \xf0\x9f\x98\x80"}};  // 2-, 3- and 4-byte UTF-8
  EXPECT_TRUE(validate(in).ok());
}

struct BadCase {
  const char* name;
  std::function<void(ServiceInstance&)> mutate;
  const char* field;
};

class ServiceInstanceValidation : public ::testing::TestWithParam<BadCase> {};

TEST_P(ServiceInstanceValidation, NamesTheField) {
  auto in = valid();
  GetParam().mutate(in);
  auto r = validate(in);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::invalid_argument);
  EXPECT_EQ(r.error().field, GetParam().field) << r.error().describe();
}

INSTANTIATE_TEST_SUITE_P(
    All, ServiceInstanceValidation,
    ::testing::Values(BadCase{"empty_name", [](auto& i) { i.service = ""; }, "service"},
                      BadCase{"bad_char", [](auto& i) { i.service = "a/b"; }, "service"},
                      BadCase{"leading_dash", [](auto& i) { i.service = "-a"; }, "service"},
                      BadCase{"long_name", [](auto& i) { i.service = std::string(129, 'a'); }, "service"},
                      BadCase{"port_zero", [](auto& i) { i.port = 0; }, "port"},
                      BadCase{"port_high", [](auto& i) { i.port = 65536; }, "port"},
                      BadCase{"weight_negative", [](auto& i) { i.weight = -1; }, "weight"},
                      BadCase{"weight_high", [](auto& i) { i.weight = 10001; }, "weight"},
                      BadCase{"scheme", [](auto& i) { i.scheme = "ftp"; }, "scheme"},
                      BadCase{"host_space", [](auto& i) { i.host = "a b"; }, "host"},
                      BadCase{"id_space", [](auto& i) { i.id = "a b"; }, "id"},
                      BadCase{"tag_comma", [](auto& i) { i.tags = {"a,b"}; }, "tags"},
                      BadCase{"tag_bad_utf8", [](auto& i) { i.tags = {"caf\xc3"}; }, "tags"},
                      BadCase{"meta_overlong_utf8",
                              [](auto& i) {
                                i.metadata = {{"k", "\xc0\xaf"}};
                              },
                              "metadata.k"},
                      BadCase{"meta_surrogate",
                              [](auto& i) {
                                i.metadata = {{"k", "\xed\xa0\x80"}};
                              },
                              "metadata.k"},
                      BadCase{"ttl_small", [](auto& i) { i.ttl = std::chrono::milliseconds(10); }, "ttl"},
                      BadCase{"check_path", [](auto& i) { i.health_check_path = "health"; }, "health_check_path"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(EnumNames, EveryEnumeratorHasANameThatParsesBack) {
  for (int i = 0; i <= static_cast<int>(InstanceStatus::down); ++i) {
    const auto s = static_cast<InstanceStatus>(i);
    EXPECT_EQ(parse_instance_status(to_string(s)), s);
  }
  for (int i = 0; i <= static_cast<int>(EventType::expired); ++i) {
    const auto t = static_cast<EventType>(i);
    EXPECT_EQ(parse_event_type(to_string(t)), t);
  }
  for (int i = 0; i <= static_cast<int>(ErrorCode::internal); ++i) {
    const auto c = static_cast<ErrorCode>(i);
    EXPECT_NE(to_string(c), "unknown");
    EXPECT_EQ(error_code_from_string(to_string(c)), c);
  }
}

TEST(InstanceJson, RoundTripKeepsEveryField) {
  auto in = valid();
  in.zone = "eu-1";
  in.tags = {"v2", "canary"};
  in.metadata = {{"version", "1.2.3"}};
  in.status = InstanceStatus::maintenance;
  in.ttl = std::chrono::seconds(30);
  in.health_check_path = "/health";
  in.registered_at = SystemTime{} + std::chrono::milliseconds(1767225600123);
  in.last_heartbeat = in.registered_at + std::chrono::seconds(5);
  in.normalize();
  auto back = instance_from_json(to_json(in));
  ASSERT_TRUE(back.ok()) << back.error().describe();
  EXPECT_EQ(*back, in);
  EXPECT_EQ(to_json(in)["registered_at"], "2026-01-01T00:00:00.123Z");
}

TEST(InstanceJson, FastWriterMatchesTheDomWriter) {
  auto in = valid();
  in.zone = "eu-1";
  in.tags = {"a\"quote", "back\\slash"};
  in.metadata = {{"k", "line\nbreak\tand \x01 control, caf\xc3\xa9"}};
  in.ttl = std::chrono::milliseconds(1500);
  in.health_check_path = "/health";
  std::string fast;
  append_json(fast, in);
  const auto parsed = nlohmann::json::parse(fast);
  EXPECT_EQ(parsed, to_json(in));
  EXPECT_EQ(fast.find('\n'), std::string::npos) << "control characters are escaped";
  auto back = instance_from_json(parsed);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->metadata, in.metadata);
}

TEST(InstanceJson, Rfc3339MatchesGmtimeAndRoundTrips) {
  std::uint64_t x = 12345;
  for (int i = 0; i < 2000; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const auto ms = static_cast<std::int64_t>(x >> 24) % 7'258'118'400'000;  // 1970 .. 2200
    const SystemTime t = SystemTime{} + std::chrono::milliseconds(ms);
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char expected[64];
    std::snprintf(expected, sizeof expected, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
    ASSERT_EQ(format_rfc3339(t), expected);
    auto back = parse_rfc3339(expected, "t");
    ASSERT_TRUE(back.ok());
    ASSERT_EQ(*back, t);
  }
}

TEST(InstanceJson, Rfc3339OutOfRangeFieldsCountOnAsTimegmDoes) {
  // The fast parser of svckit's own shape and timegm() agree where fields run past their range.
  for (const char* text : {"2026-02-31T25:61:61.999Z", "2024-02-29T23:59:60.000Z", "1999-12-31T99:99:99.000Z",
                           "2026-13-01T00:00:00.000Z" /* the general parser's */, "2026-1-2T3:4:5.6Z"}) {
    std::tm tm{};
    int millis = 0;
    ASSERT_EQ(std::sscanf(text, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                          &tm.tm_min, &tm.tm_sec, &millis),
              7);
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    const auto expected = SystemTime{} + std::chrono::seconds(timegm(&tm)) + std::chrono::milliseconds(millis);
    auto parsed = parse_rfc3339(text, "t");
    ASSERT_TRUE(parsed) << text;
    EXPECT_EQ(*parsed, expected) << text;
  }
  EXPECT_FALSE(parse_rfc3339("2026-01-01T00:00:00.000+01:00", "t"));
  EXPECT_FALSE(parse_rfc3339("2026-01-01 00:00:00.000Z", "t"));
}

TEST(InstanceJson, Rfc3339RefusesANonDigitInAnyDigitPosition) {
  // '/' and ':' are the bytes just below '0' and just above '9'.
  const std::string good = "2026-01-02T03:04:05.678Z";
  ASSERT_TRUE(parse_rfc3339(good, "t"));
  for (std::size_t i = 0; i < good.size(); ++i) {
    if (good[i] < '0' || good[i] > '9') continue;
    for (const char bad : {'/', ':', 'a', '\xff'}) {
      auto text = good;
      text[i] = bad;
      EXPECT_FALSE(parse_rfc3339(text, "t")) << text;
    }
  }
}

TEST(InstanceJson, RejectsWrongTypesAndUnknownFields) {
  struct Case {
    const char* body;
    const char* field;
  };
  for (const auto& c :
       {Case{R"({"service":"a","host":"h","port":"80"})", "port"},
        Case{R"({"service":"a","host":"h","port":70000})", "port"},
        Case{R"({"service":"a","host":"h","port":-5})", "port"}, Case{R"({"service":"a","host":"h"})", "port"},
        Case{R"({"host":"h","port":80})", "service"},
        Case{R"({"service":"a","host":"h","port":80,"weight":1.5})", "weight"},
        Case{R"({"service":"a","host":"h","port":80,"status":"sleeping"})", "status"},
        Case{R"({"service":"a","host":"h","port":80,"tags":[1]})", "tags[0]"},
        Case{R"({"service":"a","host":"h","port":80,"metadata":{"k":1}})", "metadata.k"},
        Case{R"({"service":"a","host":"h","port":80,"ttl":"soon"})", "ttl"},
        Case{R"({"service":"a","host":"h","port":80,"colour":"red"})", "colour"}, Case{R"([1,2])", "body"}}) {
    auto j = parse_json(c.body);
    ASSERT_TRUE(j.ok());
    auto r = instance_from_json(*j);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(r.error().field, c.field) << c.body << " -> " << r.error().describe();
  }
}

TEST(InstanceJson, MalformedJsonNamesTheOffset) {
  auto r = parse_json(R"({"service": )");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().field, "body");
  EXPECT_NE(r.error().message.find("byte"), std::string::npos);
}

TEST(Duration, ParsesAndFormats) {
  EXPECT_EQ(*parse_duration("250ms", "x"), std::chrono::milliseconds(250));
  EXPECT_EQ(*parse_duration("30s", "x"), std::chrono::seconds(30));
  EXPECT_EQ(*parse_duration("30", "x"), std::chrono::seconds(30));
  EXPECT_EQ(*parse_duration("2m", "x"), std::chrono::minutes(2));
  EXPECT_EQ(*parse_duration("1h", "x"), std::chrono::hours(1));
  for (const char* bad : {"", "s", "-1s", "1.5s", "10d", "99999999999999h"}) {
    auto r = parse_duration(bad, "wait");
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().field, "wait");
  }
  EXPECT_EQ(format_duration(std::chrono::milliseconds(1500)), "1500ms");
  EXPECT_EQ(format_duration(std::chrono::seconds(30)), "30s");
  EXPECT_EQ(format_duration(std::chrono::minutes(2)), "2m");
  EXPECT_EQ(format_duration(std::chrono::milliseconds(0)), "0s");
}

}  // namespace
}  // namespace svckit
