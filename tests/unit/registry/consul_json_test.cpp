// The Consul JSON mapping: Go durations, registrations in Consul's spellings, and the round trips
// the consul:// backend relies on (instance -> registration -> instance, instance -> health entry ->
// instance).
#include <gtest/gtest.h>

#include "svckit/registry/consul_json.hpp"

namespace svckit::consul {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

TEST(ConsulJson, GoDurationsParseAndBadOnesNameTheField) {
  EXPECT_EQ(*parse_go_duration("10s", "f"), 10s);
  EXPECT_EQ(*parse_go_duration("1m30s", "f"), 90s);
  EXPECT_EQ(*parse_go_duration("1.5s", "f"), 1500ms);
  EXPECT_EQ(*parse_go_duration("250ms", "f"), 250ms);
  EXPECT_EQ(*parse_go_duration("72h", "f"), 72h);
  EXPECT_EQ(*parse_go_duration("0", "f"), 0ms);
  for (const char* bad : {"", "10", "s", "10x", "1..5s", "-1s", "99999999h"}) {
    auto r = parse_go_duration(bad, "Check.Interval");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().field, "Check.Interval");
  }
  EXPECT_EQ(*parse_go_duration(go_duration(1234ms), "f"), 1234ms);
}

TEST(ConsulJson, ARegistrationInEitherSpellingMapsToAnInstance) {
  Node agent;
  const auto body = json::parse(R"({
    "name": "web", "Port": 8080, "tags": ["b", "a", "a"], "Meta": {"version": "2", "svckit-zone": "eu-1"},
    "weights": {"Passing": 7, "Warning": 1},
    "checks": [
      {"HTTP": "http://10.0.0.5:8080/health?deep=1", "Interval": "2s", "Timeout": "500ms", "SuccessBeforePassing": 2},
      {"ttl": "15s", "deregister_critical_service_after": "1m", "status": "passing"}
    ]})");
  auto in = instance_from_registration(body, agent);
  ASSERT_TRUE(in) << in.error().describe();
  EXPECT_EQ(in->service, "web");
  EXPECT_EQ(in->id, "web") << "Consul's default ID is the name";
  EXPECT_EQ(in->host, "127.0.0.1") << "the agent's address";
  EXPECT_EQ(in->tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(in->zone, "eu-1");
  EXPECT_EQ(in->weight, 7);
  EXPECT_EQ(in->ttl, 15s);
  ASSERT_EQ(in->checks.size(), 1u);
  EXPECT_EQ(in->checks[0].target, "10.0.0.5:8080");
  EXPECT_EQ(in->checks[0].path, "/health?deep=1");
  EXPECT_EQ(in->checks[0].timeout, 500ms);
  EXPECT_EQ(in->checks[0].healthy_threshold, 2);
  EXPECT_EQ(in->status, InstanceStatus::starting) << "the HTTP check starts critical";
  EXPECT_EQ(in->metadata.at(kDeregisterAfterMeta), "60000ms");
  EXPECT_EQ(check_ids(*in), (std::vector<std::string>{"service:web:2", "service:web:1"}))
      << "TTL first, IDs by registration order";
  EXPECT_EQ(meta_of(*in),
            json({{"version", "2"}, {"svckit-zone", "eu-1"}, {"svckit-status", "starting"}, {"svckit-ttl", "15000ms"}}))
      << "the consul- keys stay hidden";
}

TEST(ConsulJson, AGrpcCheckMapsToTheGrpcHealthCheckAndBack) {
  Node agent;
  auto in = instance_from_registration(json::parse(R"({"Name": "products", "Port": 50051,
                      "Check": {"GRPC": "10.0.0.5:50051/svckit.demo.ProductService", "Interval": "5s"}})"),
                                       agent);
  ASSERT_TRUE(in) << in.error().describe();
  ASSERT_EQ(in->checks.size(), 1u);
  EXPECT_EQ(in->checks[0].type, "grpc");
  EXPECT_EQ(in->checks[0].target, "10.0.0.5:50051");
  EXPECT_EQ(in->checks[0].params.at("service"), "svckit.demo.ProductService");
  EXPECT_EQ(in->checks[0].interval, 5s);
  auto whole = instance_from_registration(
      json::parse(R"({"Name": "p", "Port": 1, "Check": {"GRPC": "h:1", "GRPCUseTLS": false, "Interval": "1s"}})"),
      agent);
  ASSERT_TRUE(whole) << whole.error().describe();
  EXPECT_TRUE(whole->checks[0].params.empty()) << "no service: the server as a whole";
  auto tls = instance_from_registration(
      json::parse(R"({"Name": "p", "Port": 1, "Check": {"GRPC": "h:1", "GRPCUseTLS": true, "Interval": "1s"}})"),
      agent);
  ASSERT_TRUE(tls) << tls.error().describe();
  EXPECT_EQ(tls->checks[0].params.at("tls"), "true") << "checked over TLS, trusting svckitd's health.grpc_tls";
  EXPECT_EQ(registration_for(*tls, 30s)["Checks"][0]["GRPCUseTLS"], true) << "and back";
  auto not_bool = instance_from_registration(
      json::parse(R"({"Name": "p", "Port": 1, "Check": {"GRPC": "h:1", "GRPCUseTLS": "yes", "Interval": "1s"}})"),
      agent);
  ASSERT_FALSE(not_bool);
  EXPECT_EQ(not_bool.error().field, "Check.GRPCUseTLS");
  // What the consul:// backend sends to a real Consul.
  in->status = InstanceStatus::healthy;
  const auto body = registration_for(*in, 30s);
  EXPECT_EQ(body["Checks"][0]["GRPC"], "10.0.0.5:50051/svckit.demo.ProductService") << body.dump();
  auto back = instance_from_registration(body, agent);
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_EQ(back->checks[0].type, "grpc");
  EXPECT_EQ(back->checks[0].params.at("service"), "svckit.demo.ProductService");
}

TEST(ConsulJson, UnsupportedOrInvalidFieldsAreRefusedByName) {
  Node agent;
  auto field = [&](const char* text) {
    auto r = instance_from_registration(json::parse(text), agent);
    return r ? std::string("<accepted>") : r.error().field;
  };
  EXPECT_EQ(field(R"({"Port": 1})"), "Name");
  EXPECT_EQ(field(R"({"Name": "a b", "Port": 1})"), "Name");
  EXPECT_EQ(field(R"({"Name": "a", "Port": 0})"), "Port");
  EXPECT_EQ(field(R"({"Name": "a", "Port": 1, "Proxy": {}})"), "Proxy");
  EXPECT_EQ(field(R"({"Name": "a", "Port": 1, "Kind": "connect-proxy"})"), "Kind");
  EXPECT_EQ(field(R"({"Name": "a", "Port": 1, "Meta": {"consul-x": "1"}})"), "Meta.consul-x");
  EXPECT_EQ(field(R"({"Name": "a", "Port": 1, "Check": {"Args": ["/bin/true"], "Interval": "1s"}})"), "Check.Args");
  EXPECT_EQ(field(R"({"Name": "a", "Port": 1, "Checks": [{"TTL": "1s"}, {"TTL": "2s"}]})"), "Checks");
  EXPECT_EQ(field(R"({"Name": "a", "Port": 1, "Name": "b"})"), "<accepted>") << "JSON's last duplicate wins";
  EXPECT_EQ(field(R"({"Name": "a", "name": "b", "Port": 1})"), "name");
  EXPECT_EQ(field(R"([1])"), "");
}

TEST(ConsulJson, AnInstanceSurvivesTheRoundTripsTheBackendMakes) {
  ServiceInstance in;
  in.service = "orders";
  in.id = "orders-7";
  in.host = "10.1.2.3";
  in.port = 9000;
  in.zone = "eu-2";
  in.scheme = "https";
  in.weight = 250;
  in.tags = {"canary", "v2"};
  in.metadata = {{"build", "42"}};
  in.ttl = 5s;
  in.status = InstanceStatus::healthy;
  HealthCheckSpec tcp;
  tcp.type = "tcp";
  tcp.interval = 3s;
  tcp.timeout = 1s;
  in.checks = {tcp};

  Node agent;
  auto back = instance_from_registration(registration_for(in, 30s), agent);
  ASSERT_TRUE(back) << back.error().describe();
  EXPECT_EQ(back->service, in.service);
  EXPECT_EQ(back->zone, "eu-2");
  EXPECT_EQ(back->scheme, "https");
  EXPECT_EQ(back->weight, 250);
  EXPECT_EQ(back->ttl, 5s);
  EXPECT_EQ(back->status, InstanceStatus::healthy) << "registered passing, as it was";
  ASSERT_EQ(back->checks.size(), 1u);
  EXPECT_EQ(back->checks[0].target, "10.1.2.3:9000");

  for (auto status : {InstanceStatus::healthy, InstanceStatus::unhealthy, InstanceStatus::down,
                      InstanceStatus::maintenance, InstanceStatus::starting}) {
    in.status = status;
    auto seen = instance_from_health_entry(health_entry(in, agent, 17));
    ASSERT_TRUE(seen) << seen.error().describe();
    EXPECT_EQ(seen->status, status) << to_string(status);
    EXPECT_EQ(seen->id, "orders-7");
    EXPECT_EQ(seen->zone, "eu-2");
    EXPECT_EQ(seen->ttl, 5s);
    EXPECT_EQ(seen->metadata, in.metadata);
    EXPECT_EQ(seen->tags, in.tags);
  }
}

TEST(ConsulJson, AHealthEntryFromRealConsulMapsItsChecks) {
  const auto entry = json::parse(R"({
    "Node": {"Node": "n1", "Address": "10.0.0.9"},
    "Service": {"ID": "api-1", "Service": "api", "Address": "", "Port": 80, "Tags": null, "Meta": null},
    "Checks": [
      {"CheckID": "serfHealth", "Status": "passing", "Type": ""},
      {"CheckID": "service:api-1", "Status": "critical", "Type": "ttl",
       "Output": "TTL expired (last output before timeout follows): "}
    ]})");
  auto in = instance_from_health_entry(entry);
  ASSERT_TRUE(in) << in.error().describe();
  EXPECT_EQ(in->host, "10.0.0.9") << "no service address: the node's";
  EXPECT_EQ(in->status, InstanceStatus::down) << "a TTL that ran out";
  EXPECT_GT(in->ttl.count(), 0);
}

TEST(ConsulJson, HealthAnswersDecodeWithoutADomExactlyAsTheDomMappingReadsThem) {
  // What consul:// reads on every blocking-query answer: decode_health_entries must give what
  // instance_from_health_entry gives each entry, for svckitd's entries, real Consul's, and broken ones.
  ServiceInstance in;
  in.service = "orders";
  in.id = "orders-7";
  in.host = "10.1.2.3";
  in.port = 9000;
  in.zone = "eu-2";
  in.scheme = "https";
  in.weight = 250;
  in.tags = {"canary", "v2"};
  in.metadata = {{"build", "42"}, {"quote\"d", "line\nbreak"}};
  in.ttl = 5s;
  json answer = json::array();
  Node agent;
  for (auto status : {InstanceStatus::healthy, InstanceStatus::unhealthy, InstanceStatus::down,
                      InstanceStatus::maintenance, InstanceStatus::starting}) {
    in.status = status;
    answer.push_back(health_entry(in, agent, 17));
  }
  answer.push_back(json::parse(R"({
    "Node": {"Node": "n1", "Address": "10.0.0.9"},
    "Service": {"ID": "api-1", "Service": "api", "Address": "", "Port": 80, "Tags": null, "Meta": null},
    "Checks": [
      {"CheckID": "serfHealth", "Status": "passing", "Type": ""},
      {"CheckID": "service:api-1", "Status": "critical", "Type": "ttl",
       "Output": "TTL expired (last output before timeout follows): "}
    ]})"));
  // Entries the fast path leaves to the DOM mapping: a float port, a numeric Meta value, a key twice, no Service.
  answer.push_back(json::parse(R"({"Service": {"ID": "f", "Service": "api", "Address": "h", "Port": 81.0}})"));
  answer.push_back(
      json::parse(R"({"Service": {"ID": "m", "Service": "api", "Address": "h", "Port": 82, "Meta": {"n": 5}}})"));
  answer.push_back(json::parse(R"({"Node": 7, "Service": {"ID": "z", "Service": "api", "Address": "", "Port": 83}})"));
  answer.push_back(json::parse(R"({"Checks": []})"));
  std::string twice = R"({"Service": {"ID": "d", "Service": "api", "Address": "h", "Port": 84, "Port": 85}})";
  // Keys twice that the mapping reads (Meta's, svckit's own Meta keys, a check's) go to the DOM,
  // which keeps the last; keys twice that no path reads change nothing.
  const std::string more[] = {
      R"({"Service": {"ID": "m", "Service": "api", "Address": "h", "Port": 86, "Meta": {"b": "1", "b": "2"}}})",
      R"({"Service": {"ID": "z", "Service": "api", "Address": "h", "Port": 87,
          "Meta": {"svckit-zone": "a", "svckit-zone": "b"}}})",
      R"({"X": 1, "X": 2, "Service": {"ID": "u", "Service": "api", "Address": "h", "Port": 88, "Y": 1, "Y": 2},
          "Checks": [{"CheckID": "c", "Status": "critical", "Status": "passing", "Type": "", "Output": ""}]})",
      R"({"Service": {"ID": "w", "Service": "api", "Address": "h", "Port": 89, "Weights": {"Passing": 3, "Passing": 4}}})",
      R"({"Node": {"Address": "n1", "Address": "n2"}, "Service": {"ID": "n", "Service": "api", "Address": "", "Port": 90}})"};
  std::string text = answer.dump();
  text.pop_back();
  for (const auto& entry : more) text += "," + entry;
  text += "," + twice + "]";
  auto decoded = decode_health_entries(text);
  ASSERT_TRUE(decoded) << decoded.error().describe();
  const auto dom = json::parse(text);
  ASSERT_EQ(decoded->size(), dom.size());
  for (std::size_t i = 0; i < dom.size(); ++i) {
    auto expected = instance_from_health_entry(dom[i]);
    ASSERT_EQ(expected.ok(), (*decoded)[i].instance.has_value()) << dom[i].dump();
    if (expected) {
      EXPECT_EQ(*expected, *(*decoded)[i].instance) << dom[i].dump();
    }
  }
  for (std::size_t i = 0; i < dom.size(); ++i) {  // the TTL check's ID, which heartbeats pass
    std::string ttl_check;
    for (const auto& c : dom[i].value("Checks", json::array())) {
      if (c.value("Type", std::string()) == "ttl") ttl_check = c.value("CheckID", std::string());
    }
    EXPECT_EQ((*decoded)[i].ttl_check, ttl_check) << dom[i].dump();
  }
  EXPECT_EQ((*decoded)[5].ttl_check, "service:api-1");
  EXPECT_FALSE((*decoded)[0].ttl_check.empty());
  EXPECT_EQ((*decoded).back().instance->port, 85) << "a key twice: the last, as a DOM reads it";
  const auto at = [&](std::size_t from_end) { return *(*decoded)[decoded->size() - 1 - from_end].instance; };
  EXPECT_EQ(at(5).metadata.at("b"), "2");
  EXPECT_EQ(at(4).zone, "b");
  EXPECT_EQ(at(3).status, InstanceStatus::healthy) << "the check's last Status";
  EXPECT_EQ(at(2).weight, 4);
  EXPECT_EQ(at(1).host, "n2");
  EXPECT_FALSE(decode_health_entries(R"({"not": "an array"})"));
  EXPECT_FALSE(decode_health_entries("[1, 2"));
}

}  // namespace
}  // namespace svckit::consul
