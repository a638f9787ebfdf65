#include "svckit/http/transport.hpp"

namespace svckit::http {

// NOLINTNEXTLINE(performance-unnecessary-value-param): owned by the coroutine
Awaitable<Result<Response>> Transport::send_streaming(HostPort endpoint, Request request,
                                                      std::chrono::milliseconds timeout,
                                                      std::shared_ptr<CancelToken> cancel, BodySink sink) {
  auto answer = co_await send(std::move(endpoint), std::move(request), timeout, std::move(cancel));
  if (!answer || answer->result_int() >= 400 || answer->body().empty()) co_return answer;
  if (auto taken = sink(answer->body()); !taken) co_return taken.error();
  answer->body().clear();
  co_return answer;
}

}  // namespace svckit::http
