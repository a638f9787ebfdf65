#include "svckit/grpc/grpc_server_span.hpp"

#include <string>

#include "svckit/grpc/grpc_transport.hpp"

namespace svckit::rpc {

namespace {

std::string_view metadata(const ::grpc::ServerContext& context, std::string_view key) {
  const auto& all = context.client_metadata();
  const auto it = all.find(::grpc::string_ref(key.data(), key.size()));
  return it == all.end() ? std::string_view() : std::string_view(it->second.data(), it->second.size());
}

bool server_error(Code code) {
  switch (code) {
    case Code::unknown:
    case Code::deadline_exceeded:
    case Code::unimplemented:
    case Code::internal:
    case Code::unavailable:
    case Code::data_loss:
      return true;
    default:
      return false;
  }
}

}  // namespace

trace::Span start_grpc_server_span(const trace::Tracer& tracer, const ::grpc::ServerContext& context,
                                   std::string_view method) {
  if (!method.empty() && method.front() == '/') method.remove_prefix(1);
  auto span =
      tracer.start_span(std::string(method), trace::SpanKind::server,
                        trace::parse_trace_context(metadata(context, "traceparent"), metadata(context, "tracestate")));
  if (span.recording()) {
    const auto slash = method.find('/');
    span.set_attribute("rpc.system", "grpc");
    span.set_attribute("rpc.service", std::string(method.substr(0, slash)));
    if (slash != std::string_view::npos) span.set_attribute("rpc.method", std::string(method.substr(slash + 1)));
  }
  return span;
}

::grpc::Status finish_grpc_server_span(trace::Span& span, ::grpc::Status status) {
  if (span.recording()) {
    const auto code = static_cast<Code>(status.error_code());
    span.set_attribute("rpc.grpc.status_code", static_cast<std::int64_t>(code));
    if (server_error(code)) span.set_status(trace::StatusCode::error, std::string(to_string(code)));
  }
  span.end();
  return status;
}

}  // namespace svckit::rpc
