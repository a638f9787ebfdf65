// The server span of an HTTP request, for services that serve with svckit::http::HttpServer (or
// any Beast request): a child of the request's traceparent, named "<METHOD> <route>" with
// OpenTelemetry's HTTP server attributes.
//
//   HttpServer server(io, options, [&](http::Request& r) -> Awaitable<http::Response> {
//     auto span = trace::start_server_span(tracer, r);  // r's traceparent is now the span's
//     std::string route;
//     auto response = co_await router.dispatch(r, route);  // handlers pass r["traceparent"] on
//     trace::finish_server_span(span, route, response);
//     co_return response;
//   });
#pragma once

#include <string>

#include "svckit/http/types.hpp"
#include "svckit/trace/tracer.hpp"

namespace svckit::trace {

/// Starts the span and sets the request's `traceparent` to the span's own context, so that a
/// handler forwarding `request["traceparent"]` to its calls makes them the span's children.
Span start_server_span(const Tracer& tracer, http::Request& request);

/// Names the span "<METHOD> <route>" (route: the matched pattern, e.g. "/orders/{id}"), records the
/// status (a 5xx is an error) and ends it.
void finish_server_span(Span& span, const http::Request& request, const std::string& route,
                        const http::Response& response);

}  // namespace svckit::trace
