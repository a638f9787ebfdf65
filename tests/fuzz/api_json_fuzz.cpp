// libFuzzer target for everything svckitd decodes from the network: JSON bodies (instances,
// health checks, status changes, watch answers), request targets and query strings, durations, backend URLs,
// svckitd's YAML config with the gateway's routes (and the cluster's shared routes as JSON), the Consul-compatible
// API's registrations, Eureka registrations and Nacos's parameters and queries (and the Consul answers consul://
// reads), the YAML/JSON of file:// registries, TOML config files, svckitd's config API (keys, documents, long-poll
// queries), the flat keys of remote config stores, the DNS messages dns+srv:// / dns:// decode and svckitd's DNS
// interface answers, and ACLs: rules documents, token creation bodies and the token headers every request may carry;
// the gateway's JWT verifier; OTLP/HTTP JSON spans (svckitd's /v1/traces); Prometheus's text format (`svckit metrics`);
// the cache tier's compressed values; service_discovery YAML; the heads of answers and requests (the fast
// parsers against Beast's). The invariant: no crash, and the API never answers 5xx to
// bad input.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include <boost/beast/http/parser.hpp>
#include "daemon/acl_api.hpp"
#include "daemon/acl_guard.hpp"
#include "daemon/config.hpp"
#include "daemon/config_api.hpp"
#include "daemon/config_store.hpp"
#include "daemon/consul_api.hpp"
#include "daemon/dns_server.hpp"
#include "daemon/gateway_routes.hpp"
#include "daemon/jwt.hpp"
#include "daemon/registry_api.hpp"
#include "daemon/shared_routes.hpp"
#include "svckit/app/service_settings.hpp"
#include "svckit/cache/stored_value.hpp"
#include "svckit/config/remote_config.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/core/health_check_spec.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/prometheus_text.hpp"
#include "svckit/core/structured_text.hpp"
#include "svckit/dns/dns_message.hpp"

#include "src/http/body_reader.hpp"
#include "svckit/http/server.hpp"
#include "svckit/http/url.hpp"
#include "svckit/registry/consul_json.hpp"
#include "svckit/registry/eureka_json.hpp"
#include "svckit/registry/nacos_json.hpp"
#include "svckit/registry/registry_decode.hpp"
#include "svckit/registry/registry_json.hpp"
#include "svckit/trace/otlp_json.hpp"
#include "tests/support/plain_head_check.hpp"

namespace {

struct Fixture {
  svckit::RealTimeSource time;
  svckit::MetricsRegistry metrics;
  svckit::MemoryRegistry registry{time, {}};
  svckit::daemon::WatchSlots watches{100, 10};
  svckit::daemon::RegistryApi api{registry,
                                  metrics,
                                  {std::chrono::milliseconds(0), std::chrono::milliseconds(0), {}, "svckit"},
                                  watches};  // no waiting
  svckit::daemon::ConsulApi consul{registry, time, nullptr, consul_options(), watches};
  svckit::daemon::ConfigStore config_store{time};
  svckit::daemon::ConfigApi config_api{config_store, watches, std::chrono::milliseconds(0),
                                       std::chrono::milliseconds(0)};
  boost::asio::io_context io;
  svckit::daemon::DnsServer dns{io, registry, {}, metrics, time};  // answer() only: never started

  Fixture() {
    consul.add_routes(api.router());
    config_api.add_routes(api.router());
    for (int i = 0; i < 40; ++i) {  // enough for a DNS answer that must be cut to fit UDP
      svckit::ServiceInstance in;
      in.service = "web";
      in.host = i % 2 == 0 ? "10.0.0." + std::to_string(i + 1) : "fd00::" + std::to_string(i + 1);
      in.port = 8000 + i;
      in.tags = {"v2"};
      (void)registry.register_now(in);
    }
  }
  static svckit::daemon::ConsulApiOptions consul_options() {
    svckit::daemon::ConsulApiOptions o;
    o.default_wait = o.max_wait = std::chrono::milliseconds(0);  // no waiting
    return o;
  }
};

constexpr const char* kRootSecret = "fuzz-root-secret-0123456789";

/// svckitd's API with ACLs on: the guard, the token API and a management token.
struct AclFixture {
  svckit::RealTimeSource time;
  svckit::MetricsRegistry metrics;
  svckit::MemoryRegistry registry{time, {}};
  svckit::daemon::WatchSlots watches{100, 10};
  svckit::daemon::RegistryApi api{
      registry, metrics, {std::chrono::milliseconds(0), std::chrono::milliseconds(0), {}, "svckit"}, watches};
  svckit::daemon::AclTokenStore tokens{{}, time};
  svckit::daemon::AclGuard guard{tokens, svckit::daemon::AclRules{}, metrics};
  svckit::daemon::AclApi acl_api{tokens};

  AclFixture() {
    (void)tokens.bootstrap(kRootSecret);
    acl_api.add_routes(api.router());
    api.set_acl(&guard);
  }
};

template <class F>
void send(F& f, boost::asio::io_context& io, svckit::http::Verb verb, std::string target, std::string_view body,
          const std::vector<std::pair<std::string, std::string>>& headers = {}) {
  svckit::http::Request request{verb, target, 11};
  for (const auto& [name, value] : headers) request.set(name, value);
  request.body() = std::string(body);
  int status = 0;
  boost::asio::co_spawn(
      io,
      [&]() -> svckit::http::Awaitable<void> {
        auto response = co_await f.api.handle(request);
        status = response.result_int();
      },
      boost::asio::detached);
  io.restart();
  io.run();
  if (status >= 500 || status == 0) std::abort();
}

void send(Fixture& f, svckit::http::Verb verb, std::string target, std::string_view body) {
  send(f, f.io, verb, std::move(target), body);
}

/// Header values cannot hold CR, LF or NUL: replaced, the rest kept.
std::string header_safe(std::string_view text) {
  std::string out(text.substr(0, 512));
  for (char& c : out) {
    if (c == '\r' || c == '\n' || c == '\0') c = '_';
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  // Differential: svckitd://'s fast decoder must agree with the DOM path on every input — the same
  // instances, or an error where the DOM path errs (then the same error).
  {
    const auto dom_list = [&]() -> svckit::Result<std::vector<svckit::ServiceInstance>> {
      auto parsed = svckit::parse_json(text);
      if (!parsed) return svckit::make_error(svckit::ErrorCode::protocol, "x");
      return svckit::instances_from_json(*parsed, "instances");
    }();
    const auto fast_list = svckit::decode_instances(text, "instances");
    if (dom_list.ok() != fast_list.ok() || (dom_list.ok() && *dom_list != *fast_list)) std::abort();
    auto parsed = svckit::parse_json(text);
    const auto dom_watch =
        parsed ? svckit::watch_result_from_json(*parsed)
               : svckit::Result<svckit::WatchResult>(svckit::make_error(svckit::ErrorCode::protocol, "x"));
    const auto fast_watch = svckit::decode_watch_result(text);
    if (dom_watch.ok() != fast_watch.ok()) std::abort();
    if (dom_watch.ok() && (dom_watch->index != fast_watch->index || dom_watch->snapshot != fast_watch->snapshot ||
                           dom_watch->events.size() != fast_watch->events.size())) {
      std::abort();
    }
    // consul://'s reader of /v1/health/service answers: each entry as the DOM mapping reads it.
    if (parsed && parsed->is_array()) {
      const auto entries = svckit::consul::decode_health_entries(text);
      if (!entries || entries->size() != parsed->size()) std::abort();
      for (std::size_t i = 0; i < parsed->size(); ++i) {
        auto expected = svckit::consul::instance_from_health_entry((*parsed)[i]);
        if (expected.ok() != (*entries)[i].instance.has_value()) std::abort();
        if (expected.ok() && *expected != *(*entries)[i].instance) std::abort();
      }
    }
  }
  // The fast head parsers (answers, requests): wherever they take a head, Beast reads it the same.
  if (!svckit::http::testing::plain_head_disagreement(text, false).empty() ||
      !svckit::http::testing::plain_head_disagreement(text, true).empty() ||
      !svckit::http::testing::plain_request_disagreement(text).empty()) {
    std::abort();
  }
  // Prometheus's text format (`svckit metrics` reads it): a quantile of any histogram it names is
  // finite and lies between 0 (or the lowest bound) and the highest finite bound.
  if (auto samples = svckit::parse_prometheus_text(text, 10'000)) {
    for (const auto& s : *samples) {
      const auto buckets = svckit::buckets_of(*samples, s.name.substr(0, s.name.rfind("_bucket")), {});
      const auto q = svckit::histogram_quantile(0.99, buckets);
      if (!q) continue;
      double low = 0;
      double high = 0;
      for (const auto& [le, count] : buckets) {
        low = std::min(low, le);
        if (!std::isinf(le)) high = std::max(high, le);
      }
      if (!std::isfinite(*q) || *q < low || *q > high) std::abort();
    }
  }
  // A service's wiring settings (service_discovery YAML, env): an error or settings, never a throw.
  (void)svckit::app::load_service_settings({{"CONSUL_TOKEN", "t"}}, text);
  // The Redis cache tier's stored values (compressed frames): never more than the limit, and what
  // is encoded decodes to itself.
  if (auto value = svckit::cache::decode_stored_value(std::string(text), 1 << 20); value && value->size() > (1 << 20)) {
    std::abort();
  }
  if (auto round = svckit::cache::decode_stored_value(svckit::cache::encode_stored_value(std::string(text), 64));
      !round || *round != text) {
    std::abort();
  }
  if (auto json = svckit::parse_json(text)) {
    // Eureka's XML encoding of any document: well-formed enough that no raw '<' or '&' of the input
    // survives outside markup (every text is escaped).
    if (const auto xml = svckit::eureka::to_xml(*json); xml.find("<<") != std::string::npos) std::abort();
    if (auto instance = svckit::instance_from_json(*json)) (void)svckit::validate(*instance);
    if (auto check = svckit::health_check_from_json(*json, "check")) (void)svckit::validate(*check, "check");
    (void)svckit::watch_result_from_json(*json);
    (void)svckit::instances_from_json(*json, "instances");
    (void)svckit::consul::instance_from_registration(*json, svckit::consul::Node{});
    (void)svckit::consul::instance_from_health_entry(*json);
    // Eureka registrations (POST /eureka/apps/{app}), and what svckitd shows back for them.
    if (auto in = svckit::eureka::instance_from_registration(*json, "fuzz", "10.0.0.1")) {
      (void)svckit::eureka::instance_json(*in);
    }
    // What the eureka:// and nacos:// backends read from a server (which may be hostile).
    if (json->is_object() && json->contains("instance"))
      (void)svckit::eureka::instance_from_answer((*json)["instance"]);
    {
      svckit::nacos::Scope scope;
      scope.service = "fuzz";
      if (auto in = svckit::nacos::instance_from_host(*json, scope)) {
        (void)svckit::nacos::registration_params(*in, scope);
      }
    }
    // The cluster's shared gateway routes (PUT /v1/gateway/routes).
    (void)svckit::daemon::parse_json_routes(*json);
    if (json->is_object() && json->contains("routes")) (void)svckit::daemon::parse_json_routes((*json)["routes"]);
  }
  // OTLP/HTTP JSON spans (POST /v1/traces): the fast decoder accepts what the DOM accepts (and
  // refuses with the same field); decoded spans encode and decode again to the same ids.
  {
    const auto fast = svckit::trace::parse_otlp_json(text);
    const auto dom = svckit::trace::parse_otlp_json_dom(text);
    if (fast.ok() != dom.ok()) std::abort();
    if (fast.ok() && fast->size() != dom->size()) std::abort();
    if (!fast.ok() && fast.error().field != dom.error().field) std::abort();
  }
  if (auto spans = svckit::trace::parse_otlp_json(text)) {
    std::vector<svckit::trace::SpanData> data;
    for (const auto& r : *spans) data.push_back(r.span);
    auto again = svckit::trace::parse_otlp_json(svckit::trace::otlp_json("fuzz", data));
    if (!again || again->size() != spans->size()) std::abort();
    for (std::size_t i = 0; i < spans->size(); ++i) {
      if ((*again)[i].span.context.trace_id != (*spans)[i].span.context.trace_id) std::abort();
    }
  }
  // Raw HTTP framing as the API server and the gateway see it: the request line and headers
  // (Transfer-Encoding, Host), and the chunked body lines a stalled parser is left with.
  {
    svckit::http::beast_http::request_parser<svckit::http::beast_http::string_body> parser;
    parser.header_limit(16 << 10);
    parser.body_limit(1 << 20);
    boost::system::error_code ec;
    parser.eager(false);
    const auto used = parser.put(boost::asio::buffer(text.data(), text.size()), ec);
    if (parser.is_header_done()) {
      if (auto refused = svckit::http::check_request_framing(parser.get().base())) {
        if (refused->result_int() < 400 || refused->result_int() >= 600) std::abort();
      }
      if (parser.chunked() && used <= text.size()) {
        (void)svckit::http::detail::stalled_line_is_malformed(text.substr(used));
      }
    }
  }
  if (svckit::json_too_deep_at(text).has_value() && svckit::parse_json(text)) std::abort();  // depth is bounded
  (void)svckit::consul::parse_go_duration(text, "fuzz");
  (void)svckit::parse_structured(text, "yaml", "fuzz");
  (void)svckit::parse_structured(text, "toml", "fuzz");
  if (auto target = svckit::http::parse_target(text)) {
    (void)svckit::filter_from_query(target->query);
    // Nacos's registrations and lists are query (or form) parameters.
    const svckit::nacos::Params params(target->query.begin(), target->query.end());
    if (auto in = svckit::nacos::instance_from_params(params, "10.0.0.1")) {
      if (auto scope = svckit::nacos::scope_of(params)) (void)svckit::nacos::host_json(*in, *scope);
    }
  }
  (void)svckit::net::parse_backend_url(text, 8500);
  (void)svckit::dns::validate_name(text, "fuzz");
  if (auto message = svckit::dns::decode_message(text)) {
    for (const auto& r : message->answers) {
      if (r.name.size() > 256 || r.target.size() > 256) std::abort();  // names are bounded
    }
  }
  // svckitd's DNS interface: any datagram gets a decodable answer within the UDP size, or none.
  for (const bool udp : {true, false}) {
    const auto answer = fixture.dns.answer(text, 512, udp);
    if (answer.empty()) continue;
    if ((udp && answer.size() > 4096) || !svckit::dns::decode_message(answer)) std::abort();
  }
  (void)svckit::parse_duration(text, "fuzz");
  (void)svckit::parse_rfc3339(text, "fuzz");

  // svckitd's config file, gateway routes included, and routing by the table it yields.
  svckit::daemon::SvckitdConfig config;
  if (svckit::daemon::apply_yaml(config, std::string(text), "fuzz.yaml")) {
    const svckit::daemon::RouteTable table{config.gateway_routes, config.gateway_service_paths, {}, {}};
    (void)svckit::daemon::match_route(table, text.substr(0, 64), text);
  }

  send(fixture, svckit::http::Verb::post, "/v1/instances", text);
  send(fixture, svckit::http::Verb::put, "/v1/services/a/instances/b/status", text);
  std::string target = "/v1/services/a/instances?";
  target.append(text.substr(0, 256));
  for (char& c : target) {
    if (c == ' ' || c == '\r' || c == '\n' || c == '\0') c = '_';
  }
  send(fixture, svckit::http::Verb::get, target, {});
  send(fixture, svckit::http::Verb::put, "/v1/agent/service/register", text);
  send(fixture, svckit::http::Verb::put, "/v1/agent/check/update/service:a", text);
  target = "/v1/health/service/a?";
  target.append(text.substr(0, 256));
  for (char& c : target) {
    if (c == ' ' || c == '\r' || c == '\n' || c == '\0') c = '_';
  }
  send(fixture, svckit::http::Verb::get, target, {});

  // svckitd's config API (keys and documents from the network) and the flat keys of remote
  // config stores (etcd keys, Redis hash fields).
  (void)fixture.config_store.replace(nlohmann::json::object());  // each input starts from an empty document
  std::string key(text.substr(0, 64));
  for (char& c : key) {
    if (c == '/' || c == '?' || c == '#' || c == '%' || c == ' ' || c == '\r' || c == '\n' || c == '\0') c = '_';
  }
  send(fixture, svckit::http::Verb::put, "/v1/config/keys/" + (key.empty() ? std::string("k") : key), text);
  send(fixture, svckit::http::Verb::put, "/v1/config", text);
  target = "/v1/config?";
  target.append(text.substr(0, 128));
  for (char& c : target) {
    if (c == ' ' || c == '\r' || c == '\n' || c == '\0') c = '_';
  }
  send(fixture, svckit::http::Verb::get, target, {});
  std::vector<std::pair<std::string, std::string>> flat;
  for (std::size_t at = 0; at < text.size() && flat.size() < 32;) {
    const auto end = std::min(text.find('\n', at), text.size());
    const auto line = text.substr(at, end - at);
    const auto eq = line.find('=');
    flat.emplace_back(std::string(line.substr(0, eq)),
                      eq == std::string_view::npos ? "" : std::string(line.substr(eq + 1)));
    at = end + 1;
  }
  (void)svckit::config::tree_from_flat(flat, "fuzz");

  // ACLs: rules documents round-trip and resolve any name; token bodies; token headers and
  // ?token= on every kind of request, never a 5xx.
  if (auto json = svckit::parse_json(text)) {
    if (auto rules = svckit::daemon::AclRules::parse(*json)) {
      auto again = svckit::daemon::AclRules::parse(rules->to_json());
      if (!again || again->to_json() != rules->to_json()) std::abort();
      const auto name = text.substr(0, 64);
      (void)rules->service(name);
      (void)rules->key(name);
      (void)rules->services_under(name, svckit::daemon::Access::read);
      (void)rules->keys_under(name, svckit::daemon::Access::write);
    }
    (void)svckit::daemon::AclApi::parse_create(*json);
  }
  // JWTs as the gateway sees them: any text must be refused cleanly, never accepted.
  {
    static const std::vector<svckit::daemon::JwtKey> keys{
        svckit::daemon::JwtKey{"", "HS256", nullptr, "fuzz-secret-of-thirty-two-bytes-at-least"}};
    if (svckit::daemon::verify_jwt(text, keys, svckit::daemon::JwtChecks{}, std::chrono::system_clock::now())) {
      std::abort();  // no input forges an HMAC
    }
    if (auto decoded = svckit::daemon::base64url_decode(text)) {
      if (svckit::daemon::base64url_encode(*decoded) != text) std::abort();  // canonical round trip
    }
  }
  static AclFixture acl;
  static boost::asio::io_context acl_io;
  const auto secret = header_safe(text);
  using H = std::vector<std::pair<std::string, std::string>>;
  send(acl, acl_io, svckit::http::Verb::get, "/v1/services", {}, H{{"Authorization", secret}});
  send(acl, acl_io, svckit::http::Verb::get, "/v1/services/a/instances", {}, H{{"X-Svckit-Token", secret}});
  send(acl, acl_io, svckit::http::Verb::post, "/v1/instances", text, H{{"X-Consul-Token", secret}});
  target = "/v1/catalog/services?token=";
  target.append(text.substr(0, 128));
  for (char& c : target) {
    if (c == ' ' || c == '\r' || c == '\n' || c == '\0' || c == '#') c = '_';
  }
  send(acl, acl_io, svckit::http::Verb::get, target, {});
  if (acl.tokens.size() < 1000) {
    send(acl, acl_io, svckit::http::Verb::put, "/v1/acl/token", text, H{{"X-Svckit-Token", kRootSecret}});
  }
  return 0;
}
