#include "svckit/etcd/bucket_leases.hpp"

#include <vector>

namespace svckit::etcd {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

std::int64_t BucketLeases::bucket_of(std::chrono::milliseconds ttl) {
  return std::max<std::int64_t>(1, (ttl.count() + 999) / 1000);
}

std::int64_t BucketLeases::lease_ttl(std::int64_t bucket) {
  return bucket + std::max<std::int64_t>(1, (bucket + 2) / 3);
}

std::chrono::milliseconds BucketLeases::keep_alive_period(std::int64_t bucket) {
  return std::chrono::milliseconds(1000 * std::max<std::int64_t>(1, (bucket + 2) / 3)) - std::chrono::milliseconds(200);
}

Awaitable<Result<std::string>> BucketLeases::lease_for(std::chrono::milliseconds ttl) {
  const auto bucket = bucket_of(ttl);
  {
    std::lock_guard lock(mutex_);
    if (const auto it = leases_.find(bucket); it != leases_.end()) co_return it->second.id;
  }
  const json body{{"TTL", std::to_string(lease_ttl(bucket))}};
  auto answer = co_await etcd_.call("/v3/lease/grant", body);
  if (!answer) co_return answer.error();
  if (!answer->contains("ID")) co_return make_error(ErrorCode::protocol, "etcd: lease grant without an ID");
  const auto granted = std::to_string(json_int(*answer, "ID"));
  std::string extra;
  std::string id;
  {
    std::lock_guard lock(mutex_);
    // Two first uses at once: the first grant to arrive is the bucket's; the other is let go.
    const auto [it, inserted] = leases_.try_emplace(bucket, Held{granted, Clock::now()});
    if (!inserted) extra = granted;
    id = it->second.id;
  }
  if (!extra.empty()) {
    const json revoke{{"ID", extra}};
    (void)co_await etcd_.call("/v3/lease/revoke", revoke);
  }
  co_return id;
}

Awaitable<std::size_t> BucketLeases::keep_alive_due() {
  std::vector<std::pair<std::int64_t, std::string>> due;
  {
    std::lock_guard lock(mutex_);
    const auto now = Clock::now();
    for (const auto& [bucket, held] : leases_) {
      if (now - held.renewed >= keep_alive_period(bucket)) due.emplace_back(bucket, held.id);
    }
  }
  std::size_t lost = 0;
  for (const auto& [bucket, id] : due) {
    const auto sent = Clock::now();
    const json keep{{"ID", id}};
    auto answer = co_await etcd_.call("/v3/lease/keepalive", keep);
    if (!answer && answer.error().code != ErrorCode::not_found) continue;  // etcd away: next round
    const json result = answer ? (answer->contains("result") ? (*answer)["result"] : *answer) : json::object();
    const bool alive = answer && json_int(result, "TTL") > 0;
    std::lock_guard lock(mutex_);
    const auto it = leases_.find(bucket);
    if (it == leases_.end() || it->second.id != id) continue;  // forgotten meanwhile
    if (alive) {
      it->second.renewed = sent;
    } else {
      leases_.erase(it);
      ++lost;
    }
  }
  co_return lost;
}

void BucketLeases::forget_all() {
  std::lock_guard lock(mutex_);
  leases_.clear();
}

std::size_t BucketLeases::count() const {
  std::lock_guard lock(mutex_);
  return leases_.size();
}

}  // namespace svckit::etcd
