// svckit ping: where the time of one HTTP request goes — name resolution, TCP connect, TLS
// handshake, time to the answer's head, whole answer — for a URL, or for each instance of a
// service (its health path). Each ping is a new connection (nothing pooled), like curl -w.
#include <utility>  // before Asio 1.74 awaitable.hpp

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <iostream>
#include <sstream>

#include "cli/command_runner.hpp"
#include "cli/debug_commands.hpp"
#include "cli/output.hpp"
#include "svckit/core/duration.hpp"
#include "svckit/http/types.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::cli {

namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using asio::ip::tcp;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

struct Target {
  std::string label;  // what the row is called (the URL, or the instance id)
  std::string host;
  std::uint16_t port = 0;
  bool tls = false;
  std::string path;
};

/// One ping's stages in milliseconds from its start; a stage not reached stays unset.
struct Timings {
  std::optional<double> dns, connect, tls, first_byte, total;
  int status = 0;
  std::size_t bytes = 0;
  std::string error;  // "<stage>: <message>"
};

Result<Target> parse_url(const std::string& url) {
  const bool tls = url.starts_with("https://");
  if (!tls && !url.starts_with("http://")) {
    return make_error(ErrorCode::invalid_argument, "a URL is http://host[:port]/path or https://...", "target");
  }
  const auto rest = url.substr(tls ? 8 : 7);
  const auto slash = rest.find('/');
  auto parsed = net::parse_backend_url("scheme://" + rest.substr(0, slash), tls ? 443 : 80);
  if (!parsed) return parsed.error();
  if (parsed->hosts.size() != 1) return make_error(ErrorCode::invalid_argument, "the URL has no host", "target");
  return Target{url, parsed->hosts.front().host, parsed->hosts.front().port, tls,
                slash == std::string::npos ? std::string("/") : rest.substr(slash)};
}

double since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

/// The stages of one request; a timer closes the socket when `timeout` runs out.
http::Awaitable<Timings> ping_once(Target target, std::chrono::milliseconds timeout, asio::ssl::context& tls_context) {
  Timings t;
  auto executor = co_await asio::this_coro::executor;
  const auto start = Clock::now();
  tcp::resolver resolver(executor);
  beast::ssl_stream<tcp::socket> stream(executor, tls_context);
  asio::steady_timer deadline(executor);
  deadline.expires_after(timeout);
  bool timed_out = false;
  deadline.async_wait([&](const boost::system::error_code& ec) {
    if (ec) return;
    timed_out = true;
    resolver.cancel();
    boost::system::error_code ignored;
    stream.next_layer().close(ignored);
  });
  const auto fail = [&](std::string stage, const boost::system::error_code& ec) {
    t.error = stage + ": " + (timed_out ? "timed out after " + std::to_string(timeout.count()) + " ms" : ec.message());
  };
  boost::system::error_code ec;
  const auto port = std::to_string(target.port);
  auto endpoints = co_await resolver.async_resolve(target.host, port, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    fail("dns", ec);
    co_return t;
  }
  t.dns = since(start);
  co_await asio::async_connect(stream.next_layer(), endpoints, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) {
    fail("connect", ec);
    co_return t;
  }
  t.connect = since(start);
  beast::flat_buffer buffer;
  beast::http::response_parser<beast::http::string_body> parser;
  parser.body_limit(64U << 20);
  http::Request request{http::Verb::get, target.path, 11};
  request.set(beast::http::field::host, target.host + ":" + port);
  request.set(beast::http::field::user_agent, "svckit-ping");
  request.set(beast::http::field::connection, "close");
  if (target.tls) {
    SSL_set_tlsext_host_name(stream.native_handle(), target.host.c_str());
    stream.set_verify_callback(asio::ssl::host_name_verification(target.host));
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      fail("tls", ec);
      co_return t;
    }
    t.tls = since(start);
    co_await beast::http::async_write(stream, request, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec)
      co_await beast::http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) t.first_byte = since(start);
    if (!ec) co_await beast::http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  } else {
    auto& socket = stream.next_layer();
    co_await beast::http::async_write(socket, request, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec)
      co_await beast::http::async_read_header(socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) t.first_byte = since(start);
    if (!ec) co_await beast::http::async_read(socket, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
  }
  if (ec) {
    fail(t.first_byte ? "body" : "http", ec);
    co_return t;
  }
  t.total = since(start);
  t.status = parser.get().result_int();
  t.bytes = parser.get().body().size();
  deadline.cancel();
  boost::system::error_code ignored;
  stream.next_layer().close(ignored);
  co_return t;
}

std::string ms_cell(const std::optional<double>& v) {
  if (!v) return "-";
  std::ostringstream out;
  out.precision(2);
  out << std::fixed << *v;
  return out.str();
}

json ms_or_null(const std::optional<double>& v) { return v ? json(*v) : json(nullptr); }

/// The instances of a service as ping targets (their health path, else /).
http::Awaitable<Result<std::vector<Target>>> service_targets(std::string registry_url, std::string service,
                                                             asio::any_io_executor executor) {
  RealTimeSource time;
  RealRandom random;
  auto registry = open_registry(registry_url, executor, time, random);
  if (!registry) co_return registry.error();
  InstanceFilter all;
  auto listed = co_await (*registry)->list(service, std::move(all));
  if (!listed) co_return listed.error();
  if (listed->empty()) co_return make_error(ErrorCode::not_found, "no instances of " + service, "target");
  std::vector<Target> out;
  for (const auto& in : *listed) {
    out.push_back(Target{in.id + " (" + std::string(to_string(in.status)) + ")", in.host,
                         static_cast<std::uint16_t>(in.port), in.scheme == "https",
                         in.health_check_path.empty() ? std::string("/") : in.health_check_path});
  }
  co_return out;
}

}  // namespace

int run_ping(const CommonOptions& common, const PingCommand& c) {
  auto timeout = parse_duration(c.timeout, "timeout");
  if (!timeout) return report(timeout.error());
  if (timeout->count() <= 0)
    return report(make_error(ErrorCode::invalid_argument, "timeout must be above 0", "timeout"));
  if (c.count < 1 || c.count > 1000)
    return report(make_error(ErrorCode::invalid_argument, "count must be 1..1000", "count"));
  const bool is_url = c.target.find("://") != std::string::npos;
  if (!is_url) {
    if (auto v = validate_service_name(c.target, "target"); !v) return report(v.error());
  }
  asio::ssl::context tls_context(asio::ssl::context::tls_client);
  tls_context.set_default_verify_paths();
  tls_context.set_verify_mode(asio::ssl::verify_peer);

  asio::io_context io;
  return run_to_exit(io, [&]() -> http::Awaitable<int> {
    std::vector<Target> targets;
    if (is_url) {
      auto t = parse_url(c.target);
      if (!t) co_return report(t.error());
      targets.push_back(std::move(*t));
    } else {
      auto listed = co_await service_targets(common.registry, c.target, io.get_executor());
      if (!listed) co_return report(listed.error());
      targets = std::move(*listed);
    }
    json rows = json::array();
    std::vector<std::vector<std::string>> table{
        {"TARGET", "STATUS", "DNS MS", "CONNECT MS", "TLS MS", "FIRST BYTE MS", "TOTAL MS", "BYTES"}};
    bool all_answered = true;
    for (const auto& target : targets) {
      for (int i = 0; i < c.count; ++i) {
        const auto t = co_await ping_once(target, *timeout, tls_context);
        all_answered = all_answered && t.error.empty();
        rows.push_back({{"target", target.label},
                        {"url", std::string(target.tls ? "https://" : "http://") + target.host + ":" +
                                    std::to_string(target.port) + target.path},
                        {"status", t.status},
                        {"dns_ms", ms_or_null(t.dns)},
                        {"connect_ms", ms_or_null(t.connect)},
                        {"tls_ms", ms_or_null(t.tls)},
                        {"first_byte_ms", ms_or_null(t.first_byte)},
                        {"total_ms", ms_or_null(t.total)},
                        {"bytes", t.bytes}});
        if (!t.error.empty()) rows.back()["error"] = t.error;
        table.push_back({target.label, t.error.empty() ? std::to_string(t.status) : t.error, ms_cell(t.dns),
                         ms_cell(t.connect), target.tls ? ms_cell(t.tls) : "-", ms_cell(t.first_byte), ms_cell(t.total),
                         t.error.empty() ? std::to_string(t.bytes) : "-"});
      }
    }
    if (common.json) {
      std::cout << rows.dump() << "\n";
    } else {
      print_table(std::cout, table);
    }
    co_return all_answered ? 0 : 4;
  }());
}

}  // namespace svckit::cli
