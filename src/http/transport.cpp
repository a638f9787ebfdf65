#include "svckit/http/transport.hpp"

namespace svckit::http {

namespace {
Awaitable<Result<void>> feed(const BodySink* sink, std::string_view piece) { co_return (*sink)(piece); }
}  // namespace

// NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
Awaitable<Result<Response>> Transport::send_streaming(net::HostPort endpoint, Request request,
                                                      std::chrono::milliseconds timeout,
                                                      std::shared_ptr<CancelToken> cancel, BodySink sink) {
  Streaming streaming;
  const BodySink* held = &sink;  // lives in this frame for the whole transfer
  streaming.on_body = [held](std::string_view piece) { return feed(held, piece); };
  co_return co_await send_streaming(std::move(endpoint), std::move(request), timeout, std::move(cancel),
                                    std::move(streaming));
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
Awaitable<Result<Response>> Transport::send_streaming(net::HostPort endpoint, Request request,
                                                      std::chrono::milliseconds timeout,
                                                      std::shared_ptr<CancelToken> cancel, Streaming streaming) {
  if (streaming.request_body) {
    std::string body;
    for (;;) {
      auto piece = co_await streaming.request_body();
      if (!piece) co_return piece.error();
      if (piece->empty()) break;
      body.append(*piece);
    }
    request.body() = std::move(body);
    request.prepare_payload();
  }
  auto answer = co_await send(std::move(endpoint), std::move(request), timeout, std::move(cancel));
  if (!answer || answer->result_int() >= 400) co_return answer;
  if (streaming.on_head) {
    Response head(answer->base());
    if (auto taken = co_await streaming.on_head(head); !taken) co_return taken.error();
  }
  if (!streaming.on_body || answer->body().empty()) co_return answer;
  if (auto taken = co_await streaming.on_body(answer->body()); !taken) co_return taken.error();
  answer->body().clear();
  co_return answer;
}

// NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
Awaitable<Result<Response>> Transport::send_in_place(net::HostPort endpoint, Request& request,
                                                     std::chrono::milliseconds timeout,
                                                     std::shared_ptr<CancelToken> cancel, const Streaming* streaming) {
  Request copy = request;
  if (streaming == nullptr) co_return co_await send(std::move(endpoint), std::move(copy), timeout, std::move(cancel));
  Streaming relay = *streaming;
  co_return co_await send_streaming(std::move(endpoint), std::move(copy), timeout, std::move(cancel), std::move(relay));
}

}  // namespace svckit::http
