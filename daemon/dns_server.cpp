#include "daemon/dns_server.hpp"

#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <functional>
#include <vector>

#include "svckit/core/log.hpp"
#include "svckit/dns/dns_message.hpp"

namespace svckit::daemon {

namespace asio = boost::asio;
using dns::Rcode;
using dns::Record;
using dns::RecordType;

namespace {

constexpr std::size_t kUdpPlainLimit = 512;  // RFC 1035 without EDNS0
constexpr std::size_t kUdpMostLimit = 4096;  // what we honour of an EDNS0 offer
constexpr std::size_t kTcpLimit = 65535;     // a TCP message's 16-bit length
constexpr std::uint16_t kTypeAny = 255;

/// "7f000001" for 127.0.0.1, 32 hex digits for an IPv6 address; empty when `host` is not an IP.
std::string hex_address(const std::string& host, bool& v6) {
  unsigned char bytes[16];
  std::size_t n = 0;
  if (inet_pton(AF_INET, host.c_str(), bytes) == 1) {
    n = 4;
    v6 = false;
  } else if (inet_pton(AF_INET6, host.c_str(), bytes) == 1) {
    n = 16;
    v6 = true;
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < n; ++i) {
    out += kHex[bytes[i] >> 4];
    out += kHex[bytes[i] & 0xf];
  }
  return out;
}

/// The address a "<hex>.addr" label names, in text form; empty when it names none.
std::string address_of_hex(std::string_view hex, bool& v6) {
  if (hex.size() != 8 && hex.size() != 32) return {};
  unsigned char bytes[16];
  for (std::size_t i = 0; i < hex.size() / 2; ++i) {
    unsigned value = 0;
    for (std::size_t j = 0; j < 2; ++j) {
      const char c = hex[2 * i + j];
      value <<= 4;
      if (c >= '0' && c <= '9') {
        value |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        value |= static_cast<unsigned>(c - 'a' + 10);
      } else {
        return {};
      }
    }
    bytes[i] = static_cast<unsigned char>(value);
  }
  v6 = hex.size() == 32;
  char text[INET6_ADDRSTRLEN] = {};
  if (inet_ntop(v6 ? AF_INET6 : AF_INET, bytes, text, sizeof text) == nullptr) return {};
  return text;
}

std::vector<std::string_view> labels_of(std::string_view name) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (start <= name.size()) {
    const auto dot = std::min(name.find('.', start), name.size());
    out.push_back(name.substr(start, dot - start));
    start = dot + 1;
  }
  return out;
}

}  // namespace

DnsServer::DnsServer(asio::io_context& io, const MemoryRegistry& registry, DnsOptions options, MetricsRegistry& metrics,
                     const TimeSource& time)
    : io_(io),
      registry_(registry),
      options_(std::move(options)),
      suffix_("." + options_.domain),
      strand_(asio::make_strand(io)),
      udp_(io),
      tcp_(io),
      queries_udp_(metrics.counter("svckit_dns_queries_udp_total", "DNS queries answered over UDP.").get()),
      queries_tcp_(metrics.counter("svckit_dns_queries_tcp_total", "DNS queries answered over TCP.").get()),
      truncated_(
          metrics.counter("svckit_dns_truncated_total", "DNS answers cut to the UDP size and flagged TC.").get()),
      malformed_(metrics.counter("svckit_dns_malformed_total", "DNS queries answered FORMERR or dropped.").get()),
      rate_limited_(metrics
                        .counter("svckit_dns_rate_limited_total",
                                 "UDP queries over dns.rate_limit for their source: answered truncated or dropped.")
                        .get()),
      udp_limiter_(PeerRateLimits{options_.udp_rate_limit, 0, 10'000}, time) {}

DnsServer::~DnsServer() {
  stopped_ = true;
  close_sockets();  // the io_context no longer runs the loops (svckitd destroys this after run())
}

Result<void> DnsServer::start() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(options_.address, ec);
  if (ec) return make_error(ErrorCode::invalid_argument, "not an IP address: " + options_.address, "dns.address");
  // UDP first, then TCP on the port UDP got. With port 0 another process may hold that TCP port:
  // pick again (a few times) rather than fail.
  for (int attempt = 0;; ++attempt) {
    const asio::ip::udp::endpoint udp_at(address, options_.port);
    udp_.open(udp_at.protocol(), ec);
    if (!ec) udp_.bind(udp_at, ec);
    if (ec) {
      boost::system::error_code ignored;
      udp_.close(ignored);
      return make_error(
          ErrorCode::invalid_argument,
          "cannot bind UDP " + options_.address + ":" + std::to_string(options_.port) + ": " + ec.message(),
          "dns.port");
    }
    port_ = udp_.local_endpoint().port();
    const asio::ip::tcp::endpoint tcp_at(address, port_);
    tcp_.open(tcp_at.protocol(), ec);
    if (!ec) tcp_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) tcp_.bind(tcp_at, ec);
    if (!ec) tcp_.listen(asio::socket_base::max_listen_connections, ec);
    if (!ec) break;
    close_sockets();
    if (options_.port != 0 || attempt >= 20) {
      return make_error(ErrorCode::invalid_argument,
                        "cannot bind TCP " + options_.address + ":" + std::to_string(port_) + ": " + ec.message(),
                        "dns.port");
    }
  }
  asio::co_spawn(strand_, serve_udp(), asio::detached);
  asio::co_spawn(strand_, accept_tcp(), asio::detached);
  logs::info("dns", "event=dns_listening address={} port={} domain={}", options_.address, port_, options_.domain);
  return {};
}

void DnsServer::stop() {
  if (stopped_.exchange(true)) return;
  // On the strand the UDP and accept loops run on: a socket is not to be closed while another
  // thread starts an operation on it.
  asio::post(strand_, [this] { close_sockets(); });
}

void DnsServer::close_sockets() {
  boost::system::error_code ignored;
  udp_.close(ignored);
  tcp_.close(ignored);
}

std::string DnsServer::answer(std::string_view bytes, std::size_t limit, bool udp) const {
  auto query = dns::decode_message(bytes);
  if (!query) {
    malformed_.inc();
    if (bytes.size() < 2) return {};
    dns::Message bare;  // FORMERR to the id, with no question (we could not read it)
    bare.id =
        static_cast<std::uint16_t>(static_cast<unsigned char>(bytes[0]) << 8 | static_cast<unsigned char>(bytes[1]));
    return dns::encode_response(bare, static_cast<std::uint8_t>(Rcode::format_error), {}, {}, {}, limit);
  }
  if (query->response) {  // never answer an answer (reflection loops)
    malformed_.inc();
    return {};
  }
  if (udp && query->edns_payload != 0) {
    limit = std::clamp<std::size_t>(query->edns_payload, kUdpPlainLimit, kUdpMostLimit);
  }
  const auto reply = [&](Rcode rcode, const std::vector<Record>& an, const std::vector<Record>& ns,
                         const std::vector<Record>& ar) {
    auto out = dns::encode_response(*query, static_cast<std::uint8_t>(rcode), an, ns, ar, limit);
    if (out.size() > 3 && (static_cast<unsigned char>(out[2]) & 0x02) != 0) truncated_.inc();
    return out;
  };
  if (query->opcode != 0) return reply(Rcode::not_implemented, {}, {}, {});
  if (query->question_name.empty() && query->question_type == 0) {
    malformed_.inc();
    return reply(Rcode::format_error, {}, {}, {});
  }
  const auto ttl = static_cast<std::uint32_t>(options_.ttl.count());
  Record soa;
  soa.name = options_.domain;
  soa.type = static_cast<std::uint16_t>(RecordType::soa);
  soa.ttl = static_cast<std::uint32_t>(options_.negative_ttl.count());
  soa.target = "ns." + options_.domain;
  soa.negative_ttl = soa.ttl;
  const std::string& name = query->question_name;  // lower case, no trailing dot
  if (name != options_.domain && !name.ends_with(suffix_)) return reply(Rcode::refused, {}, {}, {});
  if (name == options_.domain) return reply(Rcode::no_error, {}, {soa}, {});
  const auto labels = labels_of(std::string_view(name).substr(0, name.size() - suffix_.size()));
  const auto type = query->question_type;
  const bool wants_a = type == static_cast<std::uint16_t>(RecordType::a) || type == kTypeAny;
  const bool wants_aaaa = type == static_cast<std::uint16_t>(RecordType::aaaa) || type == kTypeAny;
  const bool wants_srv = type == static_cast<std::uint16_t>(RecordType::srv) || type == kTypeAny;

  // <hex>.addr.<domain>
  if (labels.size() == 2 && labels[1] == "addr") {
    bool v6 = false;
    const auto address = address_of_hex(labels[0], v6);
    if (address.empty()) return reply(Rcode::name_error, {}, {soa}, {});
    if ((v6 && !wants_aaaa) || (!v6 && !wants_a)) return reply(Rcode::no_error, {}, {soa}, {});
    Record r;
    r.name = name;
    r.type = static_cast<std::uint16_t>(v6 ? RecordType::aaaa : RecordType::a);
    r.ttl = ttl;
    r.address = address;
    return reply(Rcode::no_error, {r}, {}, {});
  }
  // [<tag>.]<service>.service.<domain> and _<service>._<tag>.service.<domain>
  if (labels.size() < 2 || labels.size() > 3 || labels.back() != "service")
    return reply(Rcode::name_error, {}, {soa}, {});
  std::string service;
  std::string tag;
  if (labels.size() == 2) {
    service = std::string(labels[0]);
  } else if (labels[0].starts_with('_') && labels[1].starts_with('_')) {
    service = std::string(labels[0].substr(1));
    tag = std::string(labels[1].substr(1));
    if (tag == "tcp" || tag == "udp") tag.clear();
  } else {
    tag = std::string(labels[0]);
    service = std::string(labels[1]);
  }
  if (service.empty()) return reply(Rcode::name_error, {}, {soa}, {});
  std::vector<Record> answers;
  std::vector<Record> additional;
  bool known = false;
  registry_.for_each(service, InstanceFilter{}, [&](const ServiceInstance& in, const std::string&) {
    known = true;
    if (in.status != InstanceStatus::healthy || in.weight == 0) return;  // weight 0: no traffic
    if (!tag.empty() && !in.has_tag(tag)) return;
    bool v6 = false;
    const auto hex = hex_address(in.host, v6);
    Record address;
    address.type = static_cast<std::uint16_t>(v6 ? RecordType::aaaa : RecordType::a);
    address.ttl = ttl;
    address.address = in.host;
    if (wants_srv) {
      Record srv;
      srv.name = name;
      srv.type = static_cast<std::uint16_t>(RecordType::srv);
      srv.ttl = ttl;
      srv.priority = 1;
      srv.weight = static_cast<std::uint16_t>(in.weight);
      srv.port = static_cast<std::uint16_t>(in.port);
      srv.target = hex.empty() ? in.host : hex + ".addr" + suffix_;
      answers.push_back(srv);
      if (!hex.empty()) {
        address.name = srv.target;
        additional.push_back(address);
      }
    }
    if (!hex.empty() && ((v6 && wants_aaaa) || (!v6 && wants_a))) {
      address.name = name;
      answers.push_back(address);
    }
  });
  if (!known) return reply(Rcode::name_error, {}, {soa}, {});
  if (answers.empty()) return reply(Rcode::no_error, {}, {soa}, {});
  return reply(Rcode::no_error, answers, {}, additional);
}

std::string DnsServer::slip_answer(std::string_view bytes) const {
  auto query = dns::decode_message(bytes);
  if (!query || query->response) return {};
  // The question only, flagged truncated: never larger than the query (no OPT record added).
  query->edns_payload = 0;
  auto out = dns::encode_response(*query, 0, {}, {}, {}, bytes.size());
  if (out.size() > 3 && out.size() <= bytes.size()) {
    out[2] = static_cast<char>(static_cast<unsigned char>(out[2]) | 0x02);
    return out;
  }
  return {};
}

http::Awaitable<void> DnsServer::serve_udp() {
  std::array<char, 4096> buffer{};
  asio::ip::udp::endpoint peer;
  while (!stopped_) {
    boost::system::error_code ec;
    const auto n =
        co_await udp_.async_receive_from(asio::buffer(buffer), peer, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopped_ || ec == asio::error::operation_aborted) break;
      continue;  // e.g. an ICMP error from an earlier answer's peer
    }
    queries_udp_.inc();
    const std::string_view query(buffer.data(), n);
    std::string out;
    if (udp_limiter_.enabled() && udp_limiter_.admit(peer.address().to_string())) {
      rate_limited_.inc();
      if (++slipped_ % 2 != 0) continue;  // dropped
      out = slip_answer(query);
    } else {
      out = answer(query, kUdpPlainLimit, true);
    }
    if (out.empty()) continue;
    (void)co_await udp_.async_send_to(asio::buffer(out), peer, asio::redirect_error(asio::use_awaitable, ec));
  }
}

http::Awaitable<void> DnsServer::accept_tcp() {
  while (!stopped_) {
    boost::system::error_code ec;
    auto socket = co_await tcp_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      if (stopped_ || ec == asio::error::operation_aborted) break;
      continue;
    }
    if (tcp_connections_.load() >= options_.max_tcp_connections) continue;  // dropped: closes it
    asio::co_spawn(io_, serve_tcp(std::move(socket)), asio::detached);
  }
}

http::Awaitable<void> DnsServer::serve_tcp(asio::ip::tcp::socket socket) {
  ++tcp_connections_;
  struct Leave {
    std::atomic<std::size_t>& n;
    ~Leave() { --n; }
  } leave{tcp_connections_};
  // An idle or slow client is cut after tcp_idle_timeout (RFC 7766 asks servers to time out).
  asio::steady_timer idle(socket.get_executor());
  std::function<void()> arm = [&] {
    idle.expires_after(options_.tcp_idle_timeout);
    idle.async_wait([&socket](boost::system::error_code ec) {
      if (!ec) {
        boost::system::error_code ignored;
        socket.close(ignored);
      }
    });
  };
  std::string message;
  boost::system::error_code ec;
  while (!stopped_) {
    arm();
    std::array<unsigned char, 2> length{};
    (void)co_await asio::async_read(socket, asio::buffer(length), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    message.resize(static_cast<std::size_t>(length[0]) << 8 | length[1]);
    (void)co_await asio::async_read(socket, asio::buffer(message), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
    queries_tcp_.inc();
    auto out = answer(message, kTcpLimit, false);
    if (out.empty()) continue;
    const std::array<unsigned char, 2> out_length{static_cast<unsigned char>(out.size() >> 8),
                                                  static_cast<unsigned char>(out.size() & 0xff)};
    const std::array<asio::const_buffer, 2> parts{asio::buffer(out_length), asio::buffer(out)};
    (void)co_await asio::async_write(socket, parts, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) break;
  }
  idle.cancel();
  boost::system::error_code ignored;
  socket.close(ignored);
}

}  // namespace svckit::daemon
