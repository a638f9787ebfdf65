#include "svckit/redis/redis_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <map>
#include <mutex>

#include "redis/redis_connection.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/net/tls_context.hpp"

namespace svckit::redis {

namespace asio = boost::asio;
using detail::RedisConnection;

struct RedisClient::Impl {
  Impl(asio::any_io_executor ex, RedisOptions opts) : executor(std::move(ex)), options(std::move(opts)) {}

  std::shared_ptr<RedisConnection> acquire() {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        auto connection = std::move(idle.back());
        idle.pop_back();
        return connection;
      }
    }
    return std::make_shared<RedisConnection>(executor);
  }

  /// The TLS context, made on first use (an unreadable file fails every command, naming it).
  Result<std::shared_ptr<asio::ssl::context>> tls_context() {
    std::lock_guard lock(mutex);
    if (tls) return tls;
    auto context = net::make_client_tls_context(options.tls.ca_file, options.tls.cert_file, options.tls.key_file,
                                                /*verify_peer=*/true);
    if (context) tls = *context;
    return context;
  }

  void release(std::shared_ptr<RedisConnection> connection) {
    if (connection->broken() || !connection->is_open()) return;
    std::lock_guard lock(mutex);
    if (idle.size() < options.max_idle_connections) idle.push_back(std::move(connection));
  }

  /// Runs on the connection's strand: opens it when new, then one round trip.
  static Awaitable<Result<Reply>> on_connection(std::shared_ptr<Impl> self, std::shared_ptr<RedisConnection> connection,
                                                std::vector<std::string> args, std::chrono::milliseconds timeout,
                                                std::shared_ptr<CancelToken> cancel) {
    if (!connection->is_open()) {
      std::shared_ptr<asio::ssl::context> tls;
      if (self->options.tls.enabled) {
        auto context = self->tls_context();
        if (!context) co_return context.error();
        tls = std::move(*context);
      }
      self->opened.fetch_add(1, std::memory_order_relaxed);
      auto opened = co_await connection->open(self->options, std::move(tls));
      if (!opened) co_return opened.error();
    }
    co_return co_await connection->round_trip(args, timeout, cancel);
  }

  /// Runs on the connection's strand: opens it, subscribes, then reads messages until it ends.
  static Awaitable<Result<void>> subscribed(std::shared_ptr<Impl> self, std::shared_ptr<RedisConnection> connection,
                                            std::vector<std::string> channels, MessageHandler on_message,
                                            std::shared_ptr<CancelToken> cancel, std::function<void()> on_subscribed,
                                            std::chrono::milliseconds idle_timeout) {
    std::vector<std::string> args{"SUBSCRIBE"};
    args.insert(args.end(), channels.begin(), channels.end());
    // The first confirmation comes back as SUBSCRIBE's reply, the others as the next replies.
    auto confirmed = co_await on_connection(self, connection, std::move(args), self->options.command_timeout, cancel);
    if (!confirmed) co_return confirmed.error();
    for (std::size_t i = 1; i < channels.size(); ++i) {
      auto next = co_await connection->next_reply(self->options.command_timeout, cancel);
      if (!next) co_return next.error();
    }
    if (on_subscribed) on_subscribed();
    for (;;) {
      auto reply = co_await connection->next_reply(idle_timeout, cancel);
      if (!reply) co_return reply.error();
      const auto& e = reply->elements;
      if (reply->kind == Reply::Kind::array && e.size() == 3 && e[0].text == "message") {
        on_message(e[1].text, e[2].text);
      }
    }
  }

  Awaitable<Result<Reply>> run(std::vector<std::string> args, std::chrono::milliseconds timeout,
                               std::shared_ptr<CancelToken> cancel) {
    auto connection = acquire();
    auto task = on_connection(shared_self(), connection, std::move(args), timeout, std::move(cancel));
    auto reply = co_await asio::co_spawn(connection->strand(), std::move(task), asio::use_awaitable);
    release(std::move(connection));
    co_return reply;
  }

  std::shared_ptr<Impl> shared_self() { return self_ref.lock(); }

  Result<std::string> cached_sha(const std::string& source) {
    std::lock_guard lock(mutex);
    auto it = script_shas.find(source);
    if (it == script_shas.end()) return make_error(ErrorCode::not_found, "not loaded");
    return it->second;
  }

  asio::any_io_executor executor;
  RedisOptions options;
  std::weak_ptr<Impl> self_ref;
  std::atomic<std::uint64_t> opened{0};
  std::mutex mutex;
  std::vector<std::shared_ptr<RedisConnection>> idle;  // guarded by mutex
  std::shared_ptr<asio::ssl::context> tls;             // guarded by mutex
  std::map<std::string, std::string> script_shas;      // source -> SHA1, guarded by mutex
};

RedisClient::RedisClient(asio::any_io_executor executor, RedisOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), std::move(options))) {
  impl_->self_ref = impl_;
}

RedisClient::~RedisClient() = default;

Awaitable<Result<Reply>> RedisClient::command(std::vector<std::string> args) {
  auto impl = impl_;
  co_return co_await impl->run(std::move(args), impl->options.command_timeout, nullptr);
}

Awaitable<Result<Reply>> RedisClient::blocking_command(std::vector<std::string> args,
                                                       std::chrono::milliseconds blocks_for,
                                                       std::shared_ptr<CancelToken> cancel) {
  auto impl = impl_;
  co_return co_await impl->run(std::move(args), impl->options.command_timeout + blocks_for, std::move(cancel));
}

Awaitable<Result<void>> RedisClient::subscribe(std::vector<std::string> channels, MessageHandler on_message,
                                               std::shared_ptr<CancelToken> cancel, std::function<void()> on_subscribed,
                                               std::chrono::milliseconds idle_timeout) {
  auto impl = impl_;
  if (channels.empty()) co_return make_error(ErrorCode::invalid_argument, "subscribe needs a channel", "channels");
  // A connection of its own, never returned to the pool (it is in subscribe mode).
  auto connection = std::make_shared<RedisConnection>(impl->executor);
  auto task = Impl::subscribed(impl, connection, std::move(channels), std::move(on_message), std::move(cancel),
                               std::move(on_subscribed), idle_timeout);
  co_return co_await asio::co_spawn(connection->strand(), std::move(task), asio::use_awaitable);
}

Awaitable<Result<Reply>> RedisClient::eval(const RedisScript& script, std::vector<std::string> keys,
                                           std::vector<std::string> args) {
  auto impl = impl_;
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto sha = impl->cached_sha(script.source);
    if (!sha) {
      std::vector<std::string> load{"SCRIPT", "LOAD", script.source};
      auto loaded = co_await impl->run(std::move(load), impl->options.command_timeout, nullptr);
      if (!loaded) co_return loaded.error();
      std::lock_guard lock(impl->mutex);
      impl->script_shas[script.source] = loaded->text;
      sha = loaded->text;
    }
    std::vector<std::string> call{"EVALSHA", *sha, std::to_string(keys.size())};
    call.insert(call.end(), keys.begin(), keys.end());
    call.insert(call.end(), args.begin(), args.end());
    auto reply = co_await impl->run(std::move(call), impl->options.command_timeout, nullptr);
    if (reply || reply.error().message.find("NOSCRIPT") == std::string::npos) co_return reply;
    std::lock_guard lock(impl->mutex);  // the server lost its script cache (restart, SCRIPT FLUSH)
    impl->script_shas.erase(script.source);
  }
  co_return make_error(ErrorCode::unavailable, "redis: the script could not be loaded");
}

const RedisOptions& RedisClient::options() const { return impl_->options; }

std::uint64_t RedisClient::connections_opened() const { return impl_->opened.load(std::memory_order_relaxed); }

Result<RedisOptions> redis_options_from_url(const net::BackendUrl& url) {
  RedisOptions options;
  if (url.hosts.size() != 1) {
    return make_error(ErrorCode::invalid_argument, "a redis URL names exactly one host:port", "registry");
  }
  options.server = url.hosts.front();
  const std::string db = url.path.empty() || url.path == "/" ? "0" : url.path.substr(1);
  char* end = nullptr;
  const long parsed = std::strtol(db.c_str(), &end, 10);
  if (db.empty() || *end != '\0' || parsed < 0 || parsed > 1'000'000) {
    return make_error(ErrorCode::invalid_argument, "redis database must be a number, got '" + db + "'", "database");
  }
  options.database = static_cast<int>(parsed);
  auto password = net::backend_url_secret(url);
  if (!password) return password.error();
  options.password = std::move(*password);
  auto tls = net::backend_url_tls(url, url.scheme == "rediss");
  if (!tls) return tls.error();
  options.tls = std::move(*tls);
  options.server.tls = options.tls.enabled;
  for (const auto& [key, value] : url.query) {
    if (key == "user") {
      options.username = value;
    } else if (key == "timeout") {
      auto timeout = parse_duration(value, "timeout");
      if (!timeout) return timeout.error();
      options.command_timeout = *timeout;
    }
  }
  return options;
}

}  // namespace svckit::redis
