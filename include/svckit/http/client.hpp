// HttpClient: HTTP/1.1 requests over pooled keep-alive connections (one pool per host:port).
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "svckit/core/cancel_token.hpp"
#include "svckit/core/sleeper.hpp"
#include "svckit/core/wait_list.hpp"
#include "svckit/http/transport.hpp"

namespace svckit::http {

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{2'000};  // Default: 2s.
  std::size_t max_idle_per_endpoint = 32;            // Default: 32 idle connections kept per host:port.
  /// Default: 1024 (Envoy's max_connections); 0 = unlimited. Open connections (busy + idle) per
  /// host:port; a request over it waits for one to come free, within its timeout.
  std::size_t max_connections_per_endpoint = 1024;
  /// Default: 1024 (Envoy's max_pending_requests). Requests waiting for a connection per
  /// host:port; one more fails at once with limit_exceeded.
  std::size_t max_pending_per_endpoint = 1024;
  std::chrono::milliseconds idle_timeout{30'000};  // Default: 30s; older idle connections are closed.
  std::size_t max_requests_per_connection = 0;     // Default: 0 = unlimited.
  std::size_t max_response_bytes = 64 << 20;       // Default: 64 MiB; larger bodies fail with payload_too_large.
  std::chrono::milliseconds dns_ttl{30'000};       // Default: 30s; resolved addresses are reused this long.
  /// TLS (endpoints with tls = true): CA certificates to trust, PEM. Default: the system's.
  std::string ca_file;
  /// A client certificate chain and its key, PEM, for servers that ask for one (mutual TLS, e.g.
  /// etcd with --client-cert-auth). Both or neither.
  std::string cert_file;
  std::string key_file;
  /// Default: true. Verify the peer's certificate chain and that it names the host. Turn off only
  /// for local experiments.
  bool verify_peer = true;
};

/// Options that trust and present the files of a backend URL's TLS settings (backend_url_tls).
ClientOptions client_options_for(const net::TlsFiles& tls);

/// Thread-safety: send() may be called concurrently; each endpoint's pool is locked briefly. Connections are
/// bound to the client's executor: call send() from coroutines running on it (or a strand of it).
/// The client must outlive every send() it started.
class HttpClient final : public Transport {
 public:
  HttpClient(boost::asio::any_io_executor executor, ClientOptions options = {});
  ~HttpClient() override;
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  /// Sends `request` (Host, Content-Length and keep-alive are filled in) and reads the response
  /// within `timeout` (connect and TLS handshake included). Errors: timeout, unavailable
  /// (connect/reset/TLS handshake or certificate refused), cancelled, payload_too_large, protocol,
  /// invalid_argument (an unreadable ca_file), limit_exceeded (max_pending_per_endpoint requests
  /// already wait for a connection). A reused connection that the server had closed is retried
  /// once. Waiting for a free connection counts against `timeout`.
  Awaitable<Result<Response>> send(net::HostPort endpoint, Request request, std::chrono::milliseconds timeout,
                                   std::shared_ptr<CancelToken> cancel = nullptr) override;

  using Transport::send_streaming;
  /// Streams bodies of any size through a 64 KiB buffer (max_response_bytes does not apply to
  /// them), each way. A reset mid-body fails the call; a reused connection found closed before any
  /// byte of the answer arrived is retried once, as in send(), unless the request body source was
  /// already pulled.
  Awaitable<Result<Response>> send_streaming(net::HostPort endpoint, Request request, std::chrono::milliseconds timeout,
                                             std::shared_ptr<CancelToken> cancel, Streaming streaming) override;

  /// Without a copy: `request` is sent as it is (Host, Content-Length and keep-alive filled in).
  Awaitable<Result<Response>> send_in_place(net::HostPort endpoint, Request& request, std::chrono::milliseconds timeout,
                                            std::shared_ptr<CancelToken> cancel, const Streaming* streaming) override;

  /// Closes every idle pooled connection.
  void close_idle() override;
  ClientStats stats() const override;

 private:
  struct Connection;
  struct Endpoint;
  struct Slot;
  std::shared_ptr<Endpoint> endpoint_for(const std::string& key);
  /// Without waiting: an idle connection (reused) or the right to open one; an error when
  /// max_pending_per_endpoint requests already wait; nullopt with `ticket` parked when the endpoint
  /// is at max_connections_per_endpoint. Stale idle connections go to `stale`, for the caller to
  /// destroy (never under the endpoint's lock).
  std::optional<Result<Slot>> take_slot(Endpoint& endpoint, bool allow_idle, std::optional<WaitList::Ticket>& ticket,
                                        std::vector<std::shared_ptr<Connection>>& stale);
  /// After take_slot parked `ticket`: waits for a connection within the deadline, then takes it.
  Awaitable<Result<Slot>> acquire(std::shared_ptr<Endpoint> endpoint, bool allow_idle,
                                  std::chrono::steady_clock::time_point deadline, WaitList::Ticket ticket);
  void give_back(Endpoint& endpoint, std::shared_ptr<Connection> connection);
  Awaitable<Result<Response>> exchange(net::HostPort endpoint, Request& request, std::chrono::milliseconds timeout,
                                       std::shared_ptr<CancelToken> cancel, const Streaming* streaming);

  const std::uint64_t id_;  // process-unique: keys the per-thread endpoint caches
  boost::asio::any_io_executor executor_;
  ClientOptions options_;
  mutable std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Endpoint>> endpoints_;  // guarded by mutex_
  struct CachedAddress;
  struct Tls;
  std::shared_ptr<Tls> tls_context(Error& error);                    // created on first use
  std::shared_ptr<Tls> tls_;                                         // guarded by mutex_
  std::map<std::string, std::shared_ptr<const CachedAddress>> dns_;  // guarded by mutex_
  std::atomic<std::uint64_t> requests_{0}, opened_{0}, reused_{0}, stale_retries_{0}, dns_lookups_{0}, pool_waits_{0};
  AsioSleeper sleeper_;  // waits for a free connection (deadlines are steady_clock time points)
};

}  // namespace svckit::http
