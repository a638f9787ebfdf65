// The server span of a gRPC call, for services that serve with gRPC C++: a child of the
// `traceparent` (and `tracestate`) metadata the caller sent — GrpcClient sends its attempt's —
// named "<package.Service>/<Method>" with OpenTelemetry's RPC semantic conventions (rpc.system
// "grpc", rpc.service, rpc.method, rpc.grpc.status_code).
//
//   grpc::Status GetProduct(grpc::ServerContext* context, const Request* request, Reply* reply) override {
//     auto span = svckit::rpc::start_grpc_server_span(tracer, *context, "svckit.demo.ProductService/GetProduct");
//     ... span.context().traceparent() is the parent of this handler's own calls ...
//     return svckit::rpc::finish_grpc_server_span(span, status);
//   }
//
// As OpenTelemetry's conventions say for servers, UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
// INTERNAL, UNAVAILABLE and DATA_LOSS mark the span an error; the caller's mistakes (NOT_FOUND,
// INVALID_ARGUMENT, ...) do not.
#pragma once

#include <string_view>

#include <grpcpp/server_context.h>
#include <grpcpp/support/status.h>

#include "svckit/trace/tracer.hpp"

namespace svckit::rpc {

/// `method`: "<package.Service>/<Method>" (the leading '/' of the wire path may be given or not).
trace::Span start_grpc_server_span(const trace::Tracer& tracer, const ::grpc::ServerContext& context,
                                   std::string_view method);

/// Records `status` on the span, ends it, and returns `status` (for `return finish(...)`).
::grpc::Status finish_grpc_server_span(trace::Span& span, ::grpc::Status status);

}  // namespace svckit::rpc
