// One Redis connection: a socket on its own strand, a hiredis reader, and a deadline timer that
// closes the socket when a round trip takes too long. Used by one command at a time (RedisClient's
// pool guarantees it); every operation must run on strand().
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <memory>

#include "svckit/redis/redis_client.hpp"

struct redisReader;

namespace svckit::redis::detail {

class RedisConnection : public std::enable_shared_from_this<RedisConnection> {
 public:
  using Strand = boost::asio::strand<boost::asio::any_io_executor>;

  explicit RedisConnection(const boost::asio::any_io_executor& executor);
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  const Strand& strand() const { return strand_; }
  bool is_open() const { return open_; }
  /// True once an I/O error, timeout or cancellation left the connection in an unknown state.
  bool broken() const { return broken_; }

  /// Connects (and with `tls`, completes a TLS handshake checking the server's name), then AUTH
  /// and SELECT as the options say.
  Awaitable<Result<void>> open(const RedisOptions& options, std::shared_ptr<boost::asio::ssl::context> tls = nullptr);
  /// Sends one command and reads its reply within `timeout`. `cancel` (optional) closes the socket.
  Awaitable<Result<Reply>> round_trip(const std::vector<std::string>& args, std::chrono::milliseconds timeout,
                                      const std::shared_ptr<CancelToken>& cancel = nullptr);
  /// Reads the next reply without sending anything (pub/sub messages after SUBSCRIBE).
  Awaitable<Result<Reply>> next_reply(std::chrono::milliseconds timeout,
                                      const std::shared_ptr<CancelToken>& cancel = nullptr);

 private:
  /// Writes `request` (formatted RESP; empty: nothing) and reads one reply.
  Awaitable<Result<Reply>> exchange(std::string_view request, std::chrono::milliseconds timeout,
                                    const std::shared_ptr<CancelToken>& cancel);
  Result<Reply> io_failure(const std::string& what, const boost::system::error_code& ec);
  void arm(std::chrono::milliseconds timeout);
  Awaitable<void> write_all(boost::asio::const_buffer data, boost::system::error_code& ec);
  Awaitable<std::size_t> read_some(boost::asio::mutable_buffer data, boost::system::error_code& ec);

  Strand strand_;
  boost::asio::ip::tcp::socket socket_;
  std::shared_ptr<boost::asio::ssl::context> tls_context_;                        // kept alive while tls_ uses it
  std::unique_ptr<boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>> tls_;  // over socket_, when TLS
  boost::asio::steady_timer deadline_;
  std::unique_ptr<redisReader, void (*)(redisReader*)> reader_;
  std::chrono::milliseconds armed_for_{0};
  bool open_ = false;
  bool broken_ = false;
  bool timed_out_ = false;
  bool cancelled_ = false;
  bool in_flight_ = false;
  std::uint64_t generation_ = 0;
};

/// Maps a Redis error reply ("ERR ...", "NOT_FOUND ...", "NOSCRIPT ...") to an Error.
Error error_from_reply(const std::string& message);

}  // namespace svckit::redis::detail
