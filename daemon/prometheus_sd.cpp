#include "daemon/prometheus_sd.hpp"

#include <set>

#include "daemon/acl_guard.hpp"
#include "svckit/registry/registry_json.hpp"

namespace svckit::daemon {

using http::Awaitable;
using http::Response;
using http::RouteContext;
using nlohmann::json;

std::string prometheus_label_name(std::string_view text) {
  std::string out(text);
  for (auto& c : out) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) c = '_';
  }
  return out;
}

namespace {

constexpr std::string_view kScrapeKey = "prometheus.io/scrape";
constexpr std::string_view kPathKey = "prometheus.io/path";
constexpr std::string_view kPortKey = "prometheus.io/port";
constexpr std::string_view kSchemeKey = "prometheus.io/scheme";

const std::string* metadata_value(const ServiceInstance& in, std::string_view key) {
  auto it = in.metadata.find(std::string(key));
  return it == in.metadata.end() ? nullptr : &it->second;
}

bool valid_port(const std::string& text) {
  if (text.empty() || text.size() > 5) return false;
  int value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    value = value * 10 + (c - '0');
  }
  return value >= 1 && value <= 65535;
}

/// "host:port" (the port from prometheus.io/port when it is one), IPv6 literals bracketed.
std::string target_of(const ServiceInstance& in) {
  std::string port = std::to_string(in.port);
  if (const auto* p = metadata_value(in, kPortKey); p != nullptr && valid_port(*p)) port = *p;
  const bool v6 = in.host.find(':') != std::string::npos;
  return (v6 ? "[" + in.host + "]" : in.host) + ":" + port;
}

json group_of(const ServiceInstance& in) {
  json labels = json::object();
  labels["__meta_svckit_service"] = in.service;
  labels["__meta_svckit_instance_id"] = in.id;
  labels["__meta_svckit_address"] = in.host;
  labels["__meta_svckit_port"] = std::to_string(in.port);
  labels["__meta_svckit_scheme"] = in.scheme;
  labels["__meta_svckit_zone"] = in.zone;
  labels["__meta_svckit_status"] = std::string(to_string(in.status));
  labels["__meta_svckit_weight"] = std::to_string(in.weight);
  std::string tags = ",";
  for (const auto& tag : in.tags) {
    tags += tag + ",";
    labels["__meta_svckit_tagpresent_" + prometheus_label_name(tag)] = "true";
  }
  labels["__meta_svckit_tags"] = in.tags.empty() ? std::string() : tags;
  for (const auto& [key, value] : in.metadata) labels["__meta_svckit_metadata_" + prometheus_label_name(key)] = value;
  labels["__scheme__"] = in.scheme;
  if (const auto* s = metadata_value(in, kSchemeKey); s != nullptr && (*s == "http" || *s == "https")) {
    labels["__scheme__"] = *s;
  }
  if (const auto* p = metadata_value(in, kPathKey); p != nullptr && !p->empty() && p->front() == '/') {
    labels["__metrics_path__"] = *p;
  }
  labels["svckit_service"] = in.service;
  labels["svckit_instance"] = in.id;
  return json{{"targets", json::array({target_of(in)})}, {"labels", std::move(labels)}};
}

}  // namespace

json prometheus_sd_groups(const std::vector<ServiceInstance>& instances) {
  json groups = json::array();
  for (const auto& in : instances) {
    if (const auto* scrape = metadata_value(in, kScrapeKey); scrape != nullptr && *scrape == "false") continue;
    groups.push_back(group_of(in));
  }
  return groups;
}

void PrometheusSdApi::add_routes(http::Router& router) {
  router.add(http::Verb::get, "/v1/prometheus/sd", [this](RouteContext& ctx) { return targets(ctx); });
}

Awaitable<Response> PrometheusSdApi::targets(RouteContext& ctx) {
  auto filter = filter_from_query(ctx.target.query);
  if (!filter) co_return http::error_response(filter.error());
  // Services asked for: ?service=a,b and/or repeated; none = every service.
  std::set<std::string> wanted;
  for (auto [it, end] = ctx.target.query.equal_range("service"); it != end; ++it) {
    std::string_view list = it->second;
    while (!list.empty()) {
      const auto comma = list.find(',');
      const auto name = list.substr(0, comma);
      if (!name.empty()) {
        if (auto valid = validate_service_name(name); !valid) co_return http::error_response(valid.error());
        wanted.emplace(name);
      }
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    }
  }
  std::vector<ServiceInstance> instances;
  for (const auto& s : registry_.services_now()) {
    if (!wanted.empty() && wanted.count(s.name) == 0) continue;
    if (!may_access_service(ctx, s.name, Access::read)) continue;
    registry_.for_each(s.name, *filter,
                       [&](const ServiceInstance& in, const std::string&) { instances.push_back(in); });
  }
  auto res = http::json_response(http::Status::ok, prometheus_sd_groups(instances));
  res.set(http::beast_http::field::cache_control, "no-store");
  co_return res;
}

}  // namespace svckit::daemon
