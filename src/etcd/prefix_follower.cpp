#include "svckit/etcd/prefix_follower.hpp"

namespace svckit::etcd {

using nlohmann::json;

namespace {
constexpr std::chrono::milliseconds kFollowRetryFirst{100};   // after a failed stream, doubling...
constexpr std::chrono::milliseconds kFollowRetryMost{2'000};  // ...up to this
}  // namespace

PrefixFollower::PrefixFollower(EtcdClient& etcd, std::string prefix, Apply apply, Reload reload)
    : etcd_(etcd), prefix_(std::move(prefix)), apply_(std::move(apply)), reload_(std::move(reload)) {}

void PrefixFollower::stop() {
  stopped_ = true;
  cancel_->cancel();
  std::lock_guard lock(stream_mutex_);
  if (stream_cancel_) stream_cancel_->cancel();
}

void PrefixFollower::reopen() {
  std::lock_guard lock(stream_mutex_);
  if (stream_cancel_) stream_cancel_->cancel();
}

void PrefixFollower::reload() {
  reload_wanted_ = true;
  reopen();
}

Awaitable<void> PrefixFollower::run(std::int64_t revision) {
  revision_ = revision;
  auto retry = kFollowRetryFirst;
  while (!stopped_) {
    auto stream_cancel = std::make_shared<CancelToken>();
    {
      std::lock_guard lock(stream_mutex_);
      stream_cancel_ = stream_cancel;
    }
    if (stopped_) break;
    bool compacted = false;
    const json create{{"key", base64_encode(prefix_)},
                      {"range_end", base64_encode(prefix_end(prefix_))},
                      {"start_revision", std::to_string(revision_.load() + 1)}};
    const json body{{"create_request", create}};
    EtcdClient::MessageSink on_message = [&](json message) -> Awaitable<Result<void>> {
      retry = kFollowRetryFirst;
      if (message.contains("error")) co_return error_from_etcd(500, message.dump());
      const json result = message.contains("result") ? std::move(message["result"]) : std::move(message);
      if (json_int(result, "compact_revision") > 0) {
        compacted = true;
        co_return make_error(ErrorCode::cancelled, "compacted");
      }
      const auto events = result.value("events", json::array());
      if (events.empty()) co_return Result<void>{};
      apply_(events);
      for (const auto& e : events) revision_ = std::max(revision_.load(), json_int(e["kv"], "mod_revision"));
      co_return Result<void>{};
    };
    (void)co_await etcd_.stream("/v3/watch", body, std::chrono::hours(24 * 365), stream_cancel, on_message);
    if (stopped_) break;
    // The changes after ours are gone from etcd's history (compacted, or etcd restored from a
    // backup): read the whole prefix.
    if (reload_wanted_.exchange(false) || compacted) {
      if (auto reloaded = co_await reload_(); reloaded) {
        revision_ = *reloaded;
        continue;
      }
    }
    (void)co_await sleeper_.sleep_for(retry, cancel_.get());
    retry = std::min(retry * 2, kFollowRetryMost);
  }
}

}  // namespace svckit::etcd
