#include "svckit/coord/etcd_lock_backend.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "svckit/etcd/etcd_client.hpp"

namespace svckit::coord {

using etcd::base64_decode;
using etcd::base64_encode;
using etcd::json_int;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// A name as one key segment: "a/b" must not live under "a/" (a range over "a/" would see it).
/// Names never contain '%' (validate_lock_name), so the encoding is one-to-one.
std::string key_segment(const std::string& name) {
  std::string out;
  for (const char c : name) {
    if (c == '/') {
      out += "%2F";
    } else {
      out += c;
    }
  }
  return out;
}

std::int64_t ttl_seconds(std::chrono::milliseconds lease) {
  return std::max<std::int64_t>(1, (lease.count() + 999) / 1000);
}

/// The key that must go before `mine` may hold: for an exclusive lock the newest key created
/// before it, for a shared one the newest writer's. Empty: none — it holds.
Awaitable<Result<std::string>> predecessor(etcd::EtcdClient& etcd, const std::string& dir, std::int64_t my_revision,
                                           LockMode mode) {
  json body{{"key", base64_encode(dir)},
            {"range_end", base64_encode(etcd::prefix_end(dir))},
            {"max_create_revision", std::to_string(my_revision - 1)},
            {"sort_order", "DESCEND"},
            {"sort_target", "CREATE"}};
  if (mode == LockMode::exclusive) {
    body["limit"] = 1;
    body["keys_only"] = true;
  }
  auto answer = co_await etcd.call("/v3/kv/range", body);
  if (!answer) co_return answer.error();
  for (const auto& kv : answer->value("kvs", json::array())) {
    auto value = base64_decode(kv.value("value", ""));
    if (mode == LockMode::shared && (!value || *value != "exclusive")) continue;
    auto key = base64_decode(kv.value("key", ""));
    if (!key) co_return make_error(ErrorCode::protocol, "etcd: a key that is not base64");
    co_return *key;
  }
  co_return std::string();
}

/// Waits until `key` is deleted, `timeout` passes (returns false) or `cancel` fires. The watch
/// starts at the current revision (etcd delivers a watch that starts in the past only on its
/// 100 ms catch-up tick, which made every hand-over ~100 ms), and once etcd confirmed it, one
/// read checks that the key did not go before the watch began.
Awaitable<Result<bool>> wait_deleted(etcd::EtcdClient& etcd, const std::string& key, std::chrono::milliseconds timeout,
                                     std::shared_ptr<CancelToken> cancel) {
  const json create{{"key", base64_encode(key)}};
  const json body{{"create_request", create}};
  bool deleted = false;
  etcd::EtcdClient::MessageSink sink = [&](json message) -> Awaitable<Result<void>> {
    if (message.contains("error")) co_return etcd::error_from_etcd(500, message.dump());
    const json result = message.contains("result") ? message["result"] : message;
    if (json_int(result, "compact_revision") > 0 || result.value("canceled", false)) {
      co_return make_error(ErrorCode::unavailable, "etcd ended the watch");  // look again
    }
    for (const auto& e : result.value("events", json::array())) {
      if (e.value("type", "") == "DELETE") deleted = true;
    }
    if (!deleted && result.value("created", false)) {
      const json probe{{"key", base64_encode(key)}, {"count_only", true}};
      auto present = co_await etcd.call("/v3/kv/range", probe);
      if (!present) co_return present.error();
      deleted = json_int(*present, "count") == 0;
    }
    if (deleted) co_return make_error(ErrorCode::cancelled, "deleted");
    co_return Result<void>{};
  };
  auto streamed = co_await etcd.stream("/v3/watch", body, timeout, cancel, sink);
  if (deleted) co_return true;
  if (streamed || streamed.error().code == ErrorCode::timeout) co_return false;
  if (streamed.error().code == ErrorCode::unavailable && streamed.error().message == "etcd ended the watch") {
    co_return true;  // cancelled by etcd: check the predecessor again
  }
  co_return streamed.error();
}

Awaitable<void> revoke(etcd::EtcdClient& etcd, const std::string& lease) {
  const json body{{"ID", lease}};
  (void)co_await etcd.call("/v3/lease/revoke", body);
}

/// True when the lease is still alive (and now renewed).
Awaitable<Result<bool>> keep_alive(etcd::EtcdClient& etcd, const std::string& lease) {
  const json body{{"ID", lease}};
  auto answer = co_await etcd.call("/v3/lease/keepalive", body);
  if (!answer) {
    if (answer.error().code == ErrorCode::not_found) co_return false;
    co_return answer.error();
  }
  const auto& result = answer->contains("result") ? (*answer)["result"] : *answer;
  co_return json_int(result, "TTL") > 0;
}

}  // namespace

EtcdLockBackend::EtcdLockBackend(std::shared_ptr<etcd::EtcdClient> etcd, const TimeSource& time,
                                 EtcdLockOptions options)
    : etcd_(std::move(etcd)), time_(time), options_(std::move(options)) {}

Awaitable<Result<HeldLock>> EtcdLockBackend::acquire(AcquireRequest request) {
  auto etcd = etcd_;
  if (auto valid = validate_lock_name(request.name); !valid) co_return valid.error();
  const json grant_body{{"TTL", std::to_string(ttl_seconds(request.lease))}};
  auto granted = co_await etcd->call("/v3/lease/grant", grant_body);
  if (!granted) co_return granted.error();
  const auto lease_id = json_int(*granted, "ID");
  if (lease_id == 0) co_return make_error(ErrorCode::protocol, "etcd: lease grant without an ID");
  const auto lease = std::to_string(lease_id);
  char hex[24];
  std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(lease_id));
  const auto dir = options_.prefix + "/" + key_segment(request.name) + "/";
  const auto key = dir + hex;

  // Created only if absent (a fresh lease makes a fresh key); the txn's revision is its create revision.
  const json compare{{"key", base64_encode(key)}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}};
  const json put{{"key", base64_encode(key)}, {"value", base64_encode(to_string(request.mode))}, {"lease", lease}};
  const json txn{{"compare", json::array({compare})}, {"success", json::array({json{{"request_put", put}}})}};
  auto created = co_await etcd->call("/v3/kv/txn", txn);
  if (!created || !created->value("succeeded", false)) {
    co_await revoke(*etcd, lease);
    if (!created) co_return created.error();
    co_return make_error(ErrorCode::internal, "etcd: the lock key " + key + " existed already");
  }
  const auto my_revision = json_int((*created)["header"], "revision");

  bool waited = false;
  auto last_keep_alive = time_.steady_now();
  const auto keep_alive_every = std::max<std::chrono::milliseconds>(request.lease / 3, 100ms);
  for (;;) {
    auto before = co_await predecessor(*etcd, dir, my_revision, request.mode);
    if (!before) {
      co_await revoke(*etcd, lease);
      co_return before.error();
    }
    if (before->empty()) {
      HeldLock held;
      held.name = request.name;
      held.mode = request.mode;
      held.owner = key;
      held.lease_id = lease;
      held.fencing_token = static_cast<std::uint64_t>(my_revision);
      held.contended = waited;
      co_return held;
    }
    const auto now = time_.steady_now();
    if (now >= request.wait_until) {
      co_await revoke(*etcd, lease);
      if (!waited) co_return make_error(ErrorCode::limit_exceeded, "lock " + request.name + " is held");
      co_return make_error(ErrorCode::timeout, "lock " + request.name + " is still held after the wait");
    }
    waited = true;
    // Our key must outlive the wait: renew the lease between watches.
    if (now - last_keep_alive >= keep_alive_every) {
      auto alive = co_await keep_alive(*etcd, lease);
      if (!alive || !*alive) {
        co_await revoke(*etcd, lease);
        if (!alive) co_return alive.error();
        co_return make_error(ErrorCode::unavailable, "etcd: the waiting lease of lock " + request.name + " expired");
      }
      last_keep_alive = now;
    }
    const auto watch_for = std::min(
        keep_alive_every, std::chrono::duration_cast<std::chrono::milliseconds>(request.wait_until - now + 1ms));
    auto deleted = co_await wait_deleted(*etcd, *before, watch_for, request.cancel);
    if (!deleted) {
      co_await revoke(*etcd, lease);
      co_return deleted.error();
    }
  }
}

Awaitable<Result<void>> EtcdLockBackend::extend(const HeldLock& held, std::chrono::milliseconds) {
  auto etcd = etcd_;
  // The lease's TTL was fixed at grant time; a keep-alive restores it in full.
  auto alive = co_await keep_alive(*etcd, held.lease_id);
  if (!alive) co_return alive.error();
  if (!*alive) co_return make_error(ErrorCode::not_found, "lock " + held.name + ": its lease expired", "name");
  co_return Result<void>{};
}

Awaitable<Result<void>> EtcdLockBackend::release(const HeldLock& held) {
  auto etcd = etcd_;
  const json body{{"ID", held.lease_id}};
  auto revoked = co_await etcd->call("/v3/lease/revoke", body);
  if (!revoked && revoked.error().code != ErrorCode::not_found) co_return revoked.error();
  co_return Result<void>{};
}

}  // namespace svckit::coord
