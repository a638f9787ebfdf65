#include "svckit/testing/upload_sink.hpp"

#include <stdexcept>
#include <utility>

#include <nlohmann/json.hpp>

namespace svckit::testing {

namespace {

http::ServerOptions upload_sink_options() {
  http::ServerOptions o;
  o.max_body_bytes = std::uint64_t{1} << 34;
  return o;
}

http::Awaitable<void> count_upload(http::ServerExchange& exchange) {
  std::uint64_t bytes = 0, sum = 0;
  for (;;) {
    auto piece = co_await exchange.read_body();
    if (!piece) {
      (void)co_await exchange.respond(http::error_response(piece.error()));
      co_return;
    }
    if (piece->empty()) break;
    bytes += piece->size();
    for (const char c : *piece) sum += static_cast<unsigned char>(c);
  }
  const nlohmann::json body{{"bytes", bytes}, {"sum", sum}, {"chunked", exchange.chunked()}};
  (void)co_await exchange.respond(http::json_response(http::Status::ok, body));
}

}  // namespace

UploadSink::UploadSink(boost::asio::io_context& io)
    : server_(io, upload_sink_options(), http::StreamHandler(&count_upload)) {
  if (auto listening = server_.listen(); !listening) throw std::runtime_error(listening.error().describe());
}

}  // namespace svckit::testing
