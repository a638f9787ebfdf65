// redis://host:6379/0?key=app:config&channel=app:config:changed — a hash whose fields are dotted
// keys; writers PUBLISH on the channel after a change (svckit's tools do). The version is a hash
// of the content.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "config/remote/remote_backends.hpp"
#include "svckit/redis/redis_client.hpp"

namespace svckit::config::detail {

namespace asio = boost::asio;

namespace {

struct RedisConfigState {
  std::shared_ptr<redis::RedisClient> redis;
  asio::any_io_executor executor;
  std::string key;
  std::string channel;

  std::string name() const { return "redis:" + key; }

  Awaitable<Result<RemoteContent>> read() const {
    auto args = redis::command_args("HGETALL", key);
    auto reply = co_await redis->command(std::move(args));
    if (!reply) co_return reply.error();
    std::vector<std::pair<std::string, std::string>> entries;
    for (std::size_t i = 0; i + 1 < reply->elements.size(); i += 2) {
      entries.emplace_back(reply->elements[i].text, reply->elements[i + 1].text);
    }
    std::sort(entries.begin(), entries.end());
    std::string flat;
    for (const auto& [field, value] : entries) flat += field + '\0' + value + '\0';
    auto tree = tree_from_flat(entries, name());
    if (!tree) co_return tree.error();
    co_return RemoteContent{std::move(*tree), std::to_string(std::hash<std::string>{}(flat))};
  }
};

/// After the subscription is confirmed: a change made between the last read and the subscription
/// sent its message to nobody; one read finds it.
Awaitable<void> check_missed(std::shared_ptr<RedisConfigState> state, std::string version,
                             std::shared_ptr<std::atomic<bool>> changed, std::shared_ptr<CancelToken> done) {
  auto now = co_await state->read();
  if (now && now->version != version) {
    *changed = true;
    done->cancel();
  }
}

class RedisConfigBackend final : public RemoteConfigBackend {
 public:
  explicit RedisConfigBackend(std::shared_ptr<RedisConfigState> state) : state_(std::move(state)) {}
  std::string name() const override { return state_->name(); }
  Awaitable<Result<RemoteContent>> read() override {
    auto state = state_;
    co_return co_await state->read();
  }

  Awaitable<Result<bool>> wait_change(const std::string& version, std::chrono::milliseconds timeout,
                                      std::shared_ptr<CancelToken> cancel) override {
    auto state = state_;
    auto done = std::make_shared<CancelToken>();
    auto changed = std::make_shared<std::atomic<bool>>(false);
    if (cancel && !cancel->set_hook([done] { done->cancel(); })) {
      co_return make_error(ErrorCode::cancelled, name() + ": cancelled");
    }
    redis::RedisClient::MessageHandler on_message = [changed, done](const std::string&, const std::string&) {
      *changed = true;
      done->cancel();
    };
    std::function<void()> on_subscribed = [state, version, changed, done] {
      asio::co_spawn(state->executor, check_missed(state, version, changed, done), asio::detached);
    };
    std::vector<std::string> channels{state->channel};
    auto ended = co_await state->redis->subscribe(std::move(channels), std::move(on_message), done,
                                                  std::move(on_subscribed), timeout);
    if (cancel) cancel->clear_hook();
    if (*changed) co_return true;
    if (cancel && cancel->cancelled()) co_return make_error(ErrorCode::cancelled, name() + ": cancelled");
    if (!ended && ended.error().code != ErrorCode::timeout) co_return ended.error();
    co_return false;  // silent for `timeout`
  }

 private:
  std::shared_ptr<RedisConfigState> state_;
};

}  // namespace

Result<std::unique_ptr<RemoteConfigBackend>> redis_config_backend(const net::BackendUrl& url,
                                                                  const boost::asio::any_io_executor& executor) {
  auto options = redis::redis_options_from_url(url);
  if (!options) return options.error();
  auto state = std::make_shared<RedisConfigState>();
  const auto* key = url.query.count("key") ? &url.query.find("key")->second : nullptr;
  if (key == nullptr || key->empty()) return make_error(ErrorCode::invalid_argument, "redis:// needs ?key=HASH", "key");
  state->key = *key;
  state->channel = url.query.count("channel") ? url.query.find("channel")->second : *key + ":changed";
  state->executor = executor;
  state->redis = std::make_shared<redis::RedisClient>(executor, std::move(*options));
  return std::unique_ptr<RemoteConfigBackend>(std::make_unique<RedisConfigBackend>(std::move(state)));
}

}  // namespace svckit::config::detail
