#include "redis/redis_connection.hpp"

#include <hiredis/hiredis.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <cstdlib>

namespace svckit::redis::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

Result<Reply> convert(const redisReply& raw) {
  Reply out;
  switch (raw.type) {
    case REDIS_REPLY_STRING:
      out.kind = Reply::Kind::string;
      out.text.assign(raw.str, raw.len);
      return out;
    case REDIS_REPLY_STATUS:
      out.kind = Reply::Kind::status;
      out.text.assign(raw.str, raw.len);
      return out;
    case REDIS_REPLY_INTEGER:
      out.kind = Reply::Kind::integer;
      out.integer = raw.integer;
      return out;
    case REDIS_REPLY_NIL:
      return out;
    case REDIS_REPLY_ARRAY:
      out.kind = Reply::Kind::array;
      out.elements.reserve(raw.elements);
      for (std::size_t i = 0; i < raw.elements; ++i) {
        auto element = convert(*raw.element[i]);
        if (!element) return element.error();  // an error nested in MULTI/EXEC answers
        out.elements.push_back(std::move(*element));
      }
      return out;
    case REDIS_REPLY_ERROR:
      return error_from_reply(std::string(raw.str, raw.len));
    default:
      return make_error(ErrorCode::protocol, "redis: unknown reply type " + std::to_string(raw.type));
  }
}

}  // namespace

Error error_from_reply(const std::string& message) {
  const auto starts = [&](std::string_view prefix) { return message.rfind(prefix, 0) == 0; };
  const auto rest = [&](std::string_view prefix) { return message.substr(prefix.size()); };
  if (starts("NOT_FOUND ")) return make_error(ErrorCode::not_found, rest("NOT_FOUND "));
  if (starts("LIMIT ")) return make_error(ErrorCode::limit_exceeded, rest("LIMIT "));
  if (starts("INVALID ")) return make_error(ErrorCode::invalid_argument, rest("INVALID "));
  if (starts("CONFLICT ")) return make_error(ErrorCode::unavailable, rest("CONFLICT "));
  if (starts("LOADING") || starts("READONLY") || starts("MASTERDOWN") || starts("BUSY")) {
    return make_error(ErrorCode::unavailable, "redis: " + message);
  }
  return make_error(ErrorCode::internal, "redis: " + message);
}

RedisConnection::RedisConnection(const asio::any_io_executor& executor)
    : strand_(asio::make_strand(executor)),
      socket_(strand_),
      deadline_(strand_),
      reader_(redisReaderCreate(), redisReaderFree) {}

RedisConnection::~RedisConnection() = default;

void RedisConnection::arm(std::chrono::milliseconds timeout) {
  armed_for_ = timeout;
  timed_out_ = false;
  deadline_.expires_after(timeout);
  deadline_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;  // re-armed or disarmed
    timed_out_ = true;
    boost::system::error_code ignored;
    socket_.close(ignored);
  });
}

Result<Reply> RedisConnection::io_failure(const std::string& what, const boost::system::error_code& ec) {
  broken_ = true;
  boost::system::error_code ignored;
  socket_.close(ignored);
  if (cancelled_) return make_error(ErrorCode::cancelled, "redis: cancelled");
  if (timed_out_) {
    return make_error(ErrorCode::timeout, "redis: no answer within " + std::to_string(armed_for_.count()) + "ms");
  }
  return make_error(ErrorCode::unavailable, "redis: " + what + ": " + ec.message());
}

Awaitable<void> RedisConnection::write_all(asio::const_buffer data, boost::system::error_code& ec) {
  if (tls_) {
    co_await asio::async_write(*tls_, data, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    co_await asio::async_write(socket_, data, asio::redirect_error(asio::use_awaitable, ec));
  }
}

Awaitable<std::size_t> RedisConnection::read_some(asio::mutable_buffer data, boost::system::error_code& ec) {
  if (tls_) co_return co_await tls_->async_read_some(data, asio::redirect_error(asio::use_awaitable, ec));
  co_return co_await socket_.async_read_some(data, asio::redirect_error(asio::use_awaitable, ec));
}

Awaitable<Result<void>> RedisConnection::open(const RedisOptions& options, std::shared_ptr<asio::ssl::context> tls) {
  arm(options.connect_timeout);
  boost::system::error_code ec;
  tcp::resolver resolver(strand_);
  const auto endpoints = co_await resolver.async_resolve(options.server.host, std::to_string(options.server.port),
                                                         asio::redirect_error(asio::use_awaitable, ec));
  if (!ec) co_await asio::async_connect(socket_, endpoints, asio::redirect_error(asio::use_awaitable, ec));
  deadline_.cancel();
  if (ec) {
    auto failed = io_failure("connect to " + options.server.host + ":" + std::to_string(options.server.port), ec);
    co_return failed.error();
  }
  socket_.set_option(tcp::no_delay(true), ec);
  if (tls) {
    tls_context_ = std::move(tls);
    tls_ = std::make_unique<asio::ssl::stream<tcp::socket&>>(socket_, *tls_context_);
    const auto& host = options.server.host;
    if (SSL_set_tlsext_host_name(tls_->native_handle(), host.c_str()) != 1) {  // SNI
      broken_ = true;
      co_return make_error(ErrorCode::unavailable, "redis: TLS: cannot set the server name " + host);
    }
    tls_->set_verify_callback(asio::ssl::host_name_verification(host));
    arm(options.connect_timeout);
    co_await tls_->async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    deadline_.cancel();
    if (ec) {
      auto failed = io_failure("TLS handshake with " + host + ":" + std::to_string(options.server.port), ec);
      co_return failed.error();
    }
  }
  open_ = true;
  if (!options.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!options.username.empty()) auth.push_back(options.username);
    auth.push_back(options.password);
    auto authed = co_await round_trip(auth, options.command_timeout);
    if (!authed) {
      broken_ = true;
      co_return make_error(authed.error().code == ErrorCode::internal ? ErrorCode::unavailable : authed.error().code,
                           "redis: AUTH failed: " + authed.error().message);
    }
  }
  if (options.database != 0) {
    const std::vector<std::string> select{"SELECT", std::to_string(options.database)};
    auto selected = co_await round_trip(select, options.command_timeout);
    if (!selected) {
      broken_ = true;
      co_return make_error(ErrorCode::invalid_argument,
                           "redis: SELECT " + std::to_string(options.database) + " failed: " + selected.error().message,
                           "database");
    }
  }
  co_return Result<void>{};
}

Awaitable<Result<Reply>> RedisConnection::round_trip(const std::vector<std::string>& args,
                                                     std::chrono::milliseconds timeout,
                                                     const std::shared_ptr<CancelToken>& cancel) {
  std::vector<const char*> argv;
  std::vector<std::size_t> lengths;
  argv.reserve(args.size());
  lengths.reserve(args.size());
  for (const auto& a : args) {
    argv.push_back(a.data());
    lengths.push_back(a.size());
  }
  char* formatted = nullptr;
  const int size = redisFormatCommandArgv(&formatted, static_cast<int>(argv.size()), argv.data(), lengths.data());
  if (size < 0) co_return make_error(ErrorCode::internal, "redis: cannot format the command");
  const std::unique_ptr<char, void (*)(void*)> owned(formatted, std::free);
  co_return co_await exchange(std::string_view(formatted, static_cast<std::size_t>(size)), timeout, cancel);
}

Awaitable<Result<Reply>> RedisConnection::next_reply(std::chrono::milliseconds timeout,
                                                     const std::shared_ptr<CancelToken>& cancel) {
  co_return co_await exchange(std::string_view(), timeout, cancel);
}

Awaitable<Result<Reply>> RedisConnection::exchange(std::string_view request, std::chrono::milliseconds timeout,
                                                   const std::shared_ptr<CancelToken>& cancel) {
  // The hook may fire after this round trip ended (and the connection went back to the pool):
  // it then finds another generation and leaves the socket alone.
  const auto generation = ++generation_;
  if (cancel && !cancel->set_hook([weak = weak_from_this(), strand = strand_, generation] {
        asio::post(strand, [weak, generation] {
          const auto self = weak.lock();
          if (!self || self->generation_ != generation || !self->in_flight_) return;
          self->cancelled_ = true;
          boost::system::error_code ignored;
          self->socket_.close(ignored);
        });
      })) {
    co_return make_error(ErrorCode::cancelled, "redis: cancelled");
  }
  struct InFlight {
    RedisConnection& connection;
    const std::shared_ptr<CancelToken>& token;
    ~InFlight() {
      connection.in_flight_ = false;
      if (token) token->clear_hook();
    }
  } in_flight{*this, cancel};
  in_flight_ = true;

  arm(timeout);
  boost::system::error_code ec;
  if (!request.empty()) {
    co_await write_all(asio::buffer(request.data(), request.size()), ec);
    if (ec) co_return io_failure("write", ec);
  }
  std::vector<char> buffer(std::size_t{16} * 1024);
  for (;;) {
    void* raw = nullptr;
    if (redisReaderGetReply(reader_.get(), &raw) != REDIS_OK) {
      broken_ = true;
      co_return make_error(ErrorCode::protocol, std::string("redis: unparseable reply: ") + reader_->errstr);
    }
    if (raw != nullptr) {
      deadline_.cancel();
      const std::unique_ptr<redisReply, void (*)(void*)> reply(static_cast<redisReply*>(raw), freeReplyObject);
      co_return convert(*reply);
    }
    const auto n = co_await read_some(asio::buffer(buffer.data(), buffer.size()), ec);
    if (ec) co_return io_failure("read", ec);
    redisReaderFeed(reader_.get(), buffer.data(), n);
  }
}

}  // namespace svckit::redis::detail
