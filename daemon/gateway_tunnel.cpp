// The gateway's protocol-upgrade (WebSocket) pass-through: the handshake goes to an instance the
// ServiceClient picks; after its 101 the two TCP connections are spliced byte for byte.
#include <spdlog/spdlog.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "daemon/gateway.hpp"
#include "daemon/gateway_internal.hpp"
#include "daemon/proxy_headers.hpp"
#include "svckit/core/async_event.hpp"
#include "svckit/http/upgraded_stream.hpp"

namespace svckit::daemon {

namespace asio = boost::asio;
namespace beast_http = http::beast_http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

/// One spliced connection pair. Touched only on the client connection's strand.
struct Gateway::Tunnel : std::enable_shared_from_this<Tunnel> {
  explicit Tunnel(const asio::any_io_executor& ex) : executor(ex), upstream(ex), idle(ex) {}
  asio::any_io_executor executor;
  tcp::socket upstream;
  http::UpgradedStream* downstream = nullptr;  // the client's connection, valid while the handler runs
  asio::steady_timer idle;
  Clock::time_point last_activity = Clock::now();
  bool timed_out = false;
  bool finished = false;
  AsyncEvent inbound_done;  // the client -> upstream pump ended

  /// Ends both directions (timeout, shutdown). Any thread.
  void close() {
    asio::post(executor, [self = shared_from_this()] { self->close_here(); });
  }
  void close_here() {
    boost::system::error_code ec;
    upstream.shutdown(tcp::socket::shutdown_both, ec);
    upstream.close(ec);
    if (downstream != nullptr && !finished) downstream->abort();
  }
};

namespace {

// The two ends of a tunnel: the upstream's socket and the client's connection (plain or TLS).
http::Awaitable<std::size_t> tunnel_read(tcp::socket& from, asio::mutable_buffer into, boost::system::error_code& ec) {
  co_return co_await from.async_read_some(into, asio::redirect_error(asio::use_awaitable, ec));
}
http::Awaitable<std::size_t> tunnel_read(http::UpgradedStream& from, asio::mutable_buffer into,
                                         boost::system::error_code& ec) {
  co_return co_await from.read_some(into, ec);
}
http::Awaitable<void> tunnel_write(tcp::socket& to, asio::const_buffer data, boost::system::error_code& ec) {
  co_await asio::async_write(to, data, asio::redirect_error(asio::use_awaitable, ec));
}
http::Awaitable<void> tunnel_write(http::UpgradedStream& to, asio::const_buffer data, boost::system::error_code& ec) {
  co_await to.write(data, ec);
}
http::Awaitable<void> tunnel_half_close(tcp::socket& to) {
  boost::system::error_code ignored;
  to.shutdown(tcp::socket::shutdown_send, ignored);
  co_return;
}
http::Awaitable<void> tunnel_half_close(http::UpgradedStream& to) { co_await to.shutdown_send(); }

/// Copies bytes from `from` to `to` until `from` ends or a write fails, then half-closes `to`.
template <class From, class To>
http::Awaitable<void> pump(From& from, To& to, Clock::time_point& last_activity) {
  std::vector<char> buffer(std::size_t{16} * 1024);
  for (;;) {
    boost::system::error_code ec;
    const std::size_t n = co_await tunnel_read(from, asio::buffer(buffer), ec);
    if (ec) break;
    last_activity = Clock::now();
    co_await tunnel_write(to, asio::buffer(buffer.data(), n), ec);
    if (ec) break;
  }
  co_await tunnel_half_close(to);
}

/// Closes the tunnel after `limit` without a byte either way.
http::Awaitable<void> watch_idle(std::shared_ptr<Gateway::Tunnel> tunnel, std::chrono::milliseconds limit) {
  while (!tunnel->finished) {
    tunnel->idle.expires_at(tunnel->last_activity + limit);
    boost::system::error_code ec;
    co_await tunnel->idle.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (tunnel->finished) co_return;
    if (Clock::now() - tunnel->last_activity >= limit) {
      tunnel->close_here();
      co_return;
    }
  }
}

}  // namespace

http::Awaitable<void> Gateway::tunnel(http::ServerExchange& exchange, const RouteMatch& route, const AccessGrant& grant,
                                      Outcome& out) {
  const auto& head = exchange.head();
  const auto executor = co_await asio::this_coro::executor;  // the client connection's strand
  std::vector<std::string> tried;
  std::string failure = "no instance answered the upgrade";
  for (int attempt = 0; attempt < std::max(1, options_.max_attempts); ++attempt) {
    auto picked = client_->pick_endpoint(route.service, route.path, tried);
    if (!picked) {
      failure = picked.error().message;
      break;
    }
    out.instance = picked->instance;
    ++out.attempts;
    if (picked->endpoint.tls) {
      out.status = 502;
      (void)co_await exchange.respond(gateway_error(http::Status::bad_gateway, "bad_gateway",
                                                    "upgrades to https instances are not supported", route.service));
      co_return;
    }
    auto tunnel = std::make_shared<Tunnel>(executor);
    // Connect and handshake within one try's timeout.
    tunnel->idle.expires_after(std::min(options_.per_try_timeout, options_.timeout));
    tunnel->idle.async_wait([tunnel](const boost::system::error_code& ec) {
      if (ec) return;
      tunnel->timed_out = true;
      boost::system::error_code ignored;
      tunnel->upstream.close(ignored);
    });
    boost::system::error_code ec;
    tcp::resolver resolver(executor);
    const auto addresses = co_await resolver.async_resolve(picked->endpoint.host, std::to_string(picked->endpoint.port),
                                                           asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await asio::async_connect(tunnel->upstream, addresses, asio::redirect_error(asio::use_awaitable, ec));
    const auto& peer = exchange.context().remote_address;
    auto fields = upstream_fields(
        head, Forwarding{peer, route.stripped_prefix, true, trusted_peer(peer), options_.tls != nullptr});
    apply_grant(fields, grant);  // as for proxied requests: verified claims in, credentials out
    http::Request handshake{head.method(), picked->target, 11, std::string{}, std::move(fields)};
    handshake.set(beast_http::field::host, picked->endpoint.host + ":" + std::to_string(picked->endpoint.port));
    if (!ec)
      co_await beast_http::async_write(tunnel->upstream, handshake, asio::redirect_error(asio::use_awaitable, ec));
    boost::beast::flat_buffer upstream_buffer;
    beast_http::response_parser<beast_http::string_body> parser;
    parser.body_limit(options_.max_response_bytes);
    if (!ec) {
      co_await beast_http::async_read(tunnel->upstream, upstream_buffer, parser,
                                      asio::redirect_error(asio::use_awaitable, ec));
    }
    tunnel->idle.cancel();
    if (ec) {
      failure = route.service + " (" + picked->instance + "): " + (tunnel->timed_out ? "timed out" : ec.message());
      tried.push_back(picked->instance);
      continue;  // nothing reached the client yet: another instance may take it
    }
    auto response = parser.release();
    if (response.result() != http::Status::switching_protocols) {  // refused: its answer is passed on
      strip_hop_by_hop(response);
      out.status = response.result_int();
      (void)co_await exchange.respond(std::move(response));
      co_return;
    }
    strip_hop_by_hop(response, /*keep_upgrade=*/true);
    out.status = 101;
    if (!co_await exchange.respond(std::move(response))) co_return;

    std::string early;  // bytes the client sent right behind its handshake
    tunnel->downstream = &exchange.take_stream(early);
    {
      std::lock_guard lock(tunnels_mutex_);
      std::erase_if(open_tunnels_, [](const std::weak_ptr<Tunnel>& t) { return t.expired(); });
      open_tunnels_.push_back(tunnel);
    }
    if (shutting_down_) tunnel->close_here();
    tunnels_.inc();
    if (!early.empty()) {
      co_await asio::async_write(tunnel->upstream, asio::buffer(early), asio::redirect_error(asio::use_awaitable, ec));
    }
    if (upstream_buffer.size() > 0) {
      const auto pending = upstream_buffer.data();
      co_await tunnel->downstream->write(asio::const_buffer(pending.data(), pending.size()), ec);
    }
    tunnel->last_activity = Clock::now();
    asio::co_spawn(executor, watch_idle(tunnel, options_.tunnel_idle_timeout), asio::detached);
    asio::co_spawn(executor, pump(*tunnel->downstream, tunnel->upstream, tunnel->last_activity),
                   [tunnel](const std::exception_ptr&) { tunnel->inbound_done.set(); });
    co_await pump(tunnel->upstream, *tunnel->downstream, tunnel->last_activity);
    while (!tunnel->inbound_done.is_set()) (void)co_await tunnel->inbound_done.wait(std::chrono::hours(1));
    tunnel->finished = true;
    tunnel->idle.cancel();
    tunnel->close_here();
    co_return;
  }
  const auto status = tried.empty() ? http::Status::service_unavailable : http::Status::bad_gateway;
  out.status = static_cast<unsigned>(status);
  (void)co_await exchange.respond(
      gateway_error(status, tried.empty() ? "no_instances" : "bad_gateway", failure, route.service));
}

void Gateway::close_tunnels() {
  std::vector<std::shared_ptr<Tunnel>> open;
  {
    std::lock_guard lock(tunnels_mutex_);
    for (auto& weak : open_tunnels_) {
      if (auto t = weak.lock()) open.push_back(std::move(t));
    }
  }
  for (const auto& t : open) t->close();
}

}  // namespace svckit::daemon
