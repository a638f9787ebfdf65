// Registry backends chosen by URL ("memory://", "svckitd://127.0.0.1:8500", ...). Built once by a
// Builder, then frozen: no static-initialiser registration, no global state.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "svckit/core/random.hpp"
#include "svckit/core/time_source.hpp"
#include "svckit/net/backend_url.hpp"
#include "svckit/registry/registry.hpp"

namespace svckit {

/// What a backend may use. Referenced objects must outlive the created registry.
struct RegistryDeps {
  boost::asio::any_io_executor executor;  // where the backend's I/O and timers run
  const TimeSource& time;
  Random& random;
};

using RegistryFactory =
    std::function<Result<std::unique_ptr<Registry>>(const net::BackendUrl& url, const RegistryDeps& deps)>;

/// Immutable after build(); create() is thread-safe.
class RegistryPlugins {
 public:
  class Builder {
   public:
    /// Adds a backend for `scheme`; `default_port` fills hosts given without one.
    Builder& add(std::string scheme, std::uint16_t default_port, RegistryFactory factory);
    RegistryPlugins build() &&;

   private:
    friend class RegistryPlugins;
    std::map<std::string, std::pair<std::uint16_t, RegistryFactory>> factories_;
  };

  /// Parses `url` and creates the backend. Unknown schemes list the known ones.
  Result<std::unique_ptr<Registry>> create(std::string_view url, const RegistryDeps& deps) const;
  std::vector<std::string> schemes() const;

 private:
  std::map<std::string, std::pair<std::uint16_t, RegistryFactory>> factories_;
};

/// Adds memory://, svckitd://, redis://, rediss://, etcd://, consul://, file://, dns+srv:// and dns://.
/// Part of svckit::svckit (the umbrella target: every component).
void register_builtin_plugins(RegistryPlugins::Builder& builder);
/// memory://, svckitd://, etcd://, consul://, file://, dns+srv:// and dns:// — the backends of
/// svckit::core, which needs no third-party client library.
void register_core_plugins(RegistryPlugins::Builder& builder);
/// redis:// and rediss:// (svckit::redis, hiredis).
void register_redis_plugins(RegistryPlugins::Builder& builder);
/// nats:// (svckit::nats, cnats).
void register_nats_plugins(RegistryPlugins::Builder& builder);

/// memory:// options: ?sweep=1s (TTL sweep period; default 1s), ?grace=30s (expiry grace).
RegistryFactory memory_registry_factory();
/// svckitd://host:port[,host:port...] options: ?timeout=5s (per request, default 5s).
RegistryFactory svckitd_registry_factory();
/// redis://host:port/db and rediss:// (TLS) options: ?user=, ?password_env=NAME | ?password_file=PATH
/// (AUTH), ?tls=true, ?ca_file=, ?cert_file= + ?key_file= (client certificate), ?timeout=5s,
/// ?prefix=svckit (key prefix, used as a cluster hash tag), ?sweep=1s (TTL sweep period),
/// ?grace=30s (how long an expired instance stays listed as down), ?max_instances=10000 (per service),
/// ?history=8192 (events kept for watchers that resume from an index).
RegistryFactory redis_registry_factory();
/// nats://host:4222[,host:4222...] (a NATS JetStream key-value bucket) options: ?bucket=svckit_registry
/// (created when missing, file storage), ?replicas=1, ?sweep=1s (TTL sweep period), ?grace=30s,
/// ?max_instances=10000 (per service), ?timeout=5s, ?user= with ?password_env= | ?password_file=,
/// or ?token_env= | ?token_file= (default NATS_TOKEN), ?tls=true with ?ca_file=, ?cert_file= + ?key_file=.
RegistryFactory nats_registry_factory();
/// etcd://host:port[,host:port...] (etcd v3 JSON API) options: ?user= with ?password_env=NAME |
/// ?password_file=PATH (etcd auth), ?tls=true (https with verification) with ?ca_file=, ?cert_file= +
/// ?key_file= (client certificates, etcd --client-cert-auth), ?timeout=5s,
/// ?prefix=/svckit (key prefix), ?grace=30s (how long an expired instance stays listed as down),
/// ?max_instances=10000 (per service).
RegistryFactory etcd_registry_factory();
/// consul://host:port[,host:port...] (Consul's HTTP API; also svckitd's Consul-compatible API)
/// options: ?token_env=NAME | ?token_file=PATH (ACL token), ?tls=true with ?ca_file=, ?cert_file= +
/// ?key_file=, ?dc= (datacenter),
/// ?timeout=5s, ?grace=30s (DeregisterCriticalServiceAfter of a TTL instance's check).
RegistryFactory consul_registry_factory();
/// eureka://host:port[,host:port...][/eureka] (Eureka's REST API; also svckitd's Eureka API; the
/// path is the server's base, /eureka/v2 for Netflix's server) options: ?poll=2s (how often a
/// watch reads the registry), ?user= with ?password_env= | ?password_file= (HTTP basic auth),
/// ?tls=true with ?ca_file=, ?cert_file= + ?key_file=, ?timeout=5s.
RegistryFactory eureka_registry_factory();
/// nacos://host:8848[,host:8848...] (Nacos's Open API v1; also svckitd's Nacos API) options:
/// ?namespace= and ?group= (default public, DEFAULT_GROUP), ?poll=2s (how often a watch reads),
/// ?user= with ?password_env= | ?password_file= (login for an access token) or ?token_env= |
/// ?token_file= (a token as is; default NACOS_ACCESS_TOKEN), ?tls=true with ?ca_file=, ?cert_file=
/// + ?key_file=, ?timeout=5s.
RegistryFactory nacos_registry_factory();
/// file:///absolute/path.yaml (or .json): a read-only static list, reloaded on change (inotify);
/// a file that does not parse or validate keeps the last good content. No options.
RegistryFactory file_registry_factory();
/// dns+srv://[server:port,...]/_http._tcp.{service}.example (SRV records) and
/// dns://[server:port,...]/{service}.example:PORT (A/AAAA records): read-only, each service
/// resolved when first asked for and again when its TTL runs out; no server: /etc/resolv.conf.
/// Options: ?min_ttl=1s, ?max_ttl=30s (re-resolution clamps), ?negative_ttl=5s (no SOA given),
/// ?timeout=2s, ?attempts=2, ?scheme=http, ?services=a,b (resolved at start), ?service=NAME (a
/// fixed name without {service}), ?max_services=1000. See docs/registry-dns.md.
RegistryFactory dns_srv_registry_factory();
RegistryFactory dns_registry_factory();

}  // namespace svckit
