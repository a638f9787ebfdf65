// decode_instances / decode_watch_result: the same instances and the same errors as the DOM path
// (instances_from_json / watch_result_from_json over parse_json), for every shape svckitd writes
// and for answers a broken or hostile server may send.
#include "svckit/registry/registry_decode.hpp"

#include <gtest/gtest.h>

#include "svckit/core/instance_json.hpp"
#include "svckit/registry/registry_json.hpp"

namespace svckit {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::vector<ServiceInstance> varied() {
  std::vector<ServiceInstance> out;
  for (int i = 0; i < 5; ++i) {
    ServiceInstance in;
    in.service = "orders";
    in.id = "orders-" + std::to_string(i);
    in.host = "10.0.0." + std::to_string(i + 1);
    in.port = 9000 + i;
    in.ttl = i % 2 == 0 ? 30s : 0s;
    in.weight = 50 * (i + 1);
    in.status = static_cast<InstanceStatus>(i % 5);
    in.registered_at = SystemTime(std::chrono::milliseconds(1'700'000'000'123 + i));
    in.last_heartbeat = SystemTime(std::chrono::milliseconds(1'700'000'009'456 + i));
    in.normalize();
    out.push_back(in);
  }
  out[1].tags = {"v2", "canary", "üñí\"code\\"};
  out[1].metadata = {{"version", "2"}, {"quote\"d", "line\nbreak"}, {"emoji", "\xF0\x9F\x9A\x80"}};
  out[2].zone = "eu-1";
  out[2].scheme = "https";
  out[2].health_check_path = "/ready";
  HealthCheckSpec check;
  check.type = "tcp";
  check.interval = 5s;
  check.timeout = 1s;
  out[3].checks = {HealthCheckSpec{}, check};
  out[4].ttl = 1500ms;
  for (auto& in : out) in.normalize();
  return out;
}

std::string list_text(const std::vector<ServiceInstance>& instances) {
  std::string out = "{\"index\":7,\"instances\":[";
  for (std::size_t i = 0; i < instances.size(); ++i) {
    if (i > 0) out += ',';
    append_json(out, instances[i]);
  }
  return out + "]}";
}

/// What the DOM path answers for `text`.
Result<std::vector<ServiceInstance>> dom_instances(std::string_view text) {
  auto parsed = parse_json(text);
  if (!parsed) return make_error(ErrorCode::protocol, "an answer that is not JSON: " + parsed.error().message);
  return instances_from_json(*parsed, "instances");
}

TEST(RegistryDecode, ListsDecodeToWhatTheDomPathGivesForEveryField) {
  const auto instances = varied();
  for (const auto& text :
       {list_text(instances), to_json(instances[3]).dump(), json{{"instances", json::array()}}.dump()}) {
    const auto wrapped = text.front() == '{' && text.find("\"instances\"") == std::string::npos
                             ? "{\"instances\":[" + text + "]}"
                             : text;
    auto fast = decode_instances(wrapped, "instances");
    auto dom = dom_instances(wrapped);
    ASSERT_TRUE(fast) << fast.error().describe();
    ASSERT_TRUE(dom);
    EXPECT_EQ(*fast, *dom) << wrapped;
  }
  auto fast = decode_instances(list_text(instances), "instances");
  ASSERT_TRUE(fast);
  ASSERT_EQ(fast->size(), instances.size());
  for (std::size_t i = 0; i < instances.size(); ++i) {
    EXPECT_EQ(to_json((*fast)[i]).dump(), to_json(instances[i]).dump()) << "the instance written";
  }
  // Pretty-printed, keys in another order, and a top-level array: the same.
  json reordered = json::array();
  for (const auto& in : instances) reordered.push_back(to_json(in));
  auto from_array = decode_instances(reordered.dump(2), "instances");
  ASSERT_TRUE(from_array) << from_array.error().describe();
  EXPECT_EQ(*from_array, instances);
}

// The decoder's parser keeps its buffers per thread between answers: answers that grow one
// instance at a time, one far past what the kept buffers take, small ones after it, and broken
// ones in between each decode to exactly their own instances (nothing of an earlier answer).
TEST(RegistryDecode, AnswersOfEverySizeInAnyOrderDecodeToTheirOwnInstances) {
  const auto base = varied();
  auto many = [&](std::size_t n) {
    std::vector<ServiceInstance> out;
    for (std::size_t i = 0; i < n; ++i) {
      auto in = base[i % base.size()];
      in.id = "orders-" + std::to_string(i);
      out.push_back(std::move(in));
    }
    return out;
  };
  std::vector<std::size_t> sizes;
  for (std::size_t n = 0; n <= 40; ++n) sizes.push_back(n);
  sizes.insert(sizes.end(), {5000, 3, 0, 200, 1});  // 5,000 instances: ~2 MB of JSON
  for (const auto n : sizes) {
    const auto instances = many(n);
    const auto text = list_text(instances);
    auto fast = decode_instances(text, "instances");
    ASSERT_TRUE(fast) << n << ": " << fast.error().describe();
    EXPECT_EQ(*fast, instances) << n << " instances";
    EXPECT_FALSE(decode_instances(text.substr(0, text.size() / 2), "instances")) << "half of " << n;
    EXPECT_FALSE(decode_instances("", "instances"));
  }
}

TEST(RegistryDecode, BadAnswersGetTheDomPathsErrorNamingTheField) {
  const auto good = to_json(varied()[0]);
  std::vector<std::string> bad;
  const auto with = [&](const std::string& key, json value) {
    auto j = good;
    j[key] = std::move(value);
    return json{{"instances", json::array({j})}}.dump();
  };
  bad.push_back(with("port", "9000"));
  bad.push_back(with("port", 70000));
  bad.push_back(with("weight", -1));
  bad.push_back(with("status", "sleepy"));
  bad.push_back(with("ttl", "forever"));
  bad.push_back(with("tags", json::array({1})));
  bad.push_back(with("metadata", json{{"k", 1}}));
  bad.push_back(with("registered_at", "yesterday"));
  bad.push_back(with("colour", "blue"));
  bad.push_back(with("checks", json::array({json{{"interval", "soon"}}})));
  bad.push_back(R"({"instances":[{"host":"h","port":1}]})");  // no service
  bad.push_back(R"({"instances":{}})");
  bad.push_back(R"({"index":1})");
  bad.push_back(R"({"instances":[)");
  bad.push_back(R"({"instances":[]} trailing)");
  bad.push_back("");
  for (const auto& text : bad) {
    auto fast = decode_instances(text, "instances");
    auto dom = dom_instances(text);
    ASSERT_FALSE(dom) << "the DOM path refuses " << text;
    ASSERT_FALSE(fast) << "so must the fast one: " << text;
    EXPECT_EQ(fast.error().field, dom.error().field) << text;
    EXPECT_EQ(fast.error().message, dom.error().message) << text;
  }
  // A duplicate key: the DOM keeps the last one, and so does the fast path (by falling back).
  const std::string twice = R"({"instances":[{"service":"a","service":"b","host":"h","port":1}]})";
  auto fast = decode_instances(twice, "instances");
  ASSERT_TRUE(fast) << fast.error().describe();
  EXPECT_EQ(*fast, *dom_instances(twice));
  EXPECT_EQ(fast->front().service, "b");
}

TEST(RegistryDecode, WatchAnswersDecodeToWhatTheDomPathGives) {
  const auto instances = varied();
  WatchResult reset;
  reset.index = 42;
  reset.reset = true;
  reset.snapshot = instances;
  WatchResult events;
  events.index = 50;
  for (std::size_t i = 0; i < instances.size(); ++i) {
    RegistryEvent e;
    e.index = 43 + i;
    e.type = i % 2 == 0 ? EventType::status_changed : EventType::registered;
    e.instance = instances[i];
    if (e.type == EventType::status_changed) e.previous_status = InstanceStatus::healthy;
    events.events.push_back(e);
  }
  WatchResult idle;
  idle.index = 50;
  for (const auto& r : {reset, events, idle}) {
    std::string text;
    append_json(text, r);
    auto fast = decode_watch_result(text);
    ASSERT_TRUE(fast) << fast.error().describe();
    auto dom = watch_result_from_json(json::parse(text));
    ASSERT_TRUE(dom);
    EXPECT_EQ(fast->index, dom->index);
    EXPECT_EQ(fast->reset, dom->reset);
    EXPECT_EQ(fast->snapshot, dom->snapshot);
    ASSERT_EQ(fast->events.size(), dom->events.size());
    for (std::size_t i = 0; i < fast->events.size(); ++i) {
      EXPECT_EQ(fast->events[i].index, dom->events[i].index);
      EXPECT_EQ(fast->events[i].type, dom->events[i].type);
      EXPECT_EQ(fast->events[i].instance, dom->events[i].instance);
      EXPECT_EQ(fast->events[i].previous_status, dom->events[i].previous_status);
    }
  }
  // A hostile answer: errors, never an exception (a non-boolean reset used to throw).
  for (const auto* text : {R"({"index":1,"reset":"yes"})", R"({"index":-1})", R"({"index":1,"reset":true})",
                           R"({"index":1,"events":[{"index":2,"type":"registered"}]})", "[]"}) {
    auto fast = decode_watch_result(text);
    EXPECT_FALSE(fast) << text;
  }
}

}  // namespace
}  // namespace svckit
