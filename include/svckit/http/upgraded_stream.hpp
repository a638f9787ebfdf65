// UpgradedStream: a server connection after a protocol upgrade (HTTP 101, WebSocket), as a plain
// byte stream in both directions — over the TCP socket, or over the connection's TLS session when
// the listener speaks TLS. What a tunnel (svckitd's gateway) splices to its upstream connection.
#pragma once

#include <cstddef>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

#include "svckit/http/types.hpp"

namespace svckit::http {

/// Thread-safety: use it only on the connection's strand (the handler's coroutine and what it
/// spawns on the same executor). One read and one write may be in flight at the same time.
/// Lifetime: valid until the handler that took it returns; the server closes the connection then.
class UpgradedStream {
 public:
  virtual ~UpgradedStream() = default;
  /// Reads what arrived (at least one byte) into `into`. `ec` is set at the end of the stream
  /// (the client closed) or on failure; the count is then 0.
  virtual Awaitable<std::size_t> read_some(boost::asio::mutable_buffer into, boost::system::error_code& ec) = 0;
  /// Writes all of `data`; `ec` set on failure.
  virtual Awaitable<void> write(boost::asio::const_buffer data, boost::system::error_code& ec) = 0;
  /// Nothing more will be written: the client reads the end of the stream — a TCP half-close,
  /// after TLS's close_notify when the connection speaks TLS (without waiting for the client's:
  /// a read in flight on the other direction ends at the client's next record).
  virtual Awaitable<void> shutdown_send() = 0;
  /// Ends both directions at once: reads and writes in flight fail.
  virtual void abort() = 0;
};

}  // namespace svckit::http
