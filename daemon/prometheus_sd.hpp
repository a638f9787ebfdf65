// Prometheus service discovery through svckitd: `GET /v1/prometheus/sd` answers in the format of
// Prometheus's `http_sd_configs` (a JSON array of target groups), so a Prometheus server finds and
// scrapes every registered instance with no exporter list to keep by hand — the role Consul's
// catalog plays for `consul_sd_configs`, through the discovery mechanism every Prometheus build has.
//
//   GET /v1/prometheus/sd[?service=a,b][&service=c][&tag=t]...[&zone=z][&status=healthy][&meta.k=v]
//
// One group per instance: target "host:port" and the labels below. Instances of every status are
// listed unless `status=` filters (a target that is down scrapes as `up == 0`, which is what an
// "instances down" alert wants). Filters: services (comma-separated or repeated), tags (all must
// be present), zone, status, metadata (`meta.KEY=VALUE`), as on the native list API. With ACLs on,
// only services the token may read are listed (give Prometheus a token in `authorization`).
//
// Labels (Prometheus drops `__meta_*` after relabelling; the two plain ones stay on every series):
//   __meta_svckit_service, __meta_svckit_instance_id, __meta_svckit_address, __meta_svckit_port,
//   __meta_svckit_scheme, __meta_svckit_zone, __meta_svckit_status, __meta_svckit_weight,
//   __meta_svckit_tags (",a,b," as consul_sd writes them), __meta_svckit_tagpresent_<tag> = "true",
//   __meta_svckit_metadata_<key> (key sanitised to [a-zA-Z0-9_]),
//   svckit_service, svckit_instance.
// Instance metadata in the Kubernetes annotation style steers the scrape:
//   prometheus.io/scrape = "false"  → not listed;  prometheus.io/path → __metrics_path__;
//   prometheus.io/port → the target's port;        prometheus.io/scheme → __scheme__ (else the
//   instance's scheme).
//
// Thread-safety: routes are added before serving; the handler is thread-safe.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "svckit/http/router.hpp"
#include "svckit/registry/memory_registry.hpp"

namespace svckit::daemon {

/// A Prometheus label name made of `text`: every byte outside [a-zA-Z0-9_] becomes '_' (as
/// Prometheus's own service discoveries sanitise keys).
std::string prometheus_label_name(std::string_view text);

/// The http_sd target groups of `instances` (one group each, in the given order); instances whose
/// metadata says `prometheus.io/scrape: "false"` are left out.
nlohmann::json prometheus_sd_groups(const std::vector<ServiceInstance>& instances);

class PrometheusSdApi {
 public:
  /// `registry` must outlive the API.
  explicit PrometheusSdApi(MemoryRegistry& registry) : registry_(registry) {}

  void add_routes(http::Router& router);

 private:
  http::Awaitable<http::Response> targets(http::RouteContext& ctx);

  MemoryRegistry& registry_;
};

}  // namespace svckit::daemon
