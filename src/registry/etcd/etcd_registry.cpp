// etcd://h1:p1,h2:p2 : the registry in etcd v3, through its JSON API on our own HttpClient (no
// gRPC stack to build; the gateway ships with every etcd 3.4+). Layout under the prefix P:
//   P/i/<service>/<id>  {"instance": {...}, "lease": "<R>", "alive": "<A>"}   (lease R: ttl + grace)
//   P/a/<service>/<id>  ""                                                     (lease A: ttl)
// A TTL instance is alive while its P/a key exists. When lease A runs out, etcd deletes P/a: the
// instance is listed as down (event `expired`). A renew keeps both leases alive, and re-creates P/a
// when it had expired (event `status_changed`). When lease R runs out too (grace), etcd deletes the
// record (event `deregistered`). The registry index is etcd's revision; watches are etcd watches
// from a revision, so they resume exactly after a disconnect or a leader change.
// A mirror of the whole registry (svckitd's cluster mode, through MirrorWrites) writes TTL records
// with no lease of their own ("lease": "0", "alive": "0"): P/a lives under a lease the mirror
// holds for many instances, the mirror deletes P/a when an instance's TTL ran out, and removes the
// record itself once its grace has passed.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <map>
#include <set>

#include "svckit/core/duration.hpp"
#include "svckit/core/instance_json.hpp"
#include "svckit/etcd/etcd_client.hpp"
#include "svckit/etcd/group_commit.hpp"
#include "svckit/registry/change_stream.hpp"
#include "svckit/registry/mirror_writes.hpp"
#include "svckit/registry/plugin_registry.hpp"

namespace svckit {
namespace {

using etcd::base64_decode;
using etcd::base64_encode;
using etcd::EtcdClient;
using nlohmann::json;

struct EtcdRegistryOptions {
  std::string prefix = "/svckit";
  std::chrono::milliseconds expiry_grace{30'000};
  std::size_t max_instances_per_service = 10'000;
};

/// One record as stored, decoded.
struct Record {
  ServiceInstance instance;
  std::string lease = "0";
  std::string alive_lease = "0";
  std::int64_t mod_revision = 0;
};

std::int64_t lease_seconds(std::chrono::milliseconds d) { return std::max<std::int64_t>(1, (d.count() + 999) / 1000); }

Awaitable<Result<std::string>> grant_lease(std::shared_ptr<EtcdClient> etcd, std::chrono::milliseconds ttl) {
  const json body{{"TTL", std::to_string(lease_seconds(ttl))}};
  auto answer = co_await etcd->call("/v3/lease/grant", body);
  if (!answer) co_return answer.error();
  if (!answer->contains("ID")) co_return make_error(ErrorCode::protocol, "etcd: lease grant without an ID");
  co_return std::to_string(etcd::json_int(*answer, "ID"));
}

class EtcdRegistry final : public Registry, public ChangeStream, public MirrorWrites {
 public:
  EtcdRegistry(const RegistryDeps& deps, etcd::EtcdOptions etcd_options, EtcdRegistryOptions options)
      : etcd_(std::make_shared<EtcdClient>(deps.executor, std::move(etcd_options))),
        group_(*etcd_),
        options_(std::move(options)),
        time_(deps.time) {}

  Awaitable<Result<ServiceInstance>> register_instance(ServiceInstance in) override;
  Awaitable<Result<void>> deregister(std::string service, std::string id) override;
  Awaitable<Result<void>> renew(std::string service, std::string id) override;
  Awaitable<Result<void>> set_status(std::string service, std::string id, InstanceStatus status) override;
  Awaitable<Result<ServiceInstance>> get(std::string service, std::string id) override;
  Awaitable<Result<std::vector<ServiceInstance>>> list(std::string service, InstanceFilter filter) override;
  Awaitable<Result<std::vector<ServiceSummary>>> list_services() override;
  Awaitable<Result<WatchResult>> watch(WatchRequest request) override;
  /// One etcd watch stream over the prefix for as long as it lasts (a synced etcd watcher: each
  /// change is sent as it is committed); a compaction past `after_index` gives a reset and the
  /// stream goes on from it.
  Awaitable<Result<void>> follow(std::uint64_t after_index, std::shared_ptr<CancelToken> cancel, Sink sink) override;
  /// The record (no leases named in it) and its alive key under the caller's lease, in one
  /// nested transaction guarded by "the record does not exist" (create revision 0), grouped with
  /// the registrations that arrive meanwhile.
  Awaitable<Result<Stored>> register_new(ServiceInstance in, std::size_t instances_now,
                                         std::string alive_lease) override;
  Awaitable<Result<Stored>> replace(ServiceInstance in, std::string alive_lease) override;
  /// Puts P/a under the lease, guarded by "P/i exists" (grouped with other writes).
  Awaitable<Result<std::optional<std::uint64_t>>> hold_alive(std::string service, std::string id,
                                                             std::string alive_lease) override;
  /// Deletes P/a guarded by its mod_revision (grouped with other writes).
  Awaitable<Result<bool>> expire_alive(std::string service, std::string id, std::uint64_t index) override;
  /// Deletes P/i/<service>/<id> if it is a TTL record unchanged since read and P/a is absent.
  Awaitable<Result<bool>> remove_expired(std::string service, std::string id) override;
  std::chrono::milliseconds expiry_grace() const override { return options_.expiry_grace; }
  void observe_alive(AliveObserver observer) override { alive_observer_ = std::move(observer); }

 private:
  struct Snapshot {
    std::int64_t revision = 0;
    std::vector<ServiceInstance> instances;
  };

  std::string record_key(const std::string& service, const std::string& id) const {
    return options_.prefix + "/i/" + service + "/" + id;
  }
  std::string alive_key(const std::string& service, const std::string& id) const {
    return options_.prefix + "/a/" + service + "/" + id;
  }
  /// "i" or "a" plus service and id, from a key under the prefix; false for other keys.
  bool split_key(const std::string& key, char& kind, std::string& service, std::string& id) const {
    const auto& p = options_.prefix;
    if (key.size() < p.size() + 4 || key.compare(0, p.size(), p) != 0 || key[p.size()] != '/') return false;
    kind = key[p.size() + 1];
    const auto rest = key.substr(p.size() + 3);
    const auto slash = rest.find('/');
    if (slash == std::string::npos) return false;
    service = rest.substr(0, slash);
    id = rest.substr(slash + 1);
    return kind == 'i' || kind == 'a';
  }

  static Result<Record> decode_record(const json& kv) {
    auto value = base64_decode(kv.value("value", ""));
    if (!value) return value.error();
    auto parsed = parse_json(*value);
    if (!parsed || !parsed->is_object() || !parsed->contains("instance")) {
      return make_error(ErrorCode::protocol, "etcd registry: a record is not an instance");
    }
    auto in = instance_from_json((*parsed)["instance"]);
    if (!in) return in.error();
    Record r;
    r.instance = std::move(*in);
    r.lease = parsed->value("lease", "0");
    r.alive_lease = parsed->value("alive", "0");
    r.mod_revision = etcd::json_int(kv, "mod_revision");
    return r;
  }
  static std::string encode_record(const ServiceInstance& in, const std::string& lease, const std::string& alive) {
    auto stored = in;
    stored.last_heartbeat = stored.registered_at;
    return json{{"instance", to_json(stored)}, {"lease", lease}, {"alive", alive}}.dump();
  }
  /// The status a reader sees: a TTL instance whose alive key is gone is down.
  static ServiceInstance effective(Record r, bool alive) {
    if (!r.instance.persistent() && !alive) r.instance.status = InstanceStatus::down;
    return std::move(r.instance);
  }

  static json range(const std::string& key, const std::string& end = {}, std::int64_t revision = 0) {
    json r{{"key", base64_encode(key)}};
    if (!end.empty()) r["range_end"] = base64_encode(end);
    if (revision > 0) r["revision"] = std::to_string(revision);
    return r;
  }
  static json put(const std::string& key, const std::string& value, const std::string& lease) {
    json r{{"key", base64_encode(key)}, {"value", base64_encode(value)}};
    if (lease != "0") r["lease"] = lease;
    return r;
  }
  static json del(const std::string& key) { return json{{"key", base64_encode(key)}}; }

  /// A /v3/watch request over the whole prefix from the revision after `after`, with prev_kv.
  json watch_body(std::int64_t after) const {
    const json create{{"key", base64_encode(options_.prefix + "/")},
                      {"range_end", base64_encode(etcd::prefix_end(options_.prefix + "/"))},
                      {"start_revision", std::to_string(after + 1)},
                      {"prev_kv", true}};
    return json{{"create_request", create}};
  }
  /// One message of a watch stream: its result, or the error that ends the stream (etcd's error,
  /// `compacted` set when the history asked for is gone, or a watch etcd cancelled).
  static Result<json> open_watch_message(json message, bool& compacted) {
    if (message.contains("error")) return etcd::error_from_etcd(500, message.dump());
    json result = message.contains("result") ? std::move(message["result"]) : std::move(message);
    if (etcd::json_int(result, "compact_revision") > 0) {
      compacted = true;
      return make_error(ErrorCode::cancelled, "compacted");
    }
    if (result.value("canceled", false)) return make_error(ErrorCode::unavailable, "etcd cancelled the watch");
    return result;
  }

  Awaitable<Result<std::optional<Record>>> read_record(const std::string& service, const std::string& id) {
    auto answer = co_await etcd_->call("/v3/kv/range", range(record_key(service, id)));
    if (!answer) co_return answer.error();
    if (!answer->contains("kvs") || (*answer)["kvs"].empty()) co_return std::optional<Record>{};
    auto r = decode_record((*answer)["kvs"][0]);
    if (!r) co_return r.error();
    co_return std::optional<Record>(std::move(*r));
  }

  Awaitable<Result<std::string>> grant(std::chrono::milliseconds ttl) { co_return co_await grant_lease(etcd_, ttl); }
  /// True when the lease is still alive (and now renewed).
  Awaitable<Result<bool>> keep_alive(const std::string& lease) {
    if (lease == "0") co_return false;
    const json body{{"ID", lease}};
    auto answer = co_await etcd_->call("/v3/lease/keepalive", body);
    if (!answer) {
      if (answer.error().code == ErrorCode::not_found) co_return false;
      co_return answer.error();
    }
    const auto& result = answer->contains("result") ? (*answer)["result"] : *answer;
    co_return etcd::json_int(result, "TTL") > 0;
  }
  Awaitable<void> revoke(const std::string& lease) {
    if (lease == "0") co_return;
    const json body{{"ID", lease}};
    (void)co_await etcd_->call("/v3/lease/revoke", body);
  }

  /// A transaction guarded by the record's mod_revision (0: the record must not exist).
  Awaitable<Result<bool>> guarded(const std::string& key, std::int64_t mod_revision, json success) {
    json compare{{"key", base64_encode(key)},
                 {"target", "MOD"},
                 {"result", "EQUAL"},
                 {"mod_revision", std::to_string(mod_revision)}};
    const json body{{"compare", json::array({compare})}, {"success", std::move(success)}};
    auto answer = co_await etcd_->call("/v3/kv/txn", body);
    if (!answer) co_return answer.error();
    co_return answer->value("succeeded", false);
  }

  /// Tells alive_observer_ of the P/a writes and deletions among one revision's events.
  void report_alive(const std::vector<json>& events, std::int64_t revision) const {
    for (const auto& e : events) {
      auto key = base64_decode(e["kv"].value("key", ""));
      char kind = 0;
      std::string service;
      std::string id;
      if (key && split_key(*key, kind, service, id) && kind == 'a') {
        alive_observer_(service, id, static_cast<std::uint64_t>(revision));
      }
    }
  }

  Awaitable<Result<Snapshot>> snapshot(const std::string& service, std::int64_t revision = 0);
  Awaitable<Result<std::vector<RegistryEvent>>> translate(const std::vector<json>& events, std::int64_t revision);

  std::shared_ptr<EtcdClient> etcd_;
  etcd::GroupCommit group_;       // MirrorWrites' transactions
  AliveObserver alive_observer_;  // set-up only
  EtcdRegistryOptions options_;
  const TimeSource& time_;
};

Awaitable<Result<ServiceInstance>> EtcdRegistry::register_instance(ServiceInstance in) {
  in.normalize();
  if (auto valid = validate(in); !valid) co_return valid.error();
  const auto key = record_key(in.service, in.id);
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto existing = co_await read_record(in.service, in.id);
    if (!existing) co_return existing.error();
    // Milliseconds: what the stored JSON keeps, so a returned record equals a read-back one.
    const auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(time_.system_now());
    if (*existing) {
      auto& old = **existing;
      in.registered_at = old.instance.registered_at;
      auto same = in;
      same.last_heartbeat = old.instance.last_heartbeat;
      if (same == old.instance) {  // identical: only a heartbeat
        auto renewed = co_await renew(in.service, in.id);
        if (!renewed) co_return renewed.error();
        in.last_heartbeat = now;
        co_return in;
      }
    } else {
      const auto scope = options_.prefix + "/i/" + in.service + "/";
      auto counting = range(scope, etcd::prefix_end(scope));
      counting["count_only"] = true;
      auto count = co_await etcd_->call("/v3/kv/range", counting);
      if (!count) co_return count.error();
      if (static_cast<std::size_t>(etcd::json_int(*count, "count")) >= options_.max_instances_per_service) {
        co_return make_error(ErrorCode::limit_exceeded,
                             "service '" + in.service + "' already has the maximum of " +
                                 std::to_string(options_.max_instances_per_service) + " instances",
                             "id");
      }
      in.registered_at = now;
    }
    in.last_heartbeat = now;
    std::string lease = "0";
    std::string alive = "0";
    if (!in.persistent()) {
      auto r = co_await grant(in.ttl + options_.expiry_grace);
      if (!r) co_return r.error();
      auto a = co_await grant(in.ttl);
      if (!a) co_return a.error();
      lease = *r;
      alive = *a;
    }
    json ops = json::array({json{{"request_put", put(key, encode_record(in, lease, alive), lease)}}});
    if (!in.persistent()) {
      ops.push_back(json{{"request_put", put(alive_key(in.service, in.id), "", alive)}});
    } else {
      ops.push_back(json{{"request_delete_range", del(alive_key(in.service, in.id))}});
    }
    auto done = co_await guarded(key, *existing ? (**existing).mod_revision : 0, ops);
    if (!done) co_return done.error();
    if (*done) {
      if (*existing) {
        co_await revoke((**existing).lease);
        co_await revoke((**existing).alive_lease);
      }
      co_return in;
    }
    co_await revoke(lease);  // lost a race with another writer: read again
    co_await revoke(alive);
  }
  co_return make_error(ErrorCode::unavailable, "etcd registry: the record kept changing under the registration");
}

Awaitable<Result<MirrorWrites::Stored>> EtcdRegistry::register_new(ServiceInstance in, std::size_t instances_now,
                                                                   std::string alive_lease) {
  in.normalize();
  if (auto valid = validate(in); !valid) co_return valid.error();
  if (instances_now >= options_.max_instances_per_service) {
    co_return make_error(ErrorCode::limit_exceeded,
                         "service '" + in.service + "' already has the maximum of " +
                             std::to_string(options_.max_instances_per_service) + " instances",
                         "id");
  }
  const auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(time_.system_now());
  in.registered_at = now;
  in.last_heartbeat = now;
  const auto key = record_key(in.service, in.id);
  json ops = json::array({json{{"request_put", put(key, encode_record(in, "0", "0"), "0")}}});
  if (!in.persistent()) {
    ops.push_back(json{{"request_put", put(alive_key(in.service, in.id), "", alive_lease)}});
  } else {
    ops.push_back(json{{"request_delete_range", del(alive_key(in.service, in.id))}});
  }
  json absent = json::array();  // the guard: no record of it yet
  absent.push_back(
      json{{"key", base64_encode(key)}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}});
  auto done = co_await group_.commit(key, std::move(absent), std::move(ops));
  if (!done) co_return done.error();
  Stored stored;
  stored.existed = !done->succeeded;
  stored.index = static_cast<std::uint64_t>(done->revision);
  stored.instance = std::move(in);
  co_return stored;
}

Awaitable<Result<MirrorWrites::Stored>> EtcdRegistry::replace(ServiceInstance in, std::string alive_lease) {
  in.normalize();
  if (auto valid = validate(in); !valid) co_return valid.error();
  const auto key = record_key(in.service, in.id);
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto existing = co_await read_record(in.service, in.id);
    if (!existing) co_return existing.error();
    const auto now = std::chrono::time_point_cast<std::chrono::milliseconds>(time_.system_now());
    if (*existing) {
      const auto& old = **existing;
      in.registered_at = old.instance.registered_at;
      auto same = in;
      same.last_heartbeat = old.instance.last_heartbeat;
      if (same == old.instance) {
        Stored stored;
        stored.unchanged = true;
        stored.index = static_cast<std::uint64_t>(old.mod_revision);
        stored.instance = std::move(in);
        co_return stored;
      }
    } else {
      const auto scope = options_.prefix + "/i/" + in.service + "/";
      auto counting = range(scope, etcd::prefix_end(scope));
      counting["count_only"] = true;
      auto count = co_await etcd_->call("/v3/kv/range", counting);
      if (!count) co_return count.error();
      if (static_cast<std::size_t>(etcd::json_int(*count, "count")) >= options_.max_instances_per_service) {
        co_return make_error(ErrorCode::limit_exceeded,
                             "service '" + in.service + "' already has the maximum of " +
                                 std::to_string(options_.max_instances_per_service) + " instances",
                             "id");
      }
      in.registered_at = now;
    }
    in.last_heartbeat = now;
    json ops = json::array({json{{"request_put", put(key, encode_record(in, "0", "0"), "0")}}});
    if (!in.persistent()) {
      ops.push_back(json{{"request_put", put(alive_key(in.service, in.id), "", alive_lease)}});
    } else {
      ops.push_back(json{{"request_delete_range", del(alive_key(in.service, in.id))}});
    }
    json compare = json::array();
    compare.push_back(json{{"key", base64_encode(key)},
                           {"target", "MOD"},
                           {"result", "EQUAL"},
                           {"mod_revision", std::to_string(*existing ? (**existing).mod_revision : 0)}});
    auto done = co_await group_.commit(key, std::move(compare), std::move(ops));
    if (!done) co_return done.error();
    if (!done->succeeded) continue;  // changed meanwhile: read again
    if (*existing) {                 // a record written by register_instance names leases of its own
      co_await revoke((**existing).lease);
      co_await revoke((**existing).alive_lease);
    }
    Stored stored;
    stored.index = static_cast<std::uint64_t>(done->revision);
    stored.instance = std::move(in);
    co_return stored;
  }
  co_return make_error(ErrorCode::unavailable, "etcd registry: the record kept changing under the registration");
}

Awaitable<Result<std::optional<std::uint64_t>>> EtcdRegistry::hold_alive(std::string service, std::string id,
                                                                         std::string alive_lease) {
  const auto key = alive_key(service, id);
  json compare = json::array();
  compare.push_back(json{{"key", base64_encode(record_key(service, id))},
                         {"target", "CREATE"},
                         {"result", "GREATER"},
                         {"create_revision", "0"}});
  json ops = json::array({json{{"request_put", put(key, "", alive_lease)}}});
  auto done = co_await group_.commit(key, std::move(compare), std::move(ops));
  if (!done) co_return done.error();
  if (!done->succeeded) co_return std::optional<std::uint64_t>{};
  co_return std::optional<std::uint64_t>(static_cast<std::uint64_t>(done->revision));
}

Awaitable<Result<bool>> EtcdRegistry::expire_alive(std::string service, std::string id, std::uint64_t index) {
  const auto key = alive_key(service, id);
  json compare = json::array();
  compare.push_back(json{
      {"key", base64_encode(key)}, {"target", "MOD"}, {"result", "EQUAL"}, {"mod_revision", std::to_string(index)}});
  json ops = json::array({json{{"request_delete_range", del(key)}}});
  auto done = co_await group_.commit(key, std::move(compare), std::move(ops));
  if (!done) co_return done.error();
  co_return done->succeeded;
}

Awaitable<Result<bool>> EtcdRegistry::remove_expired(std::string service, std::string id) {
  auto existing = co_await read_record(service, id);
  if (!existing) co_return existing.error();
  if (!*existing || (**existing).instance.persistent()) co_return false;
  const auto key = record_key(service, id);
  const json compare = json::array({json{{"key", base64_encode(key)},
                                         {"target", "MOD"},
                                         {"result", "EQUAL"},
                                         {"mod_revision", std::to_string((**existing).mod_revision)}},
                                    json{{"key", base64_encode(alive_key(service, id))},
                                         {"target", "CREATE"},
                                         {"result", "EQUAL"},
                                         {"create_revision", "0"}}});
  const json body{{"compare", compare}, {"success", json::array({json{{"request_delete_range", del(key)}}})}};
  auto answer = co_await etcd_->call("/v3/kv/txn", body);
  if (!answer) co_return answer.error();
  if (!answer->value("succeeded", false)) co_return false;
  co_await revoke((**existing).lease);  // a record written by register_instance has one
  co_return true;
}

Awaitable<Result<void>> EtcdRegistry::deregister(std::string service, std::string id) {
  auto existing = co_await read_record(service, id);
  if (!existing) co_return existing.error();
  if (!*existing)
    co_return make_error(ErrorCode::not_found, "no instance '" + id + "' of service '" + service + "'", "id");
  const json body{{"success", json::array({json{{"request_delete_range", del(record_key(service, id))}},
                                           json{{"request_delete_range", del(alive_key(service, id))}}})}};
  auto answer = co_await etcd_->call("/v3/kv/txn", body);
  if (!answer) co_return answer.error();
  co_await revoke((**existing).lease);
  co_await revoke((**existing).alive_lease);
  co_return Result<void>{};
}

Awaitable<Result<void>> EtcdRegistry::renew(std::string service, std::string id) {
  auto existing = co_await read_record(service, id);
  if (!existing) co_return existing.error();
  if (!*existing)
    co_return make_error(ErrorCode::not_found, "no instance '" + id + "' of service '" + service + "'", "id");
  auto record = **existing;
  if (record.instance.persistent()) co_return Result<void>{};
  // A record without lease R (MirrorWrites::register_new) lasts until its mirror removes it.
  Result<bool> record_alive = true;
  if (record.lease != "0") record_alive = co_await keep_alive(record.lease);
  if (!record_alive) co_return record_alive.error();
  if (!*record_alive) {
    co_return make_error(ErrorCode::not_found, "instance '" + id + "' of service '" + service + "' has expired", "id");
  }
  auto alive = co_await keep_alive(record.alive_lease);
  if (!alive) co_return alive.error();
  if (*alive) co_return Result<void>{};
  // Expired (its alive key is gone): a new alive lease brings it back.
  auto fresh = co_await grant(record.instance.ttl);
  if (!fresh) co_return fresh.error();
  const auto key = record_key(service, id);
  json ops =
      json::array({json{{"request_put", put(key, encode_record(record.instance, record.lease, *fresh), record.lease)}},
                   json{{"request_put", put(alive_key(service, id), "", *fresh)}}});
  auto done = co_await guarded(key, record.mod_revision, ops);
  if (!done) co_return done.error();
  if (!*done) {
    co_await revoke(*fresh);  // someone else changed it meanwhile; their write stands
  }
  co_return Result<void>{};
}

Awaitable<Result<void>> EtcdRegistry::set_status(std::string service, std::string id, InstanceStatus status) {
  for (int attempt = 0; attempt < 5; ++attempt) {
    auto existing = co_await read_record(service, id);
    if (!existing) co_return existing.error();
    if (!*existing) {
      co_return make_error(ErrorCode::not_found, "no instance '" + id + "' of service '" + service + "'", "id");
    }
    auto record = **existing;
    if (record.instance.status == status) co_return Result<void>{};
    record.instance.status = status;
    const auto key = record_key(service, id);
    const json ops = json::array({json{
        {"request_put", put(key, encode_record(record.instance, record.lease, record.alive_lease), record.lease)}}});
    auto done = co_await guarded(key, record.mod_revision, ops);
    if (!done) co_return done.error();
    if (*done) co_return Result<void>{};
  }
  co_return make_error(ErrorCode::unavailable, "etcd registry: the record kept changing under the status change");
}

Awaitable<Result<ServiceInstance>> EtcdRegistry::get(std::string service, std::string id) {
  const json body{{"success", json::array({json{{"request_range", range(record_key(service, id))}},
                                           json{{"request_range", range(alive_key(service, id))}}})}};
  auto answer = co_await etcd_->call("/v3/kv/txn", body);
  if (!answer) co_return answer.error();
  const auto& responses = (*answer)["responses"];
  const auto& records = responses[0]["response_range"];
  if (!records.contains("kvs") || records["kvs"].empty()) {
    co_return make_error(ErrorCode::not_found, "no instance '" + id + "' of service '" + service + "'", "id");
  }
  auto record = decode_record(records["kvs"][0]);
  if (!record) co_return record.error();
  const auto& alive = responses[1]["response_range"];
  co_return effective(std::move(*record), alive.contains("kvs") && !alive["kvs"].empty());
}

Awaitable<Result<EtcdRegistry::Snapshot>> EtcdRegistry::snapshot(const std::string& service, std::int64_t revision) {
  const std::string scope = service.empty() ? "" : service + "/";
  const auto records = options_.prefix + "/i/" + scope;
  const auto alive = options_.prefix + "/a/" + scope;
  const json body{{"success", json::array({json{{"request_range", range(records, etcd::prefix_end(records), revision)}},
                                           json{{"request_range", range(alive, etcd::prefix_end(alive), revision)}}})}};
  auto answer = co_await etcd_->call("/v3/kv/txn", body);
  if (!answer) co_return answer.error();
  Snapshot out;
  out.revision = etcd::json_int((*answer)["header"], "revision");
  const auto& responses = (*answer)["responses"];
  std::set<std::string> alive_keys;
  for (const auto& kv : responses[1]["response_range"].value("kvs", json::array())) {
    auto key = base64_decode(kv.value("key", ""));
    if (key) alive_keys.insert(key->substr(alive.size() - scope.size()));
  }
  for (const auto& kv : responses[0]["response_range"].value("kvs", json::array())) {
    auto record = decode_record(kv);
    if (!record) co_return record.error();
    const bool is_alive = alive_keys.count(record->instance.service + "/" + record->instance.id) != 0;
    out.instances.push_back(effective(std::move(*record), is_alive));
  }
  co_return out;
}

Awaitable<Result<std::vector<ServiceInstance>>> EtcdRegistry::list(std::string service, InstanceFilter filter) {
  if (auto valid = validate_service_name(service); !valid) co_return valid.error();
  auto all = co_await snapshot(service);
  if (!all) co_return all.error();
  std::vector<ServiceInstance> out;
  for (auto& in : all->instances) {
    if (filter.matches(in)) out.push_back(std::move(in));
  }
  co_return out;  // etcd answers in key order: by id
}

Awaitable<Result<std::vector<ServiceSummary>>> EtcdRegistry::list_services() {
  auto all = co_await snapshot("");
  if (!all) co_return all.error();
  co_return summarize(all->instances);
}

Awaitable<Result<std::vector<RegistryEvent>>> EtcdRegistry::translate(const std::vector<json>& events,
                                                                      std::int64_t revision) {
  struct Changes {
    const json* record_put = nullptr;
    const json* record_delete = nullptr;
    const json* alive_put = nullptr;
    bool alive_deleted = false;
  };
  std::map<std::pair<std::string, std::string>, Changes> by_instance;
  for (const auto& e : events) {
    auto key = base64_decode(e["kv"].value("key", ""));
    char kind = 0;
    std::string service;
    std::string id;
    if (!key || !split_key(*key, kind, service, id)) continue;
    const bool deleted = e.value("type", "PUT") == "DELETE";
    auto& c = by_instance[{service, id}];
    if (kind == 'i') {
      (deleted ? c.record_delete : c.record_put) = &e;
    } else if (deleted) {
      c.alive_deleted = true;
    } else {
      c.alive_put = &e;
    }
  }
  std::vector<RegistryEvent> out;
  const auto index = static_cast<std::uint64_t>(revision);
  for (const auto& [name, c] : by_instance) {
    if (c.record_delete != nullptr) {
      if (!c.record_delete->contains("prev_kv")) continue;
      auto old = decode_record((*c.record_delete)["prev_kv"]);
      if (!old) co_return old.error();
      out.push_back(RegistryEvent{index, EventType::deregistered, std::move(old->instance), {}});
    } else if (c.record_put != nullptr) {
      auto now = decode_record((*c.record_put)["kv"]);
      if (!now) co_return now.error();
      if (!c.record_put->contains("prev_kv")) {
        out.push_back(RegistryEvent{index, EventType::registered, std::move(now->instance), {}});
        continue;
      }
      auto old = decode_record((*c.record_put)["prev_kv"]);
      if (!old) co_return old.error();
      auto data_before = old->instance;
      data_before.status = now->instance.status;
      const bool came_back = c.alive_put != nullptr && !c.alive_put->contains("prev_kv");
      if (!(data_before == now->instance)) {
        out.push_back(RegistryEvent{index, EventType::updated, std::move(now->instance), {}});
      } else if (came_back) {
        out.push_back(RegistryEvent{index, EventType::status_changed, std::move(now->instance), InstanceStatus::down});
      } else if (old->instance.status != now->instance.status) {
        const auto previous = old->instance.status;
        out.push_back(RegistryEvent{index, EventType::status_changed, std::move(now->instance), previous});
      }
    } else if (c.alive_deleted || (c.alive_put != nullptr && !c.alive_put->contains("prev_kv"))) {
      // Lease A ran out (or its holder deleted P/a): expired, the record is still there. Or P/a
      // is back with the record unchanged (a mirror's hold_alive): alive again.
      const auto body = range(record_key(name.first, name.second), std::string(), revision);
      auto record = co_await etcd_->call("/v3/kv/range", body);
      if (!record) co_return record.error();
      if (!record->contains("kvs") || (*record)["kvs"].empty()) continue;
      auto r = decode_record((*record)["kvs"][0]);
      if (!r) co_return r.error();
      if (r->instance.persistent()) continue;  // its P/a means nothing
      if (c.alive_deleted) {
        const auto previous = r->instance.status;
        r->instance.status = InstanceStatus::down;
        out.push_back(RegistryEvent{index, EventType::expired, std::move(r->instance), previous});
      } else {
        out.push_back(RegistryEvent{index, EventType::status_changed, std::move(r->instance), InstanceStatus::down});
      }
    }
  }
  co_return out;
}

Awaitable<Result<WatchResult>> EtcdRegistry::watch(WatchRequest request) {
  if (request.after_index == 0 || request.after_index > static_cast<std::uint64_t>(INT64_MAX)) {
    auto all = co_await snapshot(request.service);
    if (!all) co_return all.error();
    WatchResult reset;
    reset.reset = true;
    reset.index = static_cast<std::uint64_t>(all->revision);
    reset.snapshot = std::move(all->instances);
    co_return reset;
  }
  const auto after = static_cast<std::int64_t>(request.after_index);
  const auto started = std::chrono::steady_clock::now();
  // Nothing new and no wait: answer at once, without opening a watch.
  auto probe = range(options_.prefix + "/", etcd::prefix_end(options_.prefix + "/"));
  probe["count_only"] = true;
  auto current = co_await etcd_->call("/v3/kv/range", probe);
  if (!current) co_return current.error();
  const auto revision = etcd::json_int((*current)["header"], "revision");
  WatchResult out;
  out.index = request.after_index;
  if (revision < after) {  // the store went back in time (restored, or another cluster): start over
    WatchRequest again(request.service, 0, request.wait, request.cancel);
    co_return co_await watch(std::move(again));
  }
  if (revision == after && request.wait.count() == 0) co_return out;

  bool compacted = false;
  bool enough = false;
  const json body = watch_body(after);
  EtcdClient::MessageSink sink = [&](json message) -> Awaitable<Result<void>> {
    auto opened = open_watch_message(std::move(message), compacted);
    if (!opened) co_return opened.error();
    const json& result = *opened;
    const auto events = result.value("events", json::array());
    std::map<std::int64_t, std::vector<json>> by_revision;
    for (const auto& e : events) by_revision[etcd::json_int(e["kv"], "mod_revision")].push_back(e);
    for (const auto& [rev, group] : by_revision) {
      auto translated = co_await translate(group, rev);
      if (!translated) co_return translated.error();
      for (auto& e : *translated) {
        if (request.service.empty() || e.instance.service == request.service) out.events.push_back(std::move(e));
      }
      out.index = static_cast<std::uint64_t>(rev);
    }
    if (!out.events.empty() || (request.wait.count() == 0 && out.index >= static_cast<std::uint64_t>(revision))) {
      enough = true;
      co_return make_error(ErrorCode::cancelled, "enough");
    }
    co_return Result<void>{};
  };
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(request.wait -
                                                                          (std::chrono::steady_clock::now() - started));
  const auto timeout = std::max(left, std::chrono::milliseconds(request.wait.count() == 0 ? 2000 : 1));
  auto streamed = co_await etcd_->stream("/v3/watch", body, timeout, request.cancel, sink);
  if (compacted) {  // history before our revision is gone: start over from a snapshot
    WatchRequest again(request.service, 0, request.wait, request.cancel);
    co_return co_await watch(std::move(again));
  }
  if (enough || streamed) co_return out;
  if (streamed.error().code == ErrorCode::timeout) co_return out;  // the wait ran out
  co_return streamed.error();
}

Awaitable<Result<void>> EtcdRegistry::follow(std::uint64_t after_index, std::shared_ptr<CancelToken> cancel,
                                             Sink sink) {
  auto after = static_cast<std::int64_t>(after_index);
  for (;;) {
    if (after == 0) {  // from nothing: the state now, then the changes after it
      auto all = co_await snapshot("");
      if (!all) co_return all.error();
      WatchResult reset;
      reset.reset = true;
      reset.index = static_cast<std::uint64_t>(all->revision);
      reset.snapshot = std::move(all->instances);
      if (auto taken = co_await sink(std::move(reset)); !taken) co_return taken;
      after = all->revision;
    }
    bool compacted = false;
    const json body = watch_body(after);
    EtcdClient::MessageSink on_message = [&](json message) -> Awaitable<Result<void>> {
      auto opened = open_watch_message(std::move(message), compacted);
      if (!opened) co_return opened.error();
      const json& result = *opened;
      const auto events = result.value("events", json::array());
      if (events.empty()) {
        WatchResult progress;
        // Created: open, nothing delivered yet. A progress notice: everything up to its revision was sent.
        progress.index =
            result.value("created", false)
                ? static_cast<std::uint64_t>(after)
                : static_cast<std::uint64_t>(std::max(after, etcd::json_int(result["header"], "revision")));
        after = static_cast<std::int64_t>(progress.index);
        co_return co_await sink(std::move(progress));
      }
      std::map<std::int64_t, std::vector<json>> by_revision;
      for (const auto& e : events) by_revision[etcd::json_int(e["kv"], "mod_revision")].push_back(e);
      for (const auto& [rev, group] : by_revision) {
        if (alive_observer_) report_alive(group, rev);
        auto translated = co_await translate(group, rev);
        if (!translated) co_return translated.error();
        WatchResult batch;
        batch.index = static_cast<std::uint64_t>(rev);
        batch.events = std::move(*translated);
        after = rev;
        if (auto taken = co_await sink(std::move(batch)); !taken) co_return taken;
      }
      co_return Result<void>{};
    };
    auto streamed = co_await etcd_->stream("/v3/watch", body, std::chrono::hours(24 * 365), cancel, on_message);
    if (compacted) {  // the history after `after` is gone: start over from the state now
      after = 0;
      continue;
    }
    if (streamed) co_return make_error(ErrorCode::unavailable, "etcd ended the watch stream");
    co_return streamed.error();
  }
}

}  // namespace

RegistryFactory etcd_registry_factory() {
  return [](const net::BackendUrl& url, const RegistryDeps& deps) -> Result<std::unique_ptr<Registry>> {
    if (auto ok = net::check_url_options(url, "etcd://", net::kConnectionOptions, {"prefix", "grace", "max_instances"});
        !ok) {
      return ok.error();
    }
    if (url.hosts.empty())
      return make_error(ErrorCode::invalid_argument, "etcd:// needs at least one host:port", "registry");
    auto etcd_options = etcd::etcd_options_from_url(url);
    if (!etcd_options) return etcd_options.error();
    EtcdRegistryOptions options;
    for (const auto& [key, value] : url.query) {
      if (key == "grace") {
        auto d = parse_duration(value, key);
        if (!d) return d.error();
        options.expiry_grace = *d;
      } else if (key == "prefix") {
        if (value.empty() || value.front() != '/' || value.back() == '/') {
          return make_error(ErrorCode::invalid_argument, "prefix must start with '/' and not end with one", "prefix");
        }
        options.prefix = value;
      } else if (key == "max_instances") {
        auto n = net::backend_url_count(url, key, options.max_instances_per_service);
        if (!n) return n.error();
        options.max_instances_per_service = *n;
      }
    }
    return std::unique_ptr<Registry>(std::make_unique<EtcdRegistry>(deps, std::move(*etcd_options), options));
  };
}

}  // namespace svckit
