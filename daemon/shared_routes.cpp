#include "daemon/shared_routes.hpp"

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"

namespace svckit::daemon {

using nlohmann::json;

namespace {

constexpr std::chrono::milliseconds kReachLimit{5'000};  // how long a write waits to be applied here
constexpr std::size_t kMaxRoutes = 1'000;

/// The field name parse_routes gives ("gateway.routes[1].x") as the API names it ("routes[1].x").
Error api_field(Error e) {
  const std::string from = "gateway.routes";
  if (e.field.rfind(from, 0) == 0) e.field = e.field.substr(8);
  const auto at = e.message.find(from);
  if (at != std::string::npos) e.message.erase(at, 8);
  return e;
}

}  // namespace

Result<std::vector<GatewayRoute>> parse_json_routes(const json& routes) {
  if (!routes.is_array()) return make_error(ErrorCode::invalid_argument, "routes must be a list of routes", "routes");
  if (routes.size() > kMaxRoutes) {
    return make_error(ErrorCode::invalid_argument, "at most " + std::to_string(kMaxRoutes) + " routes", "routes");
  }
  for (std::size_t i = 0; i < routes.size(); ++i) {
    if (!routes[i].is_object()) {
      return make_error(ErrorCode::invalid_argument, "routes[" + std::to_string(i) + "] must be an object",
                        "routes[" + std::to_string(i) + "]");
    }
    for (const auto& [key, value] : routes[i].items()) {
      if (value.is_object() || value.is_array() || value.is_null()) {
        const auto field = "routes[" + std::to_string(i) + "]." + key;
        return make_error(ErrorCode::invalid_argument, field + " must be a single value", field);
      }
    }
  }
  // JSON is YAML: the config file's checks apply as they are.
  YAML::Node node;
  try {
    node = YAML::Load(routes.dump());
  } catch (const YAML::Exception& e) {
    return make_error(ErrorCode::invalid_argument, std::string("routes: ") + e.what(), "routes");
  }
  auto parsed = parse_routes(node, "gateway routes");
  if (!parsed) return api_field(parsed.error());
  return parsed;
}

SharedRoutes::SharedRoutes(etcd::EtcdClient& etcd, const std::string& prefix, const TimeSource& time,
                           OnChange on_change)
    : etcd_(etcd),
      key_(prefix + "/gateway/routes"),
      time_(time),
      on_change_(std::move(on_change)),
      follower_(
          etcd, key_,
          [this](const json& events) {
            for (const auto& e : events) {
              apply(e.value("kv", json::object()), e.value("type", "PUT") == "DELETE",
                    etcd::json_int(e.value("kv", json::object()), "mod_revision"));
            }
          },
          [this]() -> http::Awaitable<Result<std::int64_t>> {
            auto loaded = co_await load();
            if (!loaded) co_return loaded.error();
            co_return revision_.load();
          }) {}

void SharedRoutes::stop() {
  stopped_ = true;
  follower_.stop();
  applied_.close();
}

void SharedRoutes::apply(const json& kv, bool deleted, std::int64_t revision) {
  json document = {{"routes", json::array()}};
  if (!deleted) {
    auto value = etcd::base64_decode(kv.value("value", ""));
    auto parsed = value ? json::parse(*value, nullptr, false) : json();
    if (!parsed.is_object() || !parsed.contains("routes")) {
      logs::error("cluster", "event=shared_routes_unreadable revision={} (not svckitd's: the routes in force stay)",
                  revision);
      return;
    }
    document = std::move(parsed);
  }
  auto routes = parse_json_routes(document["routes"]);
  if (!routes) {
    logs::error("cluster", "event=shared_routes_refused revision={} error=\"{}\" (the routes in force stay)", revision,
                routes.error().describe());
  } else {
    on_change_(std::move(*routes));
    logs::info("cluster", "event=shared_routes_applied revision={} routes={}", revision, document["routes"].size());
  }
  {
    std::lock_guard lock(mutex_);
    document_ = std::move(document);
    written_at_ = deleted ? 0 : static_cast<std::uint64_t>(revision);
  }
  if (revision > revision_.load()) revision_ = revision;
  applied_.notify_all();
}

http::Awaitable<Result<void>> SharedRoutes::load() {
  const json range{{"key", etcd::base64_encode(key_)}};
  auto answer = co_await etcd_.call("/v3/kv/range", range);
  if (!answer) co_return answer.error();
  const auto kvs = answer->value("kvs", json::array());
  const auto revision = etcd::json_int((*answer)["header"], "revision");
  if (kvs.empty()) {
    apply(json::object(), true, revision);
  } else {
    apply(kvs[0], false, etcd::json_int(kvs[0], "mod_revision"));
  }
  revision_ = revision;
  co_return Result<void>{};
}

http::Awaitable<Result<std::uint64_t>> SharedRoutes::write(json routes, std::string reason) {
  if (auto parsed = parse_json_routes(routes); !parsed) co_return parsed.error();
  const json document{
      {"routes", std::move(routes)}, {"updated_at", format_rfc3339(time_.system_now())}, {"reason", std::move(reason)}};
  const json put{{"key", etcd::base64_encode(key_)}, {"value", etcd::base64_encode(document.dump())}};
  auto answer = co_await etcd_.call("/v3/kv/put", put);
  if (!answer) co_return answer.error();
  const auto revision = etcd::json_int((*answer)["header"], "revision");
  const auto until = std::chrono::steady_clock::now() + kReachLimit;
  while (revision_.load() < revision && !stopped_) {
    auto ticket = applied_.park();
    if (revision_.load() >= revision) break;
    const auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero() || !co_await ticket.wait_for(left, sleeper_)) break;
  }
  co_return static_cast<std::uint64_t>(revision);
}

std::pair<json, std::uint64_t> SharedRoutes::current() const {
  std::lock_guard lock(mutex_);
  return {document_, written_at_};
}

}  // namespace svckit::daemon
