// run_until_signal: the main loop of a service process. Runs an io_context until SIGTERM or SIGINT
// (what Kubernetes, systemd and Ctrl-C send), then shuts the parts down in the order that loses no
// request:
//   1. discovery: maintenance -> wait `drain` (callers stop picking this instance; requests that
//      arrive meanwhile are still served) -> deregister -> stop the heartbeat and watch loops;
//   2. the HTTP server: stop accepting, close idle keep-alive connections, let requests in flight
//      finish (bounded by `server_grace`);
//   3. the ServiceClient: wait for its calls in flight (bounded by `client_drain`), close the pool;
//   4. stop the io_context.
// A second signal during the shutdown skips the waiting and stops at once.
// Every part is optional (nullptr: that step is skipped). Threading: runs the io_context on the
// calling thread (one thread: DiscoveryClient needs a single-threaded executor or a strand); other
// threads may run it too.
#pragma once

#include <chrono>

#include <boost/asio/io_context.hpp>

namespace svckit {

class DiscoveryClient;
class ServiceClient;
namespace http {
class HttpServer;
}

struct ShutdownPlan {
  DiscoveryClient* discovery = nullptr;
  std::chrono::milliseconds drain{5'000};  // Default: 5s in maintenance before deregistering.
  http::HttpServer* server = nullptr;
  std::chrono::milliseconds server_grace{10'000};  // Default: 10s for requests in flight.
  ServiceClient* client = nullptr;
  std::chrono::milliseconds client_drain{5'000};  // Default: 5s for calls in flight.
};

/// Returns the signal that started the shutdown (SIGTERM or SIGINT), or 0 when the io_context ran
/// out of work or was stopped by someone else first.
int run_until_signal(boost::asio::io_context& io, ShutdownPlan plan);

}  // namespace svckit
