#include "daemon/acl_replica.hpp"
#include "svckit/core/log.hpp"

#include <spdlog/spdlog.h>

namespace svckit::daemon {

using nlohmann::json;

namespace {

constexpr std::chrono::milliseconds kAclWriteLimit{10'000};  // how long a write retries while others win
constexpr std::chrono::milliseconds kAclReachLimit{5'000};   // how long a write waits for its revision here

Error acl_store_error(std::string message) { return make_error(ErrorCode::unavailable, std::move(message), "store"); }

}  // namespace

AclReplica::AclReplica(etcd::EtcdClient& etcd, const std::string& prefix, AclTokenStore& tokens)
    : etcd_(etcd),
      prefix_(prefix + "/acl/"),
      generation_key_(prefix + "/acl/generation"),
      tokens_(tokens),
      follower_(
          etcd, prefix_, [this](const json& events) { apply_events(events); },
          [this]() -> http::Awaitable<Result<std::int64_t>> {
            auto loaded = co_await load();
            if (!loaded) co_return loaded.error();
            co_return revision_.load();
          }) {}

void AclReplica::stop() {
  stopped_ = true;
  follower_.stop();
  progress_.notify_all();
}

void AclReplica::advanced(std::int64_t revision) {
  if (revision > revision_.load()) revision_ = revision;
  progress_.notify_all();
}

void AclReplica::apply_event(const json& kv, bool deleted) {
  auto key = etcd::base64_decode(kv.value("key", ""));
  if (!key) return;
  if (*key == generation_key_) {
    if (deleted) return;  // only an operator deleting it by hand; the tokens stay as they are
    auto value = etcd::base64_decode(kv.value("value", ""));
    count_ = value ? std::atoll(value->c_str()) : 0;
    generation_ = etcd::json_int(kv, "mod_revision");
    tokens_.mark_bootstrapped();
    return;
  }
  const auto tokens_prefix = prefix_ + "t/";
  if (!key->starts_with(tokens_prefix)) return;
  if (deleted) {
    tokens_.apply_delete(key->substr(tokens_prefix.size()));
    return;
  }
  auto value = etcd::base64_decode(kv.value("value", ""));
  auto doc = value ? parse_json(*value) : Result<json>(value.error());
  auto token = doc ? AclTokenStore::stored_from_json(*doc, *key) : Result<AclTokenStore::Stored>(doc.error());
  if (!token) {
    logs::warn("acl", "event=acl_replica_bad_token key={} error=\"{}\"", *key, token.error().describe());
    return;
  }
  tokens_.apply_put(std::move(*token));
}

http::Awaitable<Result<void>> AclReplica::load() {
  const json range{{"key", etcd::base64_encode(prefix_)},
                   {"range_end", etcd::base64_encode(etcd::prefix_end(prefix_))}};
  auto answer = co_await etcd_.call("/v3/kv/range", range);
  if (!answer) co_return answer.error();
  std::vector<AclTokenStore::Stored> tokens;
  bool bootstrapped = false;
  std::int64_t generation = 0;
  std::int64_t count = 0;
  const auto tokens_prefix = prefix_ + "t/";
  for (const auto& kv : answer->value("kvs", json::array())) {
    auto key = etcd::base64_decode(kv.value("key", ""));
    auto value = etcd::base64_decode(kv.value("value", ""));
    if (!key || !value) continue;
    if (*key == generation_key_) {
      bootstrapped = true;
      generation = etcd::json_int(kv, "mod_revision");
      count = std::atoll(value->c_str());
      continue;
    }
    if (!key->starts_with(tokens_prefix)) continue;
    auto doc = parse_json(*value);
    auto token = doc ? AclTokenStore::stored_from_json(*doc, *key) : Result<AclTokenStore::Stored>(doc.error());
    if (!token) co_return make_error(ErrorCode::invalid_argument, token.error().message, "store");
    tokens.push_back(std::move(*token));
  }
  tokens_.load_replicated(std::move(tokens), bootstrapped);
  generation_ = generation;
  count_ = count;
  advanced(etcd::json_int((*answer)["header"], "revision"));
  logs::info("acl", "event=acl_replica_loaded tokens={} revision={}", tokens_.size(), revision_.load());
  co_return Result<void>{};
}

void AclReplica::reopen() {
  logs::info("acl", "event=acl_replica_reopened reason=\"etcd left a probe unanswered\"");
  follower_.reopen();
}

http::Awaitable<void> AclReplica::follow() { co_await follower_.run(revision_.load()); }

void AclReplica::apply_events(const json& events) {
  std::int64_t revision = 0;
  for (const auto& e : events) {
    apply_event(e["kv"], e.value("type", "PUT") == "DELETE");
    revision = std::max(revision, etcd::json_int(e["kv"], "mod_revision"));
  }
  advanced(revision);  // etcd sends a transaction's events together: the copy is whole at `revision`
}

http::Awaitable<bool> AclReplica::reach(std::int64_t revision) {
  const auto until = std::chrono::steady_clock::now() + kAclReachLimit;
  while (revision_.load() < revision && !stopped_) {
    auto ticket = progress_.park();
    if (revision_.load() >= revision) break;
    const auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero() || !co_await ticket.wait_for(left, sleeper_)) break;
  }
  co_return revision_.load() >= revision;
}

http::Awaitable<Result<bool>> AclReplica::guarded_write(json ops, std::int64_t generation_revision) {
  const auto count = count_.load() + 1;
  ops.push_back(
      json{{"request_put",
            {{"key", etcd::base64_encode(generation_key_)}, {"value", etcd::base64_encode(std::to_string(count))}}}});
  const json compare{{"key", etcd::base64_encode(generation_key_)},
                     {"target", "MOD"},
                     {"result", "EQUAL"},
                     {"mod_revision", std::to_string(generation_revision)}};
  const json txn{{"compare", json::array({compare})}, {"success", std::move(ops)}};
  auto answer = co_await etcd_.call("/v3/kv/txn", txn);
  if (!answer) co_return answer.error();
  const auto revision = etcd::json_int((*answer)["header"], "revision");
  const bool won = answer->value("succeeded", false);
  if (won) {
    if (!co_await reach(revision)) logs::warn("acl", "event=acl_replica_lagging revision={}", revision);
    co_return true;
  }
  // Another node wrote first: wait until this copy has its write (a newer generation; etcd's head
  // revision is no measure, other keys move it too), then the caller checks again.
  const auto until = std::chrono::steady_clock::now() + kAclReachLimit;
  while (generation_.load() == generation_revision && !stopped_) {
    auto ticket = progress_.park();
    if (generation_.load() != generation_revision) break;
    const auto left = until - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero() || !co_await ticket.wait_for(left, sleeper_)) break;
  }
  co_return false;
}

http::Awaitable<Result<AclTokenStore::Created>> AclReplica::create(std::string description, AclRules rules,
                                                                   std::string secret) {
  const auto until = std::chrono::steady_clock::now() + kAclWriteLimit;
  while (!stopped_ && std::chrono::steady_clock::now() < until) {
    const auto generation = generation_.load();  // read before the checks: they hold for this copy
    auto draft = tokens_.draft_create(description, rules, secret);
    if (!draft) co_return draft.error();
    auto& [stored, created] = *draft;
    const auto key = etcd::base64_encode(prefix_ + "t/" + stored.info.accessor);
    json ops = json::array({json{
        {"request_put", {{"key", key}, {"value", etcd::base64_encode(AclTokenStore::stored_json(stored).dump())}}}}});
    auto written = co_await guarded_write(std::move(ops), generation);
    if (!written) co_return written.error();
    if (*written) co_return std::move(created);
  }
  co_return acl_store_error("the ACL tokens kept changing on other nodes while this token was created; retry it");
}

http::Awaitable<Result<void>> AclReplica::revoke(std::string accessor) {
  const auto until = std::chrono::steady_clock::now() + kAclWriteLimit;
  while (!stopped_ && std::chrono::steady_clock::now() < until) {
    const auto generation = generation_.load();
    if (auto ok = tokens_.check_revoke(accessor); !ok) co_return ok;
    json ops = json::array({json{{"request_delete_range", {{"key", etcd::base64_encode(prefix_ + "t/" + accessor)}}}}});
    auto written = co_await guarded_write(std::move(ops), generation);
    if (!written) co_return written.error();
    if (*written) co_return Result<void>{};
  }
  co_return acl_store_error("the ACL tokens kept changing on other nodes while this token was revoked; retry it");
}

http::Awaitable<Result<bool>> AclReplica::bootstrap(std::string secret) {
  const auto until = std::chrono::steady_clock::now() + kAclWriteLimit;
  while (!stopped_ && std::chrono::steady_clock::now() < until) {
    const auto generation = generation_.load();
    if (tokens_.bootstrapped()) co_return false;  // by another node, or at an earlier start
    auto draft = tokens_.draft_create("bootstrap (management) token", AclRules::management(), secret);
    if (!draft) co_return draft.error();
    const auto& stored = draft->first;
    const auto key = etcd::base64_encode(prefix_ + "t/" + stored.info.accessor);
    json ops = json::array({json{
        {"request_put", {{"key", key}, {"value", etcd::base64_encode(AclTokenStore::stored_json(stored).dump())}}}}});
    auto written = co_await guarded_write(std::move(ops), generation);
    if (!written) co_return written.error();
    if (*written) co_return true;
  }
  co_return acl_store_error("the ACL tokens kept changing on other nodes during the bootstrap");
}

}  // namespace svckit::daemon
