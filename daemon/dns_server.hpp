// DnsServer: svckitd's registry answered over DNS, as Consul's agent answers on port 8600 — for
// tools that only speak DNS (Prometheus dns_sd_configs, nginx's resolver, any language's resolver,
// svckit's own dns+srv://). Names under `domain` (default "svckit"):
//
//   <service>.service.<domain>              SRV: one record per healthy instance (port, weight);
//                                           A / AAAA: the healthy instances' addresses
//   <tag>.<service>.service.<domain>        the same, only instances carrying the tag
//   _<service>._<tag>.service.<domain>      RFC 2782 form (`_tcp` and `_udp` mean: no tag)
//   <hex address>.addr.<domain>             A / AAAA: the address an SRV target names (an
//                                           instance whose host is an IP gets such a target; its
//                                           address rides along in the additional section)
//
// Only healthy instances are answered. An unknown service is NXDOMAIN, a known one with no healthy
// instance an empty NOERROR, both with an SOA whose MINIMUM is `negative_ttl` (RFC 2308). Answers
// are authoritative and never recursive (other names: REFUSED). Over UDP an answer is cut to 512
// bytes, or the size the query's EDNS0 record offers (at most 4096), and flagged TC when cut; over
// TCP up to 64 KiB. A malformed query gets FORMERR (when it has an id to answer to), an opcode
// other than QUERY NOTIMP; a query that is a response is dropped.
//
// Thread-safety: answer() from any thread (it reads the registry under its lock); start() and
// stop() from the composition root; destroy it only once the io_context no longer runs it.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/strand.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "daemon/peer_rate_limiter.hpp"
#include "svckit/core/metrics.hpp"
#include "svckit/http/types.hpp"
#include "svckit/registry/memory_registry.hpp"

namespace svckit::daemon {

struct DnsOptions {
  std::string address = "127.0.0.1";
  std::uint16_t port = 8600;  // 0: any free port (UDP's, then TCP on the same)
  std::string domain = "svckit";
  std::chrono::seconds ttl{5};           // of the records answered
  std::chrono::seconds negative_ttl{5};  // how long a resolver may cache "no such name / no records"
  std::size_t max_tcp_connections = 256;
  /// UDP answers per second per source address (0: no limit). UDP sources can be forged, and an
  /// answer is larger than its query: without a limit svckitd would amplify a flood at the forged
  /// address. Over the limit every second query gets an empty truncated answer (TC: a real resolver
  /// retries over TCP, which a forged source cannot) no larger than the query, the others none —
  /// BIND's response rate limiting with "slip 2". TCP is not limited (it cannot be forged).
  double udp_rate_limit = 500;
  std::chrono::milliseconds tcp_idle_timeout{10'000};
};

class DnsServer {
 public:
  /// `registry` and `io` must outlive the server.
  DnsServer(boost::asio::io_context& io, const MemoryRegistry& registry, DnsOptions options, MetricsRegistry& metrics,
            const TimeSource& time);
  ~DnsServer();

  /// Binds UDP and TCP. Errors name dns.port (in use, no permission) or dns.address.
  Result<void> start();
  /// Closes both sockets (on the loops' strand, soon after); queries in flight end.
  void stop();
  std::uint16_t port() const { return port_; }

  /// The answer to one query: the bytes to send back (empty: send nothing). `limit`: the most
  /// bytes the transport may carry (512 for plain UDP; the query's EDNS size is honoured on top).
  std::string answer(std::string_view query, std::size_t limit, bool udp) const;
  /// A rate-limited UDP query's answer: its question, no records, TC set, no larger than the query
  /// (empty when it cannot be read).
  std::string slip_answer(std::string_view bytes) const;

 private:
  http::Awaitable<void> serve_udp();
  http::Awaitable<void> accept_tcp();
  http::Awaitable<void> serve_tcp(boost::asio::ip::tcp::socket socket);
  void close_sockets();

  boost::asio::io_context& io_;
  const MemoryRegistry& registry_;
  const DnsOptions options_;
  const std::string suffix_;                                            // "." + domain
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;  // the UDP and accept loops
  boost::asio::ip::udp::socket udp_;
  boost::asio::ip::tcp::acceptor tcp_;
  std::uint16_t port_ = 0;
  std::atomic<std::size_t> tcp_connections_{0};
  std::atomic<bool> stopped_{false};
  Counter& queries_udp_;
  Counter& queries_tcp_;
  Counter& truncated_;
  Counter& malformed_;
  Counter& rate_limited_;
  PeerRateLimiter udp_limiter_;  // per source address
  std::uint64_t slipped_ = 0;    // rate-limited UDP queries so far; only touched on strand_
};

}  // namespace svckit::daemon
