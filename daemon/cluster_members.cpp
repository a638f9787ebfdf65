#include "daemon/cluster_members.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

#include "daemon/rendezvous.hpp"
#include "svckit/core/log.hpp"

namespace svckit::daemon {

using nlohmann::json;

ClusterMembers::ClusterMembers(etcd::EtcdClient& etcd, std::string prefix, ClusterMember self,
                               std::chrono::milliseconds ttl, std::function<void()> on_change)
    : etcd_(etcd),
      prefix_(std::move(prefix) + "/members/"),
      self_(std::move(self)),
      ttl_(ttl),
      on_change_(std::move(on_change)),
      members_{self_},
      names_{self_.name} {}

void ClusterMembers::stop() {
  stopped_ = true;
  cancel_->cancel();
}

std::vector<ClusterMember> ClusterMembers::members() const {
  std::lock_guard lock(mutex_);
  return members_;
}

std::string ClusterMembers::owner(std::string_view key) const {
  std::lock_guard lock(mutex_);
  return rendezvous_owner(names_, key);
}

bool ClusterMembers::owns(std::string_view key) const { return owner(key) == self_.name; }

http::Awaitable<Result<void>> ClusterMembers::join() {
  const auto seconds = std::max<std::int64_t>(1, (ttl_.count() + 999) / 1000);
  const json grant{{"TTL", std::to_string(seconds)}};
  auto granted = co_await etcd_.call("/v3/lease/grant", grant);
  if (!granted) co_return granted.error();
  if (!granted->contains("ID")) co_return make_error(ErrorCode::protocol, "etcd: lease grant without an ID");
  lease_ = (*granted)["ID"].is_string() ? (*granted)["ID"].get<std::string>() : (*granted)["ID"].dump();
  const json value{{"name", self_.name}, {"api", self_.api}, {"gateway", self_.gateway}, {"started", self_.started}};
  const json put{{"key", etcd::base64_encode(prefix_ + self_.name)},
                 {"value", etcd::base64_encode(value.dump())},
                 {"lease", lease_}};
  auto stored = co_await etcd_.call("/v3/kv/put", put);
  if (!stored) co_return stored.error();
  logs::info("cluster", "event=cluster_joined node={} lease={}", self_.name, lease_);
  co_return Result<void>{};
}

http::Awaitable<Result<void>> ClusterMembers::renew() {
  if (lease_ == "0") co_return co_await join();
  const json keepalive{{"ID", lease_}};
  auto kept = co_await etcd_.call("/v3/lease/keepalive", keepalive);
  if (!kept) co_return kept.error();
  const json result = kept->contains("result") ? (*kept)["result"] : *kept;
  if (etcd::json_int(result, "TTL") <= 0) {  // the lease ran out (this node was cut off too long)
    lease_ = "0";
    co_return co_await join();
  }
  co_return Result<void>{};
}

http::Awaitable<Result<bool>> ClusterMembers::read_members() {
  const json range{{"key", etcd::base64_encode(prefix_)},
                   {"range_end", etcd::base64_encode(etcd::prefix_end(prefix_))}};
  auto answer = co_await etcd_.call("/v3/kv/range", range);
  if (!answer) co_return answer.error();
  std::vector<ClusterMember> found;
  for (const auto& kv : answer->value("kvs", json::array())) {
    auto value = etcd::base64_decode(kv.value("value", ""));
    if (!value) continue;
    const auto parsed = json::parse(*value, nullptr, false);
    if (!parsed.is_object() || !parsed.contains("name")) continue;
    found.push_back(ClusterMember{parsed.value("name", ""), parsed.value("api", ""), parsed.value("gateway", ""),
                                  parsed.value("started", "")});
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<std::string> names;
  for (const auto& m : found) names.push_back(m.name);
  std::lock_guard lock(mutex_);
  if (names == names_) co_return false;
  logs::info("cluster", "event=cluster_members_changed count={} before={} after={}", names.size(), names_.size(),
             names.size());
  members_ = std::move(found);
  names_ = std::move(names);
  co_return true;
}

http::Awaitable<void> ClusterMembers::run() {
  const auto period = std::max(std::chrono::milliseconds(100), ttl_ / 3);
  while (!stopped_) {
    if (auto renewed = co_await renew(); !renewed) {
      logs::debug("cluster", "event=cluster_member_renew_failed error=\"{}\"", renewed.error().describe());
    }
    auto changed = co_await read_members();
    if (changed && *changed && on_change_) on_change_();
    (void)co_await sleeper_.sleep_for(period, cancel_.get());
  }
  if (lease_ != "0") {  // leave at once: the others take this node's share now, not at the lease's end
    const json revoke{{"ID", lease_}};
    (void)co_await etcd_.call("/v3/lease/revoke", revoke);
    logs::info("cluster", "event=cluster_left node={}", self_.name);
  }
}

}  // namespace svckit::daemon
