// libFuzzer target for everything svckitd decodes from the network: JSON bodies (instances,
// health checks, status changes, watch answers), request targets and query strings, durations, backend URLs,
// svckitd's YAML config with the gateway's routes, the Consul-compatible API's registrations and
// queries (and the Consul answers consul:// reads), the YAML/JSON of file:// registries, TOML
// config files, svckitd's config API (keys, documents, long-poll queries), the flat keys of remote
// config stores, and the DNS messages dns+srv:// / dns:// decode.
// The invariant: no crash, and the API never answers 5xx to bad input.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>

#include <boost/beast/http/parser.hpp>
#include "daemon/config.hpp"
#include "daemon/config_api.hpp"
#include "daemon/config_store.hpp"
#include "daemon/consul_api.hpp"
#include "daemon/gateway_routes.hpp"
#include "daemon/registry_api.hpp"
#include "svckit/config/remote_config.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/core/health_check_spec.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/core/structured_text.hpp"
#include "svckit/dns/dns_message.hpp"

#include "src/http/body_reader.hpp"
#include "svckit/http/server.hpp"
#include "svckit/http/url.hpp"
#include "svckit/registry/consul_json.hpp"
#include "svckit/registry/registry_json.hpp"

namespace {

struct Fixture {
  svckit::RealTimeSource time;
  svckit::MetricsRegistry metrics;
  svckit::MemoryRegistry registry{time, {}};
  svckit::daemon::WatchSlots watches{100, 10};
  svckit::daemon::RegistryApi api{
      registry, metrics, {std::chrono::milliseconds(0), std::chrono::milliseconds(0), {}}, watches};  // no waiting
  svckit::daemon::ConsulApi consul{registry, time, nullptr, consul_options(), watches};
  svckit::daemon::ConfigStore config_store{time};
  svckit::daemon::ConfigApi config_api{config_store, watches, std::chrono::milliseconds(0),
                                       std::chrono::milliseconds(0)};
  boost::asio::io_context io;

  Fixture() {
    consul.add_routes(api.router());
    config_api.add_routes(api.router());
  }
  static svckit::daemon::ConsulApiOptions consul_options() {
    svckit::daemon::ConsulApiOptions o;
    o.default_wait = o.max_wait = std::chrono::milliseconds(0);  // no waiting
    return o;
  }
};

void send(Fixture& f, svckit::http::Verb verb, std::string target, std::string_view body) {
  svckit::http::Request request{verb, target, 11};
  request.body() = std::string(body);
  int status = 0;
  boost::asio::co_spawn(
      f.io,
      [&]() -> svckit::http::Awaitable<void> {
        auto response = co_await f.api.handle(request);
        status = response.result_int();
      },
      boost::asio::detached);
  f.io.restart();
  f.io.run();
  if (status >= 500 || status == 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fixture;
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  if (auto json = svckit::parse_json(text)) {
    if (auto instance = svckit::instance_from_json(*json)) (void)svckit::validate(*instance);
    if (auto check = svckit::health_check_from_json(*json, "check")) (void)svckit::validate(*check, "check");
    (void)svckit::watch_result_from_json(*json);
    (void)svckit::instances_from_json(*json, "instances");
    (void)svckit::consul::instance_from_registration(*json, svckit::consul::Node{});
    (void)svckit::consul::instance_from_health_entry(*json);
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
  if (auto target = svckit::http::parse_target(text)) (void)svckit::filter_from_query(target->query);
  (void)svckit::http::parse_backend_url(text, 8500);
  (void)svckit::dns::validate_name(text, "fuzz");
  if (auto message = svckit::dns::decode_message(text)) {
    for (const auto& r : message->answers) {
      if (r.name.size() > 256 || r.target.size() > 256) std::abort();  // names are bounded
    }
  }
  (void)svckit::parse_duration(text, "fuzz");
  (void)svckit::parse_rfc3339(text, "fuzz");

  // svckitd's config file, gateway routes included, and routing by the table it yields.
  svckit::daemon::SvckitdConfig config;
  if (svckit::daemon::apply_yaml(config, std::string(text), "fuzz.yaml")) {
    const svckit::daemon::RouteTable table{config.gateway_routes, config.gateway_service_paths};
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
  return 0;
}
