// One order through svckitd's gateway is one trace: the gateway's server span, its call and attempt
// spans, order-service's server span, its calls to product- and user-service with their attempts,
// and their server spans — parent links intact, status codes recorded, a retry marked — as received
// over OTLP/HTTP by a collector the test starts (a second svckitd, whose /v1/traces is an OTLP
// receiver). Also: the receiver refuses bad OTLP naming the field, and protobuf with 415.
#include <gtest/gtest.h>

#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "svckit/testing/process.hpp"
#include "svckitd_process.hpp"

namespace svckit::testing {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

struct Span {
  std::string id, parent, service, kind, name;
  json attributes, status;
};

std::vector<Span> spans_of(const SvckitdProcess& collector, const std::string& trace_id) {
  std::vector<Span> out;
  const auto trace = collector.json("GET", "/v1/traces/" + trace_id);
  for (const auto& s : trace.value("spans", json::array())) {
    out.push_back(
        Span{s["span_id"], s["parent_span_id"], s["service"], s["kind"], s["name"], s["attributes"], s["status"]});
  }
  return out;
}

TEST(Tracing, AnOrderThroughTheGatewayIsOneTraceAcrossFourProcessesWithItsRetryMarked) {
  TempDir dir, collector_dir;
  auto collector = SvckitdProcess::start(collector_dir.path());  // the OTLP receiver
  ASSERT_NE(collector, nullptr);
  const std::string otlp = "http://127.0.0.1:" + std::to_string(collector->port) + "/v1/traces";
  const auto gateway_file = dir.path() / "gateway.port";
  auto daemon =
      SvckitdProcess::start(dir.path(), {"--gateway-port", "0", "--set", "gateway.port_file=" + gateway_file.string(),
                                         "--set", "tracing.otlp_endpoint=" + otlp, "--set", "tracing.sample_ratio=1"});
  ASSERT_NE(daemon, nullptr);
  ASSERT_TRUE(wait_until([&] { return read_file(gateway_file).find('\n') != std::string::npos; }, 10s));
  const int gateway = std::atoi(read_file(gateway_file).c_str());
  std::vector<ChildProcess> shop;
  for (const char* role : {"product", "user", "order"}) {
    int port = 0;
    auto child = start_listening_binary(
        {SHOP_SERVICE_BIN, "--role", role, "--registry", daemon->url(), "--traces", otlp, "--check-every", "0s"},
        dir.path(), port);
    ASSERT_TRUE(child.ok()) << child.error().message;
    shop.push_back(std::move(*child));
  }
  // A product instance that listens nowhere: an order that picks it first retries on the live one.
  ASSERT_EQ(
      daemon->call("POST", "/v1/instances", instance_body("product-service", free_port(), R"(,"id":"dead")")).status,
      200);
  ASSERT_TRUE(wait_until([&] { return http_call(gateway, "GET", "/order-service/orders/0").status == 200; }, 10s));
  for (int i = 1; i <= 30; ++i) {
    ASSERT_EQ(http_call(gateway, "GET", "/order-service/orders/" + std::to_string(i)).status, 200);
  }

  // Every order's trace reaches the collector (exporters send at least once a second).
  std::vector<std::string> orders;
  ASSERT_TRUE(wait_until(
      [&] {
        orders.clear();
        const auto listed = collector->json("GET", "/v1/traces?limit=1000");
        for (const auto& t : listed.value("traces", json::array())) {
          if (t["service"] == "svckitd" && t["spans"].get<int>() >= 10) orders.push_back(t["trace_id"]);
        }
        return orders.size() >= 31;
      },
      20s))
      << orders.size() << " complete order traces; all: " << collector->call("GET", "/v1/traces?limit=1000").body;

  int retried = 0;
  for (const auto& id : orders) {
    const auto spans = spans_of(*collector, id);
    std::map<std::string, const Span*> by_id;
    for (const auto& s : spans) by_id[s.id] = &s;
    // One root: the gateway's server span; every other span's parent is in the trace.
    int roots = 0;
    for (const auto& s : spans) {
      if (s.parent.empty()) {
        ++roots;
        EXPECT_EQ(s.service, "svckitd");
        EXPECT_EQ(s.kind, "server");
        EXPECT_EQ(s.name, "GET /{service}");
        EXPECT_EQ(s.attributes.value("http.response.status_code", 0), 200);
      } else {
        EXPECT_TRUE(by_id.count(s.parent)) << id << ": " << s.name << " has a parent outside the trace";
      }
    }
    EXPECT_EQ(roots, 1) << id;
    // The servers each answered once, each a child of a client attempt of its caller.
    std::set<std::string> servers;
    for (const auto& s : spans) {
      if (s.kind != "server") continue;
      servers.insert(s.service + " " + s.name);
      if (!s.parent.empty()) {
        const auto* parent = by_id[s.parent];
        ASSERT_NE(parent, nullptr);
        EXPECT_EQ(parent->kind, "client") << s.name;
        EXPECT_EQ(parent->attributes.value("http.response.status_code", 0), 200) << s.name;
      }
    }
    EXPECT_EQ(servers, (std::set<std::string>{"svckitd GET /{service}", "order-service GET /orders/{id}",
                                              "product-service GET /products/{id}", "user-service GET /users/{id}"}))
        << id;
    // A retry: a failed attempt (error status, no answer) and a sibling attempt marked as a resend.
    for (const auto& s : spans) {
      if (s.kind != "client" || s.attributes.value("http.request.resend_count", 0) < 1) continue;
      ++retried;
      bool failed_sibling = false;
      for (const auto& t : spans) {
        failed_sibling |= t.kind == "client" && t.parent == s.parent && t.status.value("code", "") == "error" &&
                          t.attributes.value("svckit.instance", "") == "dead";
      }
      EXPECT_TRUE(failed_sibling) << id << ": a resend without the failed attempt before it";
      EXPECT_EQ(by_id[s.parent]->attributes.value("svckit.attempts", 0), 2);
    }
  }
  EXPECT_GE(retried, 1) << "no order picked the dead product instance first in 31 orders";
  std::printf("orders retried on another product instance: %d of %zu\n", retried, orders.size());

  // A caller already inside a trace, with a vendor's tracestate: every process continues that
  // trace and carries the tracestate on unchanged (W3C Trace Context).
  const std::string caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
  ASSERT_EQ(http_call(gateway, "GET", "/order-service/orders/99", "",
                      {"traceparent: 00-" + caller_trace + "-00f067aa0ba902b7-01", "tracestate: congo=t61rcWkgMzE"})
                .status,
            200);
  std::vector<Span> continued;
  ASSERT_TRUE(wait_until(
      [&] {
        continued = spans_of(*collector, caller_trace);
        return continued.size() >= 10;
      },
      20s))
      << continued.size();
  const auto trace = collector->json("GET", "/v1/traces/" + caller_trace);
  std::set<std::string> services;
  for (const auto& s : trace["spans"]) {
    services.insert(s["service"].get<std::string>());
    EXPECT_EQ(s.value("trace_state", ""), "congo=t61rcWkgMzE") << s["service"] << " " << s["name"];
    if (s["kind"] == "server" && s["service"] == "svckitd") {
      EXPECT_EQ(s["parent_span_id"], "00f067aa0ba902b7");
    }
  }
  EXPECT_EQ(services, (std::set<std::string>{"svckitd", "order-service", "product-service", "user-service"}));
}

TEST(Tracing, TheReceiverRefusesBadOtlpNamingTheFieldAndProtobufWith415) {
  TempDir dir;
  auto d = SvckitdProcess::start(dir.path());
  ASSERT_NE(d, nullptr);
  const std::string good_span =
      R"({"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","name":"x","kind":2,)"
      R"("startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000500000000"})";
  auto request = [](const std::string& spans) {
    return R"({"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"t"}}]},)"
           R"("scopeSpans":[{"spans":[)" +
           spans + "]}]}]}";
  };
  EXPECT_EQ(d->call("POST", "/v1/traces", request(good_span)).status, 200);
  auto bad =
      d->call("POST", "/v1/traces", request(good_span + R"(,{"traceId":"zz","spanId":"b7ad6b7169203331","name":"y"})"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body)["error"]["field"], "resourceSpans[0].scopeSpans[0].spans[1].traceId");
  auto nested = d->call("POST", "/v1/traces", std::string(100000, '[') + std::string(100000, ']'));
  EXPECT_EQ(nested.status, 400);
  auto proto = http_call(d->port, "POST", "/v1/traces", "\x0a\x00", {"Content-Type: application/x-protobuf"});
  EXPECT_EQ(proto.status, 415) << proto.raw_headers;
  // Only the good request's span was kept.
  const auto traces = d->json("GET", "/v1/traces")["traces"];
  ASSERT_EQ(traces.size(), 1U) << traces.dump();
  EXPECT_EQ(traces[0]["trace_id"], "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(traces[0]["duration_ms"], 500.0);
  EXPECT_EQ(d->call("GET", "/v1/traces/0af7651916cd43dd8448eb211c80319d").status, 404);
  EXPECT_EQ(json::parse(d->call("GET", "/v1/traces/nothex").body)["error"]["field"], "trace_id");
}

// OpenTelemetry's own JavaScript SDK, exporting with its OTLP/HTTP (JSON) exporter and
// BatchSpanProcessor, lands in svckitd's receiver as it sent it: the trace whole across several
// batches, the parent link, kinds, every attribute kind, the failed child's status.
TEST(Tracing, OpenTelemetrysJavaScriptSdkExportsIntoSvckitd) {
  ASSERT_TRUE(std::filesystem::exists(std::filesystem::path(SVCKIT_NPM_DIR) / "node_modules" / "@opentelemetry" /
                                      "exporter-trace-otlp-http"))
      << "the npm OpenTelemetry packages are missing: run scripts/setup";
  TempDir dir;
  auto d = SvckitdProcess::start(dir.path());
  ASSERT_NE(d, nullptr);
  const auto log = dir.path() / "node.log";
  auto child = ChildProcess::spawn({"node", std::string(SVCKIT_NPM_DIR) + "/otel_client.js",
                                    "http://127.0.0.1:" + std::to_string(d->port) + "/v1/traces", "1100"},
                                   log);
  ASSERT_TRUE(child) << child.error().message;
  const int status = child->wait_exit(60s);
  const auto text = read_file(log);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << text;
  const auto ids = json::parse(text.substr(0, text.find('\n')), nullptr, false);
  ASSERT_TRUE(ids.is_object()) << text;

  const auto spans = spans_of(*d, ids["trace_id"]);
  ASSERT_EQ(spans.size(), 1102U) << "a root, the failed child and 1,100 steps, over three batches of at most 512";
  const auto find = [&](const std::string& id) {
    return std::find_if(spans.begin(), spans.end(), [&](const Span& s) { return s.id == id; });
  };
  const auto root = find(ids["root"]);
  ASSERT_NE(root, spans.end());
  EXPECT_EQ(root->parent, "");
  EXPECT_EQ(root->service, "npm-otel");
  EXPECT_EQ(root->kind, "server");
  EXPECT_EQ(root->name, "GET /orders/{id}");
  EXPECT_EQ(root->attributes["http.request.method"], "GET");
  EXPECT_EQ(root->attributes["http.response.status_code"], 200);
  EXPECT_EQ(root->attributes["ratio"], 0.25);
  EXPECT_EQ(root->attributes["cached"], true);
  EXPECT_EQ(root->attributes["note"], "caf\u00e9 \u20ac");
  ASSERT_TRUE(root->attributes["tags"].is_string()) << root->attributes.dump();  // an array: kept as its JSON
  EXPECT_EQ(json::parse(root->attributes["tags"].get<std::string>())["arrayValue"]["values"][1]["stringValue"], "b");
  const auto failed = find(ids["child"]);
  ASSERT_NE(failed, spans.end());
  EXPECT_EQ(failed->parent, ids["root"]);
  EXPECT_EQ(failed->kind, "client");
  EXPECT_EQ(failed->status["code"], "error");
  EXPECT_EQ(failed->status["message"], "timeout after 5 s");
  EXPECT_EQ(std::count_if(spans.begin(), spans.end(), [&](const Span& s) { return s.parent == ids["root"]; }), 1101);
}

}  // namespace
}  // namespace svckit::testing
