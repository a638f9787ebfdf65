// RedisClient: a small coroutine Redis client over Asio, for every svckit part that stores state in
// Redis (registry backend, and later locks, queues, cache tier). hiredis does the RESP work (it
// formats commands and parses replies); the sockets, deadlines and pooling are Asio's and ours.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp, which uses std::exchange without it

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "svckit/core/cancel_token.hpp"
#include "svckit/core/result.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::redis {

template <class T>
using Awaitable = boost::asio::awaitable<T>;

/// One decoded reply. Redis error replies never appear here: they come back as Error values.
struct Reply {
  enum class Kind { nil, string, status, integer, array };
  Kind kind = Kind::nil;
  std::string text;  // string and status replies
  long long integer = 0;
  std::vector<Reply> elements;

  bool is_nil() const { return kind == Kind::nil; }
};

struct RedisOptions {
  net::HostPort server{"127.0.0.1", 6379, false};
  std::string username;  // Redis 6 ACL user; empty = the default user
  std::string password;  // empty = no AUTH. Never logged.
  int database = 0;
  std::chrono::milliseconds connect_timeout{2000};
  /// Per command, from write to the whole reply. Blocking commands add their own block time.
  std::chrono::milliseconds command_timeout{5000};
  /// Connections kept open between commands; more are opened when commands overlap.
  std::size_t max_idle_connections = 8;
  /// rediss:// (or ?tls=true): TLS, verifying the server's certificate chain and that it names
  /// server.host; ca_file to trust a private CA; cert_file + key_file when the server asks for a
  /// client certificate (redis-server --tls-auth-clients).
  net::TlsFiles tls;
};

/// Reads `?user=`, `?password_env=NAME` / `?password_file=PATH` (secrets never sit in the URL),
/// `?timeout=`, the TLS options (`rediss://` or `?tls=true`, `?ca_file=`, `?cert_file=`,
/// `?key_file=`) and the database from the path ("/0") of a `redis[s]://host:port/db` URL.
Result<RedisOptions> redis_options_from_url(const net::BackendUrl& url);

/// A command's argument list from strings and string literals: command_args("XACK", stream, group,
/// id). Build it outside co_await expressions — GCC 12 rejects a braced list of strings inside one
/// ("array used as initializer").
template <class... T>
std::vector<std::string> command_args(T&&... parts) {
  return std::vector<std::string>{std::string(std::forward<T>(parts))...};
}

/// A Lua script run with EVALSHA; loaded (SCRIPT LOAD) on first use and again after NOSCRIPT
/// (a restarted or flushed server).
struct RedisScript {
  std::string source;
};

/// Thread-safe: any coroutine on any thread may call it. Each command takes an idle connection
/// (or opens one) for its whole round trip, so overlapping commands never share a socket.
/// A connection that failed or timed out is closed, never reused.
/// Errors: unavailable (connect/IO failure, LOADING, READONLY), timeout, cancelled, protocol
/// (unparseable reply); a Redis error reply becomes `internal` with Redis's message, except the
/// prefixes our scripts use: "NOT_FOUND " -> not_found, "LIMIT " -> limit_exceeded,
/// "INVALID " -> invalid_argument, "CONFLICT " -> unavailable (retry).
class RedisClient {
 public:
  RedisClient(boost::asio::any_io_executor executor, RedisOptions options);
  ~RedisClient();
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  Awaitable<Result<Reply>> command(std::vector<std::string> args);
  /// For commands that wait server-side (XREAD BLOCK ms, BLPOP): the deadline is
  /// command_timeout + `blocks_for`; `cancel` (optional) aborts the wait by closing the connection.
  Awaitable<Result<Reply>> blocking_command(std::vector<std::string> args, std::chrono::milliseconds blocks_for,
                                            std::shared_ptr<CancelToken> cancel = nullptr);
  Awaitable<Result<Reply>> eval(const RedisScript& script, std::vector<std::string> keys,
                                std::vector<std::string> args);

  /// A message published to a subscribed channel.
  using MessageHandler = std::function<void(const std::string& channel, const std::string& message)>;
  /// Opens a connection of its own, SUBSCRIBEs to `channels`, calls `on_subscribed` (optional) once
  /// the server confirmed them, then `on_message` for every message, until `cancel` fires (returns
  /// cancelled) or the connection fails (unavailable) or stays silent for `idle_timeout` (timeout;
  /// a silent connection may be a dead one: reconnect). Handlers run on the connection's strand
  /// and must not block. Messages published while no subscription is open are lost (pub/sub).
  Awaitable<Result<void>> subscribe(std::vector<std::string> channels, MessageHandler on_message,
                                    std::shared_ptr<CancelToken> cancel, std::function<void()> on_subscribed = {},
                                    std::chrono::milliseconds idle_timeout = std::chrono::minutes(5));

  const RedisOptions& options() const;
  /// Connections opened since construction (for tests and metrics).
  std::uint64_t connections_opened() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace svckit::redis
