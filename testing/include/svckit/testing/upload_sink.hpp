// UploadSink: an upstream for transfer tests that reads any request body piece by piece (a
// StreamHandler, so bodies of any size in bounded memory) and answers {"bytes","sum","chunked"}:
// the body's length, the sum of its bytes, and whether it came chunked.
// Runs on the io_context it is given (an IoThread's).
#pragma once

#include <cstdint>

#include <boost/asio/io_context.hpp>

#include "svckit/http/server.hpp"

namespace svckit::testing {

class UploadSink {
 public:
  /// Listens on 127.0.0.1, port 0, taking bodies up to 16 GiB.
  explicit UploadSink(boost::asio::io_context& io);
  std::uint16_t port() const { return server_.port(); }

 private:
  http::HttpServer server_;
};

}  // namespace svckit::testing
