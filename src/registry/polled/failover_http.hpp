// FailoverHttp: one HTTP API served by several equal servers (Eureka peers, a Nacos cluster): each
// request goes to the server that answered last, and on a transport error or a 5xx answer to the
// next one, until every server was tried once.
//
// Thread-safety: send() may be called concurrently from coroutines on the executor given.
#pragma once

#include <utility>  // before Asio 1.74 awaitable.hpp

#include <atomic>
#include <memory>
#include <vector>

#include "svckit/http/client.hpp"
#include "svckit/net/backend_url.hpp"
#include "svckit/registry/registry.hpp"  // Awaitable

namespace svckit {

/// An answer of 300 or above as an error: http::error_from_response's code (and svckitd's JSON
/// error, field named, when the server is svckitd), prefixed with `what`; a plain-text body (a
/// Eureka or Nacos server's) is added, up to 300 bytes.
Error answer_error(const http::Response& response, const std::string& what);

class FailoverHttp {
 public:
  FailoverHttp(const boost::asio::any_io_executor& executor, std::vector<net::HostPort> servers,
               const net::TlsFiles& tls, std::chrono::milliseconds timeout);

  /// The first answer below 500, from the first server that gives one; otherwise the last error
  /// (unavailable for a 5xx answer, naming `what`). `request` is sent as is to each server tried.
  Awaitable<Result<http::Response>> send(http::Request request, const std::string& what,
                                         std::shared_ptr<CancelToken> cancel = nullptr);

 private:
  std::shared_ptr<http::HttpClient> http_;
  std::vector<net::HostPort> servers_;
  std::chrono::milliseconds timeout_;
  std::atomic<std::size_t> preferred_{0};
};

}  // namespace svckit
