#include <strings.h>
#include <array>
#include <optional>
#include <type_traits>
#include <vector>

#include <spdlog/spdlog.h>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include <array>
#include "http/body_reader.hpp"
#include "http/plain_head.hpp"

#include "http/server_connection.hpp"
#include "http/wire.hpp"
#include "svckit/core/log.hpp"
#include "svckit/http/upgraded_stream.hpp"

namespace svckit::http::detail {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;

namespace {

constexpr std::size_t kPiece = std::size_t{64} * 1024;

bool bodiless(Status status) {
  const auto code = static_cast<unsigned>(status);
  return code / 100 == 1 || code == 204 || code == 304;
}

Error write_failed(const boost::system::error_code& ec) {
  return make_error(ErrorCode::unavailable, "cannot write to the client: " + ec.message(), "response");
}

/// The connection after an upgrade: `Stream` is the socket or the TLS stream over it.
template <class Stream>
class Upgraded final : public UpgradedStream {
 public:
  explicit Upgraded(Stream& stream) : stream_(stream) {}
  Awaitable<std::size_t> read_some(asio::mutable_buffer into, boost::system::error_code& ec) override {
    co_return co_await stream_.async_read_some(into, asio::redirect_error(asio::use_awaitable, ec));
  }
  Awaitable<void> write(asio::const_buffer data, boost::system::error_code& ec) override {
    co_await asio::async_write(stream_, data, asio::redirect_error(asio::use_awaitable, ec));
  }
  Awaitable<void> shutdown_send() override {
    boost::system::error_code ignored;
    if constexpr (!std::is_same_v<Stream, tcp::socket>) {
      // close_notify, so the client sees a clean end, not a truncated stream. The client's own
      // close_notify is not waited for (the other direction's read may be in flight): marked as
      // received, SSL_shutdown completes once ours is written.
      SSL* ssl = stream_.native_handle();
      SSL_set_shutdown(ssl, SSL_get_shutdown(ssl) | SSL_RECEIVED_SHUTDOWN);
      co_await stream_.async_shutdown(asio::redirect_error(asio::use_awaitable, ignored));
    }
    beast::get_lowest_layer(stream_).shutdown(tcp::socket::shutdown_send, ignored);
  }
  void abort() override {
    boost::system::error_code ignored;
    beast::get_lowest_layer(stream_).shutdown(tcp::socket::shutdown_both, ignored);
  }

 private:
  Stream& stream_;
};

/// One request and its answer. The request is either a plain head without a body that the fast
/// path parsed (`plain` set, `head` its head; plain_head.hpp) or whatever Beast's `parser` read
/// (then `head` is the parser's, and the body is read through it).
template <class Stream>
class Exchange final : public ServerExchange {
 public:
  Exchange(Stream& stream, ServerConnection& c, beast::flat_buffer& buffer, const RequestContext& context,
           const StreamingServerState& server, beast_http::request_parser<beast_http::buffer_body>& parser,
           const PlainHead* plain, const RequestHead& head)
      : stream_(stream),
        c_(c),
        buffer_(buffer),
        context_(context),
        server_(server),
        parser_(parser),
        plain_(plain),
        head_(head) {}

  const RequestHead& head() const override { return head_; }
  std::optional<std::uint64_t> content_length() const override {
    if (plain_ != nullptr) return plain_->content_length;
    const auto n = parser_.content_length();
    return n ? std::optional<std::uint64_t>(*n) : std::nullopt;
  }
  bool chunked() const override { return plain_ == nullptr && parser_.chunked(); }
  const RequestContext& context() const override { return context_; }
  bool head_sent() const override { return answer_ != Answer::none; }

  Awaitable<Result<std::string_view>> read_body() override {
    if (piece_.empty()) {  // the first read
      piece_.resize(kPiece);
      if (answer_ == Answer::none && !body_done() && expects_continue()) {
        // The client waits for this before it sends the body (RFC 9110 10.1.1).
        static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
        boost::system::error_code ec;
        c_.arm(server_.options.read_timeout);
        co_await asio::async_write(stream_, asio::buffer(kContinue.data(), kContinue.size()),
                                   asio::redirect_error(asio::use_awaitable, ec));
        c_.watchdog->disarm();
        if (ec) {
          broken_ = true;
          co_return write_failed(ec);
        }
      }
    }
    while (!body_done()) {
      parser_.get().body().data = piece_.data();
      parser_.get().body().size = piece_.size();
      boost::system::error_code ec;
      c_.arm(server_.options.read_timeout);
      // read_some: hand over what arrived instead of waiting for a full 64 KiB piece.
      ec = co_await read_body_some(stream_, buffer_, parser_);
      c_.watchdog->disarm();
      if (ec) {
        broken_ = true;
        if (ec.category() == beast_http::make_error_code(beast_http::error::bad_chunk).category() &&
            ec != beast_http::error::end_of_stream && ec != beast_http::error::partial_message) {
          // The client's framing is wrong (a bad chunk size, a bare LF): its fault, a 400.
          co_return make_error(ErrorCode::invalid_argument, "malformed request body: " + ec.message(), "body");
        }
        co_return make_error(ErrorCode::unavailable, "reading the request body failed: " + ec.message(), "body");
      }
      const std::size_t n = piece_.size() - parser_.get().body().size;
      body_read_ += n;
      if (body_read_ > server_.options.max_body_bytes) {
        broken_ = true;
        co_return make_error(ErrorCode::payload_too_large,
                             "request body is larger than " + std::to_string(server_.options.max_body_bytes) + " bytes",
                             "body");
      }
      if (n > 0) co_return std::string_view(piece_.data(), n);
    }
    co_return std::string_view{};
  }

  Awaitable<Result<void>> respond(Response response) override {
    if (answer_ != Answer::none) co_return make_error(ErrorCode::internal, "an answer was already started", "response");
    answer_ = Answer::done;
    response.version(head_.version());
    if (response.result() != Status::switching_protocols)
      detail::set_keep_alive(response, keep_alive());  // 101 keeps Upgrade
    if (head_.method() == Verb::head) {
      // The head of the answer a GET would get: a Content-Length already there (a relayed answer)
      // stays; the body is never sent.
      if (!response.has_content_length() && !response.chunked()) response.prepare_payload();
      response.body().clear();
    } else {
      detail::prepare_payload(response);
    }
    boost::system::error_code ec;
    c_.arm(server_.options.read_timeout);
    if (!response.chunked()) {  // one contiguous write (wire.hpp)
      const auto rest = detail::to_wire(c_.wire, response);
      const std::array<asio::const_buffer, 2> pieces{asio::buffer(c_.wire), asio::buffer(rest.data(), rest.size())};
      co_await asio::async_write(stream_, pieces, asio::redirect_error(asio::use_awaitable, ec));
      detail::keep_wire_small(c_.wire);
    } else {  // Beast frames the chunks
      beast_http::response_serializer<beast_http::string_body> serializer{response};
      co_await beast_http::async_write(stream_, serializer, asio::redirect_error(asio::use_awaitable, ec));
    }
    c_.watchdog->disarm();
    if (ec) {
      broken_ = true;
      co_return write_failed(ec);
    }
    co_return Result<void>{};
  }

  Awaitable<Result<void>> write_head(Response head) override {
    if (answer_ != Answer::none) co_return make_error(ErrorCode::internal, "an answer was already started", "response");
    const bool no_body = head_.method() == Verb::head || bodiless(head.result());
    answer_ = no_body ? Answer::done : Answer::streaming;
    out_.emplace(std::move(head.base()));
    out_->version(head_.version());
    out_->keep_alive(keep_alive());
    if (!no_body && !out_->has_content_length()) out_->chunked(true);
    out_->body().data = nullptr;
    out_->body().more = !no_body;
    serializer_.emplace(*out_);
    boost::system::error_code ec;
    c_.arm(server_.options.read_timeout);
    co_await beast_http::async_write_header(stream_, *serializer_, asio::redirect_error(asio::use_awaitable, ec));
    c_.watchdog->disarm();
    if (ec) {
      broken_ = true;
      co_return write_failed(ec);
    }
    co_return Result<void>{};
  }

  Awaitable<Result<void>> write_body(std::string_view piece) override {
    if (answer_ != Answer::streaming) co_return make_error(ErrorCode::internal, "no streamed answer open", "response");
    if (piece.empty()) co_return Result<void>{};
    co_return co_await write_piece(piece, true);
  }

  Awaitable<Result<void>> finish() override {
    if (answer_ != Answer::streaming) co_return Result<void>{};
    auto written = co_await write_piece({}, false);
    answer_ = Answer::done;
    co_return written;
  }

  UpgradedStream& take_stream(std::string& already_read) override {
    upgraded_ = true;
    c_.watchdog->stop();
    const auto data = buffer_.data();
    already_read.assign(static_cast<const char*>(data.data()), data.size());
    buffer_.consume(buffer_.size());
    if (!upgraded_stream_) upgraded_stream_.emplace(stream_);
    return *upgraded_stream_;
  }

  /// The connection can serve another request.
  bool reusable() const { return !broken_ && !upgraded_ && answer_ == Answer::done && body_done() && keep_alive(); }

 private:
  enum class Answer { none, streaming, done };

  bool expects_continue() const {
    const auto expect = head_[beast_http::field::expect];
    return expect.size() == 12 && strncasecmp(expect.data(), "100-continue", 12) == 0;
  }

  /// The request's body is read to its end (a plain request has none).
  bool body_done() const { return plain_ != nullptr || parser_.is_done(); }

  /// Only a request read to its end leaves the connection fit for the next one.
  bool keep_alive() const {
    const bool asked = plain_ != nullptr ? plain_->keep_alive : parser_.keep_alive();
    return asked && !server_.shutting_down && !broken_ && !upgraded_ && body_done();
  }

  Awaitable<Result<void>> write_piece(std::string_view piece, bool more) {
    out_->body().data = piece.empty() ? nullptr : const_cast<char*>(piece.data());  // NOLINT: Beast's API
    out_->body().size = piece.size();
    out_->body().more = more;
    boost::system::error_code ec;
    c_.arm(server_.options.read_timeout);
    co_await beast_http::async_write(stream_, *serializer_, asio::redirect_error(asio::use_awaitable, ec));
    c_.watchdog->disarm();
    if (ec == beast_http::error::need_buffer) ec = {};
    if (ec) {
      broken_ = true;
      co_return write_failed(ec);
    }
    co_return Result<void>{};
  }

  Stream& stream_;
  ServerConnection& c_;
  beast::flat_buffer& buffer_;
  const RequestContext& context_;
  const StreamingServerState& server_;
  beast_http::request_parser<beast_http::buffer_body>& parser_;  // unused for a plain request
  const PlainHead* plain_;                                       // set for a plain request
  const RequestHead& head_;  // the plain one, or the parser's: read_body() fills only the body
  std::vector<char> piece_;
  std::uint64_t body_read_ = 0;
  Answer answer_ = Answer::none;
  bool broken_ = false;
  bool upgraded_ = false;
  std::optional<beast_http::response<beast_http::buffer_body>> out_;
  std::optional<beast_http::response_serializer<beast_http::buffer_body>> serializer_;
  std::optional<Upgraded<Stream>> upgraded_stream_;
};

template <class Stream>
Awaitable<void> serve_streaming_on(Stream& stream, ServerConnection& connection, beast::flat_buffer& buffer,
                                   const RequestContext& context, StreamingServerState server) {
  for (;;) {
    if (server.shutting_down) co_return;
    beast_http::request_parser<beast_http::buffer_body> parser;
    // Not boost::none (Beast 1.74 compares the optional); the Exchange counts the body itself.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    parser.header_limit(static_cast<std::uint32_t>(server.options.max_header_bytes));
    boost::system::error_code ec;
    if (buffer.size() == 0) {  // keep-alive silence: idle_timeout until the next request's first byte
      connection.idle = true;
      connection.arm(server.options.idle_timeout);
      ec = co_await detail::await_next_request(stream, buffer);
      connection.idle = false;
      if (ec || server.shutting_down) co_return;
    }
    connection.arm(server.options.read_timeout);
    // A plain request without a body is read whole and parsed in one pass (plain_head.hpp); any
    // other goes to Beast's parser, which reads the same bytes from the buffer.
    RequestHead plain_head;
    std::optional<PlainHead> plain;
    std::size_t scanned = 0;
    const auto head_limit = std::min(kMaxPlainHead, server.options.max_header_bytes);
    while (!request_head_read(buffer, head_limit, plain_head, plain, scanned)) {
      const auto n = co_await stream.async_read_some(buffer.prepare(beast::read_size(buffer, kHeadReadSize)),
                                                     asio::redirect_error(asio::use_awaitable, ec));
      buffer.commit(n);
      if (ec) {
        ec = head_read_failed(ec, buffer);
        break;
      }
    }
    if (plain) {
      buffer.consume(plain->head_bytes);
    } else if (!ec) {
      co_await beast_http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      if (auto answer = answer_unreadable(ec, server.options)) {
        co_await beast_http::async_write(stream, *answer, asio::redirect_error(asio::use_awaitable, ec));
      }
      co_return;
    }
    const RequestHead& head = plain ? plain_head : parser.get().base();
    if (auto refused = refuse_framing(head)) {
      co_await beast_http::async_write(stream, *refused, asio::redirect_error(asio::use_awaitable, ec));
      co_return;
    }
    connection.watchdog->disarm();  // the handler sets deadlines per read and write
    Exchange<Stream> exchange(stream, connection, buffer, context, server, parser, plain ? &*plain : nullptr, head);
    if (const auto length = exchange.content_length(); length && *length > server.options.max_body_bytes) {
      auto res = error_response(make_error(
          ErrorCode::payload_too_large,
          "request body is larger than " + std::to_string(server.options.max_body_bytes) + " bytes", "body"));
      (void)co_await exchange.respond(std::move(res));
      co_return;  // the body is unread: the connection closes
    }
    bool threw = false;
    try {
      co_await server.handler(exchange);
    } catch (const std::exception& e) {
      logs::error("http", "event=handler_threw method={} target=\"{}\" error=\"{}\" streaming=true",
                  std::string(exchange.head().method_string()), std::string(exchange.head().target()), e.what());
      threw = true;
    }
    if (threw) {  // no co_await inside a catch block
      if (!exchange.head_sent()) {
        (void)co_await exchange.respond(error_response(make_error(ErrorCode::internal, "internal error")));
      }
      co_return;
    }
    ++server.requests;
    if (!exchange.reusable()) co_return;
  }
}

}  // namespace

Awaitable<void> serve_streaming(ServerConnection& connection, beast::flat_buffer& buffer, const RequestContext& context,
                                StreamingServerState server) {
  co_await serve_streaming_on(connection.socket, connection, buffer, context, server);
}

Awaitable<void> serve_streaming(asio::ssl::stream<tcp::socket&>& tls, ServerConnection& connection,
                                beast::flat_buffer& buffer, const RequestContext& context,
                                StreamingServerState server) {
  co_await serve_streaming_on(tls, connection, buffer, context, server);
}

}  // namespace svckit::http::detail
