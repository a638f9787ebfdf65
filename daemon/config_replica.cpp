#include "daemon/config_replica.hpp"

#include <spdlog/spdlog.h>

#include <cstdio>

#include "svckit/core/instance_json.hpp"
#include "svckit/core/log.hpp"

namespace svckit::daemon {

using nlohmann::json;

namespace {

constexpr std::chrono::milliseconds kWriteLimit{10'000};        // how long a write keeps drafting while others win
constexpr std::chrono::milliseconds kReplicaReachLimit{5'000};  // how long a write waits for its version here

}  // namespace

ConfigReplica::ConfigReplica(etcd::EtcdClient& etcd, const std::string& prefix, ConfigStore& store,
                             const TimeSource& time, std::size_t keep)
    : etcd_(etcd),
      prefix_(prefix + "/config/v/"),
      store_(store),
      time_(time),
      keep_(keep),
      follower_(
          etcd, prefix_, [this](const json& events) { apply_events(events); },
          [this]() -> http::Awaitable<Result<std::int64_t>> {
            auto loaded = co_await load();
            if (!loaded) co_return loaded.error();
            co_return revision_;
          }) {}

void ConfigReplica::stop() {
  stopped_ = true;
  follower_.stop();
}

std::string ConfigReplica::version_key(std::uint64_t version) const {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(version));
  return prefix_ + digits;
}

Result<ConfigStore::Version> ConfigReplica::decode(const json& kv) const {
  auto value = etcd::base64_decode(kv.value("value", ""));
  if (!value) return value.error();
  const auto parsed = json::parse(*value, nullptr, false);
  if (!parsed.is_object() || !parsed.value("version", json()).is_number_unsigned() ||
      !parsed.value("config", json()).is_object()) {
    return make_error(ErrorCode::protocol, "etcd: a config version that is not svckitd's", "store");
  }
  auto applied = parse_rfc3339(parsed.value("applied_at", ""), "applied_at");
  return ConfigStore::Version{parsed["version"].get<std::uint64_t>(), applied ? *applied : time_.system_now(),
                              parsed.value("reason", ""), std::make_shared<const json>(parsed["config"])};
}

http::Awaitable<Result<void>> ConfigReplica::load() {
  const json range{{"key", etcd::base64_encode(prefix_)},
                   {"range_end", etcd::base64_encode(etcd::prefix_end(prefix_))}};
  auto answer = co_await etcd_.call("/v3/kv/range", range);
  if (!answer) co_return answer.error();
  std::vector<ConfigStore::Version> versions;
  for (const auto& kv : answer->value("kvs", json::array())) {
    auto version = decode(kv);
    if (!version) co_return version.error();
    versions.push_back(std::move(*version));
  }
  store_.load_replicated(std::move(versions));
  revision_ = etcd::json_int((*answer)["header"], "revision");
  logs::info("cluster", "event=config_replica_loaded version={} revision={}", store_.current().version, revision_);
  co_return Result<void>{};
}

void ConfigReplica::apply_events(const json& events) {
  for (const auto& e : events) {
    if (e.value("type", "PUT") == "DELETE") continue;  // a version leaving the kept history
    auto version = decode(e["kv"]);
    if (!version) {
      logs::warn("cluster", "event=config_replica_bad_version error=\"{}\"", version.error().describe());
      continue;
    }
    store_.apply_replicated(std::move(*version));
  }
}

void ConfigReplica::reopen() {
  logs::info("cluster", "event=config_replica_reopened reason=\"etcd left a probe unanswered\"");
  follower_.reopen();
}

http::Awaitable<void> ConfigReplica::follow() { co_await follower_.run(revision_); }

http::Awaitable<bool> ConfigReplica::reach(std::uint64_t version) {
  const auto until = std::chrono::steady_clock::now() + kReplicaReachLimit;
  while (store_.current().version < version && std::chrono::steady_clock::now() < until && !stopped_ &&
         !store_.waiters_released()) {
    // No cancel token here (a token has one hook, and concurrent writes would replace each
    // other's): shutdown's release_waiters() ends this wait.
    (void)co_await store_.wait_newer(store_.current().version, until, nullptr);
  }
  co_return store_.current().version >= version;
}

http::Awaitable<Result<std::uint64_t>> ConfigReplica::write(ConfigApi::Drafter drafter) {
  // Another node's win is progress, so drafting again is bounded by time, not by a count: under
  // contention from busier nodes a write lands once they pause (8 attempts once failed a write
  // while another node wrote 10 in a row).
  const auto until = std::chrono::steady_clock::now() + kWriteLimit;
  while (!stopped_ && !store_.waiters_released() && std::chrono::steady_clock::now() < until) {
    const auto base = store_.current().version;
    auto draft = drafter();
    if (!draft) co_return draft.error();
    const auto version = base + 1;
    const json stored{{"version", version},
                      {"applied_at", format_rfc3339(time_.system_now())},
                      {"reason", draft->reason},
                      {"config", std::move(draft->tree)}};
    const auto key = etcd::base64_encode(version_key(version));
    const json compare{{"key", key}, {"target", "CREATE"}, {"result", "EQUAL"}, {"create_revision", "0"}};
    json success = json::array({json{{"request_put", {{"key", key}, {"value", etcd::base64_encode(stored.dump())}}}}});
    if (version > keep_) {
      success.push_back(json{{"request_delete_range", {{"key", etcd::base64_encode(version_key(version - keep_))}}}});
    }
    const json txn{{"compare", json::array({compare})}, {"success", std::move(success)}};
    auto answer = co_await etcd_.call("/v3/kv/txn", txn);
    if (!answer) co_return answer.error();
    if (answer->value("succeeded", false)) {
      if (!co_await reach(version)) {
        logs::warn("cluster", "event=config_replica_lagging version={} here={}", version, store_.current().version);
      }
      co_return version;
    }
    // Another node took this version first: wait for it here, then draft again on top of it.
    (void)co_await reach(version);
  }
  co_return make_error(ErrorCode::unavailable,
                       "the configuration kept changing on other nodes while this change was tried; retry it", "store");
}

}  // namespace svckit::daemon
