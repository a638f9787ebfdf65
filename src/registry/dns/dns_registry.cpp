// dns+srv:// and dns:// : Kubernetes-style discovery from DNS, read-only.
//
//   dns+srv://[server:port,...]/_http._tcp.{service}.default.svc.cluster.local   SRV records
//   dns://[server:port,...]/{service}.default.svc.cluster.local:8080             A/AAAA + a port
//
// A service is resolved the first time it is asked for (list, get, watch), and from then on
// re-resolved when its records' TTL runs out (clamped to [min_ttl, max_ttl]) — periodically, not
// only when a call fails. Each resolution is applied to an in-process MemoryRegistry as the exact
// difference to the last one, so watchers get ordered events with their own indices. NXDOMAIN or
// no records: the service has no instances. SERVFAIL, REFUSED, a timeout or an unreachable server:
// the last known instances stay (static stability) and the resolution is retried with backoff.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <spdlog/spdlog.h>
#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "svckit/core/log.hpp"
#include "svckit/dns/dns_resolver.hpp"
#include "svckit/registry/memory_registry.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace svckit {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using dns::RecordType;

struct DnsOptions {
  bool srv = true;            // dns+srv:// (SRV records) or dns:// (A/AAAA records and `port`)
  std::string name_template;  // contains {service}, or a fixed name for the one `fixed_service`
  std::string fixed_service;  // ?service=: the service a fixed name stands for
  int port = 0;               // dns://
  std::string scheme = "http";
  std::chrono::milliseconds min_ttl{1s}, max_ttl{30s}, negative_ttl{5s};
  std::vector<std::string> preload;  // ?services=a,b: resolved at once, listed by list_services
  std::size_t max_services = 1000;
  dns::ResolverOptions resolver;
};

Error dns_read_only() {
  return make_error(ErrorCode::invalid_argument, "a DNS registry is read-only: change the DNS records", "registry");
}

/// "10.0.0.5:8080"; IPv6 "::1" becomes "0::1:8080" (an id starts with a letter or digit).
std::string instance_id(const std::string& address, int port) {
  return (address.front() == ':' ? "0" : "") + address + ":" + std::to_string(port);
}

/// What one resolution found, and how long it may be trusted.
struct Resolution {
  std::vector<ServiceInstance> instances;
  std::chrono::milliseconds ttl{0};
};

class DnsState : public std::enable_shared_from_this<DnsState> {
 public:
  DnsState(const RegistryDeps& deps, DnsOptions options)
      : store(deps.time, MemoryRegistryOptions{}),
        options_(std::move(options)),
        resolver_(deps.executor, deps.random, options_.resolver),
        strand_(asio::make_strand(deps.executor)) {}

  /// The DNS name for `service`, or an error naming the service.
  Result<std::string> name_for(const std::string& service) const {
    if (!options_.fixed_service.empty()) {
      if (service != options_.fixed_service) {
        return make_error(ErrorCode::not_found, "this DNS registry serves '" + options_.fixed_service + "' only",
                          "service");
      }
      return options_.name_template;
    }
    auto name = options_.name_template;
    name.replace(name.find("{service}"), 9, service);
    if (auto valid = dns::validate_name(name, "service"); !valid) return valid.error();
    return name;
  }

  /// Resolves `service` now. Errors: the DNS could not say (keep what is known).
  Awaitable<Result<Resolution>> resolve(std::string service) {
    auto name = name_for(service);
    if (!name) co_return name.error();
    auto answer = co_await resolver_.query(*name, options_.srv ? RecordType::srv : RecordType::a);
    if (!answer) co_return answer.error();
    Resolution out;
    out.ttl = options_.max_ttl;
    if (options_.srv) {
      if (auto added = co_await add_srv_instances(service, *answer, out); !added) co_return added.error();
    } else {
      add_address_instances(service, *name, options_.port, *answer, {}, out);
      if (answer->rcode != static_cast<std::uint8_t>(dns::Rcode::name_error)) {  // NXDOMAIN holds for AAAA too
        auto v6 = co_await resolver_.query(*name, RecordType::aaaa);
        if (!v6) co_return v6.error();
        add_address_instances(service, *name, options_.port, *v6, {}, out);
      }
    }
    if (out.instances.empty()) out.ttl = negative_ttl(*answer);
    out.ttl = std::clamp(out.ttl, options_.min_ttl, options_.max_ttl);
    co_return out;
  }

  /// Starts following `service` unless it is followed already, and makes sure it was resolved
  /// once: the first call for a service waits for the DNS (concurrent first calls each ask; the
  /// answers are applied as differences, so that is harmless). An error means the service has
  /// never been resolved; its refresh loop keeps trying.
  Awaitable<Result<void>> ensure(std::string service) {
    {
      std::lock_guard lock(mutex_);
      if (auto it = followed_.find(service); it != followed_.end() && it->second.resolved) co_return Result<void>{};
      if (followed_.size() >= options_.max_services && followed_.count(service) == 0) {
        co_return make_error(ErrorCode::limit_exceeded,
                             "more than " + std::to_string(options_.max_services) + " services asked for",
                             "max_services");
      }
      if (auto name = name_for(service); !name) co_return name.error();
    }
    auto first = co_await resolve(service);
    const auto delay = apply(service, first);
    {
      std::lock_guard lock(mutex_);
      auto& followed = followed_[service];
      if (!followed.loop_started) {
        followed.loop_started = true;
        asio::co_spawn(strand_, refresh_loop(shared_from_this(), service, delay), asio::detached);
      }
    }
    if (!first) co_return first.error();
    co_return Result<void>{};
  }

  /// Ends the refresh loops (from any thread).
  void stop() {
    asio::post(strand_, [self = shared_from_this()] {
      self->stopped_ = true;
      for (auto* timer : self->timers_) timer->cancel();
    });
  }

  /// Resolves a service of ?services= in the background (a failure is retried by its loop).
  static Awaitable<void> preload(std::shared_ptr<DnsState> self, std::string service) {
    (void)co_await self->ensure(std::move(service));
  }

  MemoryRegistry store;

 private:
  struct Followed {
    bool resolved = false;
    bool loop_started = false;
    std::size_t failures = 0;
  };

  static Awaitable<void> refresh_loop(std::shared_ptr<DnsState> self, std::string service,
                                      std::chrono::milliseconds delay) {
    asio::steady_timer timer(self->strand_);
    self->timers_.insert(&timer);
    while (!self->stopped_) {
      timer.expires_after(delay);
      boost::system::error_code ec;
      co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      if (self->stopped_) break;
      auto resolution = co_await self->resolve(service);
      delay = self->apply(service, resolution);
    }
    self->timers_.erase(&timer);
  }

  /// Applies a resolution (or notes its failure) and returns when to resolve again.
  std::chrono::milliseconds apply(const std::string& service, Result<Resolution>& resolution) {
    std::lock_guard lock(mutex_);
    auto& followed = followed_[service];
    if (!resolution) {
      ++followed.failures;
      if (followed.failures == 1 || followed.failures % 10 == 0) {
        logs::warn("registry",
                   "event=dns_resolve_failed service={} failures={} error=\"{}\" (the last known instances stay)",
                   service, followed.failures, resolution.error().describe());
      }
      // Backoff: min_ttl, doubling, up to max_ttl.
      auto delay = options_.min_ttl;
      for (std::size_t i = 1; i < followed.failures && delay < options_.max_ttl; ++i) delay *= 2;
      return std::min(delay, options_.max_ttl);
    }
    if (followed.failures > 0) logs::info("registry", "event=dns_resolve_recovered service={}", service);
    followed.failures = 0;
    const auto found = resolution->instances.size();
    auto changes = store.replace_now(service, std::move(resolution->instances));
    if (!changes) {  // a record that makes no valid instance: keep the last good state
      logs::error("registry", "event=dns_answer_rejected service={} error=\"{}\"", service, changes.error().describe());
      return options_.min_ttl;
    }
    if (*changes > 0)
      logs::info("registry", "event=dns_resolved service={} instances={} changes={}", service, found, *changes);
    followed.resolved = true;
    return resolution->ttl;
  }

  std::chrono::milliseconds negative_ttl(const dns::Message& answer) const {
    if (auto soa = answer.negative_ttl()) return std::chrono::seconds(*soa);
    return options_.negative_ttl;
  }

  /// SRV records → instances; targets without addresses in the additional section are asked for.
  Awaitable<Result<void>> add_srv_instances(const std::string& service, const dns::Message& answer, Resolution& out) {
    std::vector<const dns::Record*> records;
    std::uint16_t best = 0xffff;
    for (const auto& r : answer.answers) {
      if (r.type != static_cast<std::uint16_t>(RecordType::srv) || r.target.empty()) continue;  // "." = no service
      records.push_back(&r);
      best = std::min(best, r.priority);
    }
    std::uint32_t ttl = std::numeric_limits<std::uint32_t>::max();
    for (const auto* srv : records) {
      ttl = std::min(ttl, srv->ttl);
      ServiceInstance base;
      base.weight = std::clamp<int>(srv->weight, 1, InstanceLimits::kMaxWeight);
      base.metadata["dns-target"] = srv->target;
      base.metadata["srv-priority"] = std::to_string(srv->priority);
      base.metadata["srv-weight"] = std::to_string(srv->weight);
      if (srv->priority != best) base.tags.push_back("srv-backup");
      boost::system::error_code ec;
      asio::ip::make_address(srv->target, ec);
      if (!ec) {  // a target written as an address (not standard, but seen)
        add_instance(service, srv->target, srv->port, base, out);
        continue;
      }
      const auto before = out.instances.size();
      add_address_instances(service, srv->target, srv->port, answer, base, out, /*additional=*/true);
      if (out.instances.size() == before) {
        for (const auto type : {RecordType::a, RecordType::aaaa}) {
          auto lookup = co_await resolver_.query(srv->target, type);
          // A partial answer would look like lost instances: the whole resolution fails instead.
          if (!lookup) co_return lookup.error();
          add_address_instances(service, srv->target, srv->port, *lookup, base, out);
        }
      }
    }
    if (!records.empty()) out.ttl = std::min(out.ttl, std::chrono::milliseconds(std::chrono::seconds(ttl)));
    co_return Result<void>{};
  }

  /// A/AAAA records for `name` in the answer (or additional) section → instances on `port`.
  void add_address_instances(const std::string& service, const std::string& name, int port, const dns::Message& answer,
                             const ServiceInstance& base, Resolution& out, bool additional = false) {
    for (const auto& r : additional ? answer.additional : answer.answers) {
      const bool address =
          r.type == static_cast<std::uint16_t>(RecordType::a) || r.type == static_cast<std::uint16_t>(RecordType::aaaa);
      if (!address || (additional && r.name != name)) continue;  // answers: any name of the CNAME chain
      out.ttl = std::min(out.ttl, std::chrono::milliseconds(std::chrono::seconds(r.ttl)));
      add_instance(service, r.address, port, base, out);
    }
  }

  void add_instance(const std::string& service, const std::string& address, int port, const ServiceInstance& base,
                    Resolution& out) {
    ServiceInstance in = base;
    in.service = service;
    in.host = address;
    in.port = port;
    in.scheme = options_.scheme;
    in.id = instance_id(address, port);
    const bool seen = std::any_of(out.instances.begin(), out.instances.end(),
                                  [&](const ServiceInstance& other) { return other.id == in.id; });
    if (!seen) out.instances.push_back(std::move(in));
  }

  DnsOptions options_;
  dns::Resolver resolver_;
  asio::any_io_executor strand_;  // the refresh loops run here
  std::mutex mutex_;
  std::map<std::string, Followed> followed_;  // guarded by mutex_
  bool stopped_ = false;                      // on strand_
  std::set<asio::steady_timer*> timers_;      // on strand_
};

class DnsRegistry final : public Registry {
 public:
  explicit DnsRegistry(std::shared_ptr<DnsState> state) : state_(std::move(state)) {}
  ~DnsRegistry() override { state_->stop(); }

  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance) override { co_return dns_read_only(); }
  Awaitable<Result<void>> deregister(std::string, std::string) override { co_return dns_read_only(); }
  Awaitable<Result<void>> renew(std::string, std::string) override { co_return dns_read_only(); }
  Awaitable<Result<void>> set_status(std::string, std::string, InstanceStatus) override { co_return dns_read_only(); }

  Awaitable<Result<ServiceInstance>> get(std::string service, std::string id) override {
    if (auto ready = co_await state_->ensure(service); !ready) co_return ready.error();
    co_return co_await state_->store.get(std::move(service), std::move(id));
  }
  Awaitable<Result<std::vector<ServiceInstance>>> list(std::string service, InstanceFilter filter) override {
    if (auto ready = co_await state_->ensure(service); !ready) co_return ready.error();
    co_return co_await state_->store.list(std::move(service), std::move(filter));
  }
  /// The services resolved so far (DNS cannot enumerate them; ?services= resolves some at start).
  Awaitable<Result<std::vector<ServiceSummary>>> list_services() override { return state_->store.list_services(); }
  Awaitable<Result<WatchResult>> watch(WatchRequest request) override {
    if (!request.service.empty()) {
      if (auto ready = co_await state_->ensure(request.service); !ready && request.after_index == 0) {
        co_return ready.error();
      }
    }
    co_return co_await state_->store.watch(std::move(request));
  }

 private:
  std::shared_ptr<DnsState> state_;
};

Result<std::vector<net::HostPort>> system_nameservers() {
  std::ifstream in("/etc/resolv.conf");
  std::stringstream text;
  text << in.rdbuf();
  auto servers = dns::nameservers_from_resolv_conf(text.str());
  if (servers.empty()) {
    return make_error(ErrorCode::invalid_argument,
                      "no DNS server given (dns+srv://SERVER:PORT/name) and none in /etc/resolv.conf", "registry");
  }
  return servers;
}

Result<DnsOptions> dns_options(const net::BackendUrl& url, bool srv) {
  if (auto ok = net::check_url_options(url, srv ? "dns+srv://" : "dns://",
                                       {"timeout", "attempts", "min_ttl", "max_ttl", "negative_ttl", "service",
                                        "services", "scheme", "max_services"});
      !ok) {
    return ok.error();
  }
  DnsOptions o;
  o.srv = srv;
  const auto example = srv ? "dns+srv://[server:port]/_http._tcp.{service}.default.svc.cluster.local"
                           : "dns://[server:port]/{service}.default.svc.cluster.local:8080";
  std::string name = url.path.empty() ? "" : url.path.substr(1);
  if (!srv) {
    const auto colon = name.rfind(':');
    int port = 0;
    if (colon == std::string::npos || colon + 1 == name.size() ||
        !std::all_of(name.begin() + static_cast<long>(colon) + 1, name.end(),
                     [](char c) { return c >= '0' && c <= '9'; }) ||
        name.size() - colon > 6 || (port = std::stoi(name.substr(colon + 1))) < 1 || port > 65535) {
      return make_error(ErrorCode::invalid_argument, std::string("the name needs a port 1..65535: ") + example,
                        "registry");
    }
    o.port = port;
    name.resize(colon);
  }
  if (auto it = url.query.find("service"); it != url.query.end()) {
    if (name.find("{service}") != std::string::npos) {
      return make_error(ErrorCode::invalid_argument, "a name with {service} serves every service", "service");
    }
    if (auto valid = validate_service_name(it->second, "service"); !valid) return valid.error();
    o.fixed_service = it->second;
  } else if (name.find("{service}") == std::string::npos) {
    return make_error(ErrorCode::invalid_argument,
                      std::string("the name needs {service} (or ?service=NAME for a fixed name): ") + example,
                      "registry");
  }
  auto probe = name;
  if (auto at = probe.find("{service}"); at != std::string::npos) probe.replace(at, 9, "x");
  if (auto valid = dns::validate_name(probe, "registry"); !valid) return valid.error();
  o.name_template = name;
  if (auto it = url.query.find("scheme"); it != url.query.end()) {
    if (it->second != "http" && it->second != "https") {
      return make_error(ErrorCode::invalid_argument, "must be http or https", "scheme");
    }
    o.scheme = it->second;
  }
  auto timeout = net::backend_url_duration(url, "timeout", 2s);
  auto attempts = net::backend_url_count(url, "attempts", 2, 10);
  auto min_ttl = net::backend_url_duration(url, "min_ttl", 1s);
  auto max_ttl = net::backend_url_duration(url, "max_ttl", 30s);
  auto negative = net::backend_url_duration(url, "negative_ttl", 5s);
  auto max_services = net::backend_url_count(url, "max_services", 1000, 100'000);
  for (const auto* r : {&timeout, &min_ttl, &max_ttl, &negative}) {
    if (!*r) return r->error();
  }
  if (!attempts) return attempts.error();
  if (!max_services) return max_services.error();
  if (*min_ttl <= 0ms || *max_ttl < *min_ttl) {
    return make_error(ErrorCode::invalid_argument, "min_ttl must be > 0 and at most max_ttl", "min_ttl");
  }
  o.min_ttl = *min_ttl;
  o.max_ttl = *max_ttl;
  o.negative_ttl = *negative;
  o.max_services = *max_services;
  o.resolver.timeout = *timeout;
  o.resolver.attempts = *attempts;
  if (url.hosts.empty()) {
    auto servers = system_nameservers();
    if (!servers) return servers.error();
    o.resolver.servers = std::move(*servers);
  } else {
    for (const auto& host : url.hosts) {
      boost::system::error_code ec;
      asio::ip::make_address(host.host, ec);
      if (ec)
        return make_error(ErrorCode::invalid_argument, "DNS server '" + host.host + "' must be an IP address",
                          "registry");
      o.resolver.servers.push_back(host);
    }
  }
  if (auto it = url.query.find("services"); it != url.query.end()) {
    std::stringstream list(it->second);
    for (std::string s; std::getline(list, s, ',');) {
      if (auto valid = validate_service_name(s, "services"); !valid) return valid.error();
      o.preload.push_back(s);
    }
  }
  return o;
}

RegistryFactory dns_factory(bool srv) {
  return [srv](const net::BackendUrl& url, const RegistryDeps& deps) -> Result<std::unique_ptr<Registry>> {
    auto options = dns_options(url, srv);
    if (!options) return options.error();
    const auto preload = options->preload;
    auto state = std::make_shared<DnsState>(deps, std::move(*options));
    for (const auto& service : preload) {  // resolved in the background; a failure is retried there
      asio::co_spawn(deps.executor, DnsState::preload(state, service), asio::detached);
    }
    return std::unique_ptr<Registry>(std::make_unique<DnsRegistry>(std::move(state)));
  };
}

}  // namespace

RegistryFactory dns_srv_registry_factory() { return dns_factory(true); }
RegistryFactory dns_registry_factory() { return dns_factory(false); }

}  // namespace svckit
