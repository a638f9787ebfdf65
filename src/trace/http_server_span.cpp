#include "svckit/trace/http_server_span.hpp"

namespace svckit::trace {

Span start_server_span(const Tracer& tracer, http::Request& request) {
  auto span = tracer.start_span(std::string(request.method_string()), SpanKind::server,
                                parse_trace_context(request["traceparent"], request["tracestate"]));
  const auto text = span.context().traceparent_text();
  request.set("traceparent", std::string_view(text.data(), text.size()));
  return span;
}

void finish_server_span(Span& span, const http::Request& request, const std::string& route,
                        const http::Response& response) {
  if (span.recording()) {
    const std::string method(request.method_string());
    const std::string_view target = request.target();
    span.set_name(route.empty() || route == "unmatched" ? method : method + " " + route);
    span.set_attribute("http.request.method", method);
    span.set_attribute("url.path", target.substr(0, target.find('?')));
    if (!route.empty()) span.set_attribute("http.route", route);
    const auto status = static_cast<std::int64_t>(response.result_int());
    span.set_attribute("http.response.status_code", status);
    if (status >= 500) span.set_status(StatusCode::error, "HTTP " + std::to_string(status));
  }
  span.end();
}

}  // namespace svckit::trace
