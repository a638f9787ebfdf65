#include "svckit/http/client.hpp"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

namespace svckit::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct HttpClient::CachedAddress {
  tcp::resolver::results_type results;
  Clock::time_point expires;
};

struct HttpClient::Connection {
  explicit Connection(const asio::any_io_executor& ex) : stream(ex) {
    // Beast reads at most (capacity - size) bytes per call: a small buffer turns a 3 MB answer
    // into thousands of 512-byte reads.
    buffer.reserve(64 * 1024);
  }
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
  std::size_t requests = 0;
  Clock::time_point idle_since{};
};

namespace {

std::string pool_key(const HostPort& ep) { return ep.host + ":" + std::to_string(ep.port); }

Error from_asio(const boost::system::error_code& ec, const HostPort& ep, bool cancelled) {
  const auto where = " (" + pool_key(ep) + ")";
  if (cancelled) return make_error(ErrorCode::cancelled, "request cancelled" + where);
  if (ec == beast::error::timeout) return make_error(ErrorCode::timeout, "request timed out" + where);
  if (ec == beast_http::error::body_limit) {
    return make_error(ErrorCode::payload_too_large, "response body over the configured limit" + where);
  }
  if (ec.category() == beast_http::make_error_code(beast_http::error::bad_target).category() &&
      ec != beast_http::error::end_of_stream && ec != beast_http::error::partial_message) {
    return make_error(ErrorCode::protocol, "malformed HTTP response: " + ec.message() + where);
  }
  return make_error(ErrorCode::unavailable, ec.message() + where);
}

bool peer_closed(const boost::system::error_code& ec) {
  return ec == beast_http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == beast_http::error::partial_message;
}

}  // namespace

HttpClient::HttpClient(asio::any_io_executor executor, ClientOptions options)
    : executor_(std::move(executor)), options_(options) {}

HttpClient::~HttpClient() = default;

std::shared_ptr<HttpClient::Connection> HttpClient::take_idle(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = idle_.find(key);
  if (it == idle_.end()) return nullptr;
  const auto now = Clock::now();
  while (!it->second.empty()) {
    auto c = std::move(it->second.back());
    it->second.pop_back();
    if (now - c->idle_since < options_.idle_timeout && c->stream.socket().is_open()) return c;
  }
  return nullptr;
}

void HttpClient::give_back(const std::string& key, std::shared_ptr<Connection> connection) {
  if (options_.max_requests_per_connection != 0 && connection->requests >= options_.max_requests_per_connection) return;
  connection->idle_since = Clock::now();
  std::lock_guard lock(mutex_);
  auto& pool = idle_[key];
  if (pool.size() < options_.max_idle_per_endpoint) pool.push_back(std::move(connection));
}

void HttpClient::close_idle() {
  std::lock_guard lock(mutex_);
  idle_.clear();
  dns_.clear();
}

ClientStats HttpClient::stats() const {
  std::uint64_t idle = 0;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, list] : idle_) idle += list.size();
  }
  return ClientStats{requests_.load(),      opened_.load(), reused_.load(),
                     stale_retries_.load(), idle,           dns_lookups_.load()};
}

Awaitable<Result<Response>> HttpClient::send(HostPort endpoint, Request request, std::chrono::milliseconds timeout,
                                             std::shared_ptr<CancelToken> cancel) {
  ++requests_;
  const auto deadline = Clock::now() + timeout;
  const auto key = pool_key(endpoint);
  request.set(beast_http::field::host, key);
  request.keep_alive(true);
  request.prepare_payload();

  for (int attempt = 0; attempt < 2; ++attempt) {
    auto connection = attempt == 0 ? take_idle(key) : nullptr;
    const bool reused = connection != nullptr;
    boost::system::error_code ec;
    if (!reused) {
      connection = std::make_shared<Connection>(executor_);
      std::shared_ptr<const CachedAddress> cached;
      {
        std::lock_guard lock(mutex_);
        auto it = dns_.find(key);
        if (it != dns_.end() && Clock::now() < it->second->expires) cached = it->second;
      }
      tcp::resolver::results_type results;
      if (cached) {
        results = cached->results;
      } else {
        tcp::resolver resolver(executor_);
        ++dns_lookups_;
        results = co_await resolver.async_resolve(endpoint.host, std::to_string(endpoint.port),
                                                  asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return make_error(ErrorCode::unavailable, "cannot resolve " + endpoint.host + ": " + ec.message());
        if (options_.dns_ttl.count() > 0) {
          auto entry = std::make_shared<const CachedAddress>(CachedAddress{results, Clock::now() + options_.dns_ttl});
          std::lock_guard lock(mutex_);
          dns_[key] = std::move(entry);
        }
      }
      const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      connection->stream.expires_after(std::min(remaining, options_.connect_timeout));
      co_await connection->stream.async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
      if (ec) {
        if (ec == beast::error::timeout) co_return make_error(ErrorCode::timeout, "connect to " + key + " timed out");
        co_return make_error(ErrorCode::unavailable, "cannot connect to " + key + ": " + ec.message());
      }
      connection->stream.socket().set_option(tcp::no_delay(true), ec);
      ++opened_;
    } else {
      ++reused_;
    }
    if (cancel) {
      std::weak_ptr<Connection> weak = connection;
      const bool hooked = cancel->set_hook([weak] {
        if (auto c = weak.lock()) asio::post(c->stream.get_executor(), [c] { c->stream.cancel(); });
      });
      if (!hooked) co_return make_error(ErrorCode::cancelled, "request cancelled");
    }
    struct ClearHook {
      CancelToken* token;
      ~ClearHook() {
        if (token != nullptr) token->clear_hook();
      }
    } clear_hook{cancel.get()};

    connection->stream.expires_at(deadline);
    co_await beast_http::async_write(connection->stream, request, asio::redirect_error(asio::use_awaitable, ec));
    beast_http::response_parser<beast_http::string_body> parser;
    parser.body_limit(options_.max_response_bytes);
    if (!ec) {
      co_await beast_http::async_read(connection->stream, connection->buffer, parser,
                                      asio::redirect_error(asio::use_awaitable, ec));
    }
    if (ec) {
      const bool cancelled = cancel && cancel->cancelled();
      if (reused && !cancelled && peer_closed(ec) && !parser.got_some() && Clock::now() < deadline) {
        ++stale_retries_;
        continue;  // the server closed an idle connection just before we used it
      }
      co_return from_asio(ec, endpoint, cancelled);
    }
    ++connection->requests;
    Response response = parser.release();
    if (response.body().size() > options_.max_response_bytes) {
      // Beast 1.74 does not apply body_limit in eager mode when header and body arrive in one read.
      co_return make_error(ErrorCode::payload_too_large, "response body over the configured limit (" + key + ")");
    }
    if (response.keep_alive()) give_back(key, std::move(connection));
    co_return response;
  }
  co_return make_error(ErrorCode::unavailable, "connection to " + key + " closed twice in a row");
}

}  // namespace svckit::http
