#include "svckit/dns/dns_resolver.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <memory>
#include <sstream>

namespace svckit::dns {
namespace {

namespace asio = boost::asio;
using udp = asio::ip::udp;
using tcp = asio::ip::tcp;

/// A deadline for the operations on one socket: when it passes, the socket is cancelled (the
/// operation in progress fails with operation_aborted) and `expired` says why. The socket and the
/// flag are shared with the timer's handler, which may run after the exchange is over.
template <class Socket>
struct Guarded {
  Guarded(const asio::any_io_executor& strand, std::chrono::milliseconds timeout)
      : socket(std::make_shared<Socket>(strand)), expired(std::make_shared<bool>(false)), timer(strand, timeout) {
    timer.async_wait([socket = socket, expired = expired](const boost::system::error_code& ec) {
      if (ec) return;
      *expired = true;
      boost::system::error_code ignored;
      socket->cancel(ignored);
    });
  }
  ~Guarded() { timer.cancel(); }

  Error failure(const std::string& server, const boost::system::error_code& ec) const {
    if (*expired) return make_error(ErrorCode::timeout, "DNS server " + server + " did not answer in time");
    return make_error(ErrorCode::unavailable, "DNS server " + server + ": " + ec.message());
  }

  std::shared_ptr<Socket> socket;
  std::shared_ptr<bool> expired;
  asio::steady_timer timer;
};

/// True when `m` answers `query` (RFC 5452: id and question must match).
bool answers(const Message& m, std::uint16_t id, const std::string& name, RecordType type) {
  return m.response && m.id == id && m.question_name == name && m.question_type == static_cast<std::uint16_t>(type);
}

std::string lower_name(std::string name) {
  if (!name.empty() && name.back() == '.') name.pop_back();
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

/// One query over UDP on the current (strand) executor. Stray datagrams are dropped.
asio::awaitable<Result<Message>> exchange_udp(udp::endpoint server, std::string query, std::uint16_t id,
                                              std::string name, RecordType type, std::chrono::milliseconds timeout) {
  const auto where = server.address().to_string() + ":" + std::to_string(server.port());
  const auto strand = co_await asio::this_coro::executor;
  Guarded<udp::socket> g(strand, timeout);
  boost::system::error_code ec;
  g.socket->open(server.protocol(), ec);
  if (!ec) g.socket->connect(server, ec);  // connected: the kernel drops datagrams from elsewhere
  if (ec) co_return g.failure(where, ec);
  co_await g.socket->async_send(asio::buffer(query), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return g.failure(where, ec);
  std::string buffer(65535, '\0');
  for (;;) {
    const auto n =
        co_await g.socket->async_receive(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return g.failure(where, ec);  // ECONNREFUSED: nothing listens there
    auto message = decode_message(std::string_view(buffer.data(), n));
    if (message && answers(*message, id, name, type)) co_return message;
  }
}

/// One query over TCP (two-byte length prefix, RFC 1035 4.2.2), for answers too large for UDP.
asio::awaitable<Result<Message>> exchange_tcp(tcp::endpoint server, std::string query, std::uint16_t id,
                                              std::string name, RecordType type, std::chrono::milliseconds timeout) {
  const auto where = server.address().to_string() + ":" + std::to_string(server.port()) + " (tcp)";
  const auto strand = co_await asio::this_coro::executor;
  Guarded<tcp::socket> g(strand, timeout);
  boost::system::error_code ec;
  co_await g.socket->async_connect(server, asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return g.failure(where, ec);
  std::string framed;
  framed.push_back(static_cast<char>(query.size() >> 8));
  framed.push_back(static_cast<char>(query.size() & 0xff));
  framed += query;
  co_await asio::async_write(*g.socket, asio::buffer(framed), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return g.failure(where, ec);
  unsigned char length[2];
  co_await asio::async_read(*g.socket, asio::buffer(length), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return g.failure(where, ec);
  std::string buffer(std::size_t{length[0]} << 8 | length[1], '\0');
  co_await asio::async_read(*g.socket, asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return g.failure(where, ec);
  auto message = decode_message(buffer);
  if (!message) co_return message.error();
  if (!answers(*message, id, name, type)) {
    co_return make_error(ErrorCode::protocol, "DNS server " + where + " answered another question");
  }
  co_return message;
}

}  // namespace

Resolver::Resolver(asio::any_io_executor executor, Random& random, ResolverOptions options)
    : executor_(std::move(executor)), random_(random), options_(std::move(options)) {}

asio::awaitable<Result<Message>> Resolver::query(std::string name, RecordType type) {
  name = lower_name(std::move(name));
  if (auto valid = validate_name(name, "name"); !valid) co_return valid.error();
  Error last = make_error(ErrorCode::unavailable, "no DNS server is configured");
  for (std::size_t round = 0; round < options_.attempts; ++round) {
    for (const auto& server : options_.servers) {
      boost::system::error_code ec;
      const auto address = asio::ip::make_address(server.host, ec);
      if (ec) {
        last =
            make_error(ErrorCode::invalid_argument, "DNS server '" + server.host + "' is not an IP address", "server");
        continue;
      }
      const auto id = static_cast<std::uint16_t>(random_.next_u64());
      const auto query = encode_query(id, name, type);
      auto strand = asio::make_strand(executor_);
      auto answer = co_await asio::co_spawn(
          strand, exchange_udp(udp::endpoint(address, server.port), query, id, name, type, options_.timeout),
          asio::use_awaitable);
      if (answer && answer->truncated) {
        answer = co_await asio::co_spawn(
            strand, exchange_tcp(tcp::endpoint(address, server.port), query, id, name, type, options_.timeout),
            asio::use_awaitable);
      }
      if (!answer) {
        last = answer.error();
        continue;
      }
      const auto rcode = static_cast<Rcode>(answer->rcode);
      if (rcode == Rcode::no_error || rcode == Rcode::name_error) co_return answer;
      last = make_error(ErrorCode::unavailable, "DNS server " + server.host + ":" + std::to_string(server.port) +
                                                    " answered " + rcode_name(answer->rcode) + " for " + name);
    }
  }
  co_return last;
}

std::vector<net::HostPort> nameservers_from_resolv_conf(std::string_view text) {
  std::vector<net::HostPort> out;
  std::istringstream lines{std::string(text)};
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::string keyword, address;
    if (!(words >> keyword >> address) || keyword != "nameserver") continue;
    boost::system::error_code ec;
    asio::ip::make_address(address, ec);  // "fe80::1%eth0" (link-local with its interface) is kept
    if (!ec) out.push_back({address, 53, false});
  }
  return out;
}

}  // namespace svckit::dns
