#include "svckit/app/service_settings.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <map>

#include "svckit/config/config_manager.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/core/structured_text.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::app {

namespace {

using nlohmann::json;
using Env = std::map<std::string, std::string>;

Error invalid(const std::string& field, const std::string& why) {
  return make_error(ErrorCode::invalid_argument, field + ": " + why, field);
}

std::string lower(std::string s) {
  for (auto& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

Result<bool> parse_bool(const std::string& text, const std::string& field) {
  const auto v = lower(text);
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  return invalid(field, "must be true or false, got '" + text + "'");
}

/// A scalar as text (YAML types `dc: 1` as a number); maps and lists are errors naming `field`.
Result<std::string> text_of(const json& v, const std::string& field) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return v.dump();
  return invalid(field, "must be a single value, not a map or a list");
}

Result<std::chrono::milliseconds> positive_duration(const json& value, const std::string& field) {
  // A bare number is seconds, as in Python configs (instance_ttl: 30).
  const std::string text = value.is_number() ? value.dump() + "s" : value.is_string() ? value.get<std::string>() : "";
  auto d = parse_duration(text, field);
  if (!d) return d.error();
  if (d->count() <= 0) return invalid(field, "must be above 0");
  return *d;
}

/// Where each backend listens by default, and the scheme of its URL.
struct Backend {
  const char* name;
  const char* scheme;
  const char* default_address;  // host:port[/path]
};
constexpr Backend kBackends[] = {
    {"svckitd", "svckitd", "127.0.0.1:8500"},
    {"consul", "consul", "127.0.0.1:8500"},
    {"etcd", "etcd", "127.0.0.1:2379"},
    {"redis", "redis", "127.0.0.1:6379"},
    {"nats", "nats", "127.0.0.1:4222"},
    {"eureka", "eureka", "127.0.0.1:8761/eureka"},
    {"nacos", "nacos", "127.0.0.1:8848"},
    {"memory", "memory", ""},
    {"file", "file", ""},
    {"dns", "dns+srv", ""},
};

/// "${NAME}" or "${NAME:-...}" -> NAME; "" for anything else.
std::string variable_named(const std::string& raw) {
  if (raw.size() < 4 || !raw.starts_with("${") || raw.back() != '}') return {};
  auto name = raw.substr(2, raw.size() - 3);
  if (const auto dash = name.find(":-"); dash != std::string::npos) name.resize(dash);
  const bool ok = !name.empty() && std::all_of(name.begin(), name.end(),
                                               [](unsigned char ch) { return std::isalnum(ch) != 0 || ch == '_'; });
  return ok ? name : std::string();
}

/// The registry URL of a `service_discovery` section (a backend and its backend_config).
Result<std::string> registry_url_of(const json& raw, const json& expanded, const Env& env) {
  const std::string prefix = "service_discovery.";
  std::string backend_name = "memory";
  if (expanded.contains("backend")) {
    auto text = text_of(expanded["backend"], prefix + "backend");
    if (!text) return text.error();
    backend_name = lower(*text);
  }
  const auto* backend = std::find_if(std::begin(kBackends), std::end(kBackends),
                                     [&](const Backend& b) { return backend_name == b.name; });
  if (backend == std::end(kBackends)) {
    return invalid(
        prefix + "backend",
        "must be svckitd, consul, etcd, redis, nats, eureka, nacos, memory, file or dns; got '" + backend_name + "'");
  }
  const json config = expanded.value("backend_config", json::object());
  const json raw_config = raw.value("backend_config", json::object());
  if (!config.is_object()) return invalid(prefix + "backend_config", "must be a map");
  static const char* const known[] = {"url", "datacenter", "token", "username", "password", "namespace", "group"};
  for (const auto& [key, value] : config.items()) {
    if (std::find(std::begin(known), std::end(known), key) == std::end(known)) {
      return invalid(prefix + "backend_config." + key,
                     "is not a known setting (url, datacenter, token, username, password, namespace, group)");
    }
  }
  std::string scheme_out = backend->scheme;
  std::string address = backend->default_address;
  std::string query;
  bool tls = false;
  if (config.contains("url")) {
    if (!config["url"].is_string()) return invalid(prefix + "backend_config.url", "must be a URL");
    std::string url = config["url"].get<std::string>();
    const auto sep = url.find("://");
    if (sep != std::string::npos) {
      const auto scheme = lower(url.substr(0, sep));
      if (scheme == "https") tls = true;
      if (scheme != "http" && scheme != "https" && scheme != backend->scheme && scheme != "rediss") {
        return invalid(prefix + "backend_config.url", "a " + backend_name + " URL is http(s)://host:port or " +
                                                          backend->scheme + "://..., got '" + url + "'");
      }
      if (scheme == "rediss") scheme_out = scheme;  // the registry's own URL: its options are kept
      url = url.substr(sep + 3);
    }
    if (const auto q = url.find('?'); q != std::string::npos) {
      query = url.substr(q);
      url.resize(q);
    }
    while (!url.empty() && url.back() == '/') url.pop_back();
    if (url.empty()) return invalid(prefix + "backend_config.url", "names no host");
    address = url;
  }
  const auto add = [&](const std::string& key, const std::string& value) {
    query += (query.empty() ? "?" : "&") + key + "=" + net::url_encode(value);  // no option injected by a value
  };
  if (tls) add("tls", "true");
  for (auto [key, option] : {std::pair{"datacenter", "dc"}, std::pair{"namespace", "namespace"},
                             std::pair{"group", "group"}, std::pair{"username", "user"}}) {
    if (!config.contains(key)) continue;
    auto text = text_of(config[key], prefix + "backend_config." + key);
    if (!text) return text.error();
    add(option, *text);
  }
  for (const char* secret : {"token", "password"}) {
    if (!raw_config.contains(secret)) continue;
    const auto field = prefix + "backend_config." + secret;
    const std::string raw_value = raw_config[secret].is_string() ? raw_config[secret].get<std::string>() : "";
    const auto name = variable_named(raw_value);
    if (name.empty()) {
      return invalid(field,
                     "give it through the environment as ${NAME} (a secret written in the file would be read "
                     "by anyone who can read the file)");
    }
    if (env.count(name) == 0 || env.at(name).empty()) continue;  // ${NAME:-} unset: no secret
    add(std::string(secret) + "_env", name);
  }
  return scheme_out + "://" + address + query;
}

Result<void> apply_discovery_yaml(const json& raw, const json& expanded, const Env& env, DiscoverySettings& out) {
  const std::string prefix = "service_discovery.";
  if (!expanded.is_object()) return invalid("service_discovery", "must be a map");
  static const char* const known[] = {"backend",          "backend_config", "health_check_interval", "instance_ttl",
                                      "cleanup_interval", "auto_register",  "auto_deregister",       "selection"};
  for (const auto& [key, value] : expanded.items()) {
    if (std::find(std::begin(known), std::end(known), key) == std::end(known)) {
      return invalid(prefix + key, "is not a known setting");
    }
  }
  auto url = registry_url_of(raw, expanded, env);
  if (!url) return url.error();
  out.registry_url = *url;
  for (auto [key, target] :
       {std::pair{"health_check_interval", &out.health_check_interval}, std::pair{"instance_ttl", &out.instance_ttl},
        std::pair{"cleanup_interval", &out.cleanup_interval}}) {
    if (!expanded.contains(key)) continue;
    auto d = positive_duration(expanded[key], prefix + key);
    if (!d) return d.error();
    *target = *d;
  }
  for (auto [key, target] :
       {std::pair{"auto_register", &out.auto_register}, std::pair{"auto_deregister", &out.auto_deregister}}) {
    if (!expanded.contains(key)) continue;
    const auto& v = expanded[key];
    auto b = v.is_boolean() ? Result<bool>(v.get<bool>())
                            : parse_bool(v.is_string() ? v.get<std::string>() : v.dump(), prefix + key);
    if (!b) return b.error();
    *target = *b;
  }
  if (expanded.contains("selection")) {
    auto text = text_of(expanded["selection"], prefix + "selection");
    if (!text) return text.error();
    auto s = parse_instance_selection(*text, prefix + "selection");
    if (!s) return s.error();
    out.selection = *s;
  }
  if (out.registry_url == "memory://" && expanded.contains("cleanup_interval")) {
    out.registry_url += "?sweep=" + std::to_string(out.cleanup_interval.count()) + "ms";
  }
  return {};
}

}  // namespace

Result<ServiceSettings> load_service_settings(const std::vector<std::pair<std::string, std::string>>& env_pairs,
                                              std::string_view yaml_text, const std::string& yaml_source) {
  const Env env(env_pairs.begin(), env_pairs.end());
  const auto getenv = [&env](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  ServiceSettings out;
  if (!yaml_text.empty()) {
    auto raw = parse_structured(yaml_text, "yaml", yaml_source);
    if (!raw) return raw.error();
    if (raw->is_object() && raw->contains("service_discovery")) {
      const json section = (*raw)["service_discovery"];
      auto expanded = config::expand_variables(section, getenv);
      if (!expanded) {
        auto e = expanded.error();
        e.field = "service_discovery." + e.field;
        return e;
      }
      if (auto r = apply_discovery_yaml(section, *expanded, env, out.discovery); !r) return r.error();
    }
  }
  auto profile = config::config_profile(getenv, out.profile);
  if (!profile) return profile.error();
  out.profile = *profile;
  if (auto it = env.find("SVCKIT_REGISTRY"); it != env.end() && !it->second.empty()) {
    if (it->second.find("://") == std::string::npos) return invalid("SVCKIT_REGISTRY", "must be a registry URL");
    out.discovery.registry_url = it->second;
  }
  if (auto it = env.find("MESSAGING_URL"); it != env.end() && !it->second.empty()) {
    if (it->second.find("://") == std::string::npos) {
      return invalid("MESSAGING_URL", "must be an event bus URL (memory://, redis://, nats://, amqp://)");
    }
    out.messaging_url = it->second;
  }
  if (auto it = env.find("REDIS_URL"); it != env.end() && !it->second.empty()) {
    if (!it->second.starts_with("redis://") && !it->second.starts_with("rediss://")) {
      return invalid("REDIS_URL", "must be redis://host:port[/db] or rediss://...");
    }
    out.redis_url = it->second;
  }
  if (auto it = env.find("RABBITMQ_URL"); it != env.end() && !it->second.empty()) {
    if (!it->second.starts_with("amqp://")) {
      return invalid("RABBITMQ_URL", "must be amqp://host:port[/vhost] (credentials in ?user= and ?password_env=)");
    }
    out.rabbitmq_url = it->second;
  }
  out.queue_type = out.redis_url.empty() ? "memory" : "redis";
  if (auto it = env.find("QUEUE_TYPE"); it != env.end() && !it->second.empty()) {
    auto type = lower(it->second);
    if (type == "amqp") type = "rabbitmq";
    if (type != "redis" && type != "memory" && type != "rabbitmq") {
      return invalid("QUEUE_TYPE", "must be redis, rabbitmq or memory, got '" + it->second + "'");
    }
    if (type == "redis" && out.redis_url.empty()) return invalid("QUEUE_TYPE", "redis needs REDIS_URL");
    if (type == "rabbitmq" && out.rabbitmq_url.empty()) {
      if (!out.messaging_url.starts_with("amqp://")) {
        return invalid("QUEUE_TYPE", "rabbitmq needs RABBITMQ_URL (or an amqp:// MESSAGING_URL)");
      }
      out.rabbitmq_url = out.messaging_url;
    }
    out.queue_type = type;
  }
  out.queue_url = out.queue_type == "redis"      ? out.redis_url
                  : out.queue_type == "rabbitmq" ? out.rabbitmq_url
                                                 : "memory://";
  if (auto it = env.find("MESSAGE_WORKERS"); it != env.end() && !it->second.empty()) {
    int n = 0;
    const auto& v = it->second;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || end != v.data() + v.size() || n < 1 || n > 1024) {
      return invalid("MESSAGE_WORKERS", "must be a whole number 1..1024, got '" + v + "'");
    }
    out.message_workers = n;
  }
  if (auto it = env.find("HEALTH_CHECK_ENABLED"); it != env.end() && !it->second.empty()) {
    auto b = parse_bool(it->second, "HEALTH_CHECK_ENABLED");
    if (!b) return b.error();
    out.health_check_enabled = *b;
  }
  return out;
}

DiscoveryOptions discovery_options(const ServiceSettings& settings) {
  DiscoveryOptions options;
  options.selection = settings.discovery.selection;
  options.deregister_on_shutdown = settings.discovery.auto_deregister;
  return options;
}

std::optional<ServiceInstance> self_registration(const ServiceSettings& settings, ServiceInstance instance) {
  if (!settings.discovery.auto_register) return std::nullopt;
  instance.ttl = settings.discovery.instance_ttl;
  if (settings.health_check_enabled && !instance.health_check_path.empty()) {
    HealthCheckSpec check;
    check.type = "http";
    check.path = instance.health_check_path;
    check.interval = settings.discovery.health_check_interval;
    check.timeout = std::min(check.timeout, check.interval);
    instance.checks.push_back(std::move(check));
    instance.status = InstanceStatus::starting;
  }
  return instance;
}

}  // namespace svckit::app
