// A stub resolver for service discovery: asks the configured name servers for SRV, A and AAAA
// records over UDP (EDNS0, 1232 bytes), again over TCP when an answer is truncated. Each query
// uses its own socket (a fresh source port) and a random id; answers whose id, source or question
// do not match are ignored, as RFC 5452 asks.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "svckit/core/random.hpp"
#include "svckit/dns/dns_message.hpp"
#include "svckit/net/backend_url.hpp"

namespace svckit::dns {

struct ResolverOptions {
  std::vector<net::HostPort> servers;       // IP addresses; tried in order. REQUIRES: not empty
  std::chrono::milliseconds timeout{2000};  // per server and attempt
  std::size_t attempts = 2;                 // rounds over all servers
};

/// Thread-safe when `random` is: query() may run from many coroutines at once, each exchange on a
/// strand of its own. `random` must outlive the resolver.
class Resolver {
 public:
  Resolver(boost::asio::any_io_executor executor, Random& random, ResolverOptions options);

  /// Asks each server in turn, `attempts` rounds, until one gives a usable answer: NOERROR (maybe
  /// with no records) or NXDOMAIN, returned as decoded (the caller reads `rcode`). SERVFAIL,
  /// REFUSED, a timeout or an unreachable server move on to the next; when none answers, the error
  /// is `timeout` if the last try timed out, else `unavailable`, with the last failure's reason.
  boost::asio::awaitable<Result<Message>> query(std::string name, RecordType type);

  const ResolverOptions& options() const { return options_; }

 private:
  boost::asio::any_io_executor executor_;
  Random& random_;
  ResolverOptions options_;
};

/// The `nameserver` addresses of resolv.conf text (port 53), in order; comments and other lines
/// are skipped.
std::vector<net::HostPort> nameservers_from_resolv_conf(std::string_view text);

}  // namespace svckit::dns
